//! Times a reference training step alone (for profiling):
//! `cargo run --release --example step -- [reps] [base|real]` (default 20 steps of the
//! base step; `real` is the real-size step, see `src/perf.rs`).
fn main() -> anyhow::Result<()> {
    use transformer_claims::perf::Reference;
    transformer_claims::cli::tune_thread_pool();
    transformer_claims::alloc::keep_freed_memory();
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let r = match std::env::args().nth(2) {
        None => Reference::Base,
        Some(s) => Reference::parse(&s)
            .ok_or_else(|| anyhow::anyhow!("unknown reference step '{s}' (base or real)"))?,
    };
    let [f, b, o, s] = transformer_claims::perf::reference_step(r.config(), 2, reps)?;
    println!(
        "{} step: forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms, step {:.1} ms",
        r.name(),
        f * 1e3,
        b * 1e3,
        o * 1e3,
        s * 1e3
    );
    Ok(())
}
