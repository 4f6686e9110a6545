//! The committed results: every implemented experiment has full-mode results under
//! `results/`, and each locked claim there still has its locked verdict (`harness check`).

mod common;

#[test]
fn committed_results_pass_check() {
    let results = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let o = common::run("harness", &["check", "--out", results.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "harness check on the committed results failed:\n{}",
        common::stderr(&o)
    );
    for q in transformer_claims::registry::implemented() {
        let v = transformer_claims::experiment::read_verdict(&results.join(q.experiment)).unwrap();
        assert_eq!(
            v.mode.as_str(),
            "full",
            "{}: committed results are not from a full-mode run",
            q.experiment
        );
    }
}
