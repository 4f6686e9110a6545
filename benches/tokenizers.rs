//! Training throughput of the project's BPE and WordPiece trainers on a generated
//! corpus of at least 1 MB. Plain `std::time`, no benchmark framework:
//! `cargo bench --bench tokenizers` (optionally `-- MERGES` to change the merge count).

use std::time::Instant;

use transformer_claims::rng::seeded;
use transformer_claims::tokenize::{word_counts, Bpe, MorphConfig, MorphCorpus, WordPiece};

fn main() {
    let merges: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(8000);
    let cfg = MorphConfig::standard(4000, 150_000, 1);
    let t0 = Instant::now();
    let c = MorphCorpus::generate(&cfg, &mut seeded(0, 0));
    let text = c.text(&c.train);
    let mb = text.len() as f64 / 1e6;
    println!(
        "corpus: {:.2} MB, {} words, generated in {:.2} s",
        mb,
        c.train.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(mb >= 1.0, "the benchmark corpus must be at least 1 MB");

    let t0 = Instant::now();
    let wc = word_counts(&text);
    let count_s = t0.elapsed().as_secs_f64();
    println!(
        "word counts: {} types in {:.3} s ({:.1} MB/s)",
        wc.len(),
        count_s,
        mb / count_s
    );
    for (name, f) in [
        (
            "BPE",
            (|wc: &[(String, u64)], m| Bpe::train(wc, m, 2).merges.len())
                as fn(&[(String, u64)], usize) -> usize,
        ),
        ("WordPiece", |wc: &[(String, u64)], m| {
            WordPiece::train(wc, m, 2).merges.len()
        }),
    ] {
        let mut best = f64::INFINITY;
        let mut learned = 0;
        for _ in 0..3 {
            let t0 = Instant::now();
            learned = f(&wc, merges);
            best = best.min(t0.elapsed().as_secs_f64());
        }
        // Throughput counts the whole training text (word counting included).
        println!(
            "{name:<10} {learned} merges: {:.3} s (best of 3), {:.2} MB/s of training text",
            best + count_s,
            mb / (best + count_s)
        );
    }
}
