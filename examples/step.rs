//! Times the reference training step alone (for profiling): `cargo run --release --example step -- [reps]`.
fn main() -> anyhow::Result<()> {
    transformer_claims::alloc::keep_freed_memory();
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20);
    let [f, b, o, s] = transformer_claims::perf::reference_step(Default::default(), 2, reps)?;
    println!(
        "forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms, step {:.1} ms",
        f * 1e3,
        b * 1e3,
        o * 1e3,
        s * 1e3
    );
    Ok(())
}
