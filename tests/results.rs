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

/// Every Markdown table row has as many cells as its header (escaped `\|` is not a
/// cell boundary).
fn check_tables(name: &str, text: &str) {
    let cells = |line: &str| {
        let l = line.replace("\\|", "");
        l.trim().trim_matches('|').split('|').count()
    };
    let mut header: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !t.starts_with('|') {
            header = None;
            continue;
        }
        match header {
            None => header = Some(cells(t)),
            Some(h) => assert_eq!(
                cells(t),
                h,
                "{name} line {}: {} cells under a {h}-cell header: {t}",
                i + 1,
                cells(t)
            ),
        }
    }
}

/// The committed report and README: tables well formed, numbers in one notation,
/// no internal names.
#[test]
fn report_and_readme_read_well() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["results/REPORT.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        check_tables(f, &text);
        for bad in [
            "0e0",
            "0.0003333",
            "<= 0.000000001",
            "thread(s)",
            "PreLn",
            "PostLn",
            "core's guard",
            concat!("CLAIMS", ".md"),
        ] {
            assert!(!text.contains(bad), "{f} contains {bad:?}");
        }
    }
    let report = std::fs::read_to_string(root.join("results/REPORT.md")).unwrap();
    assert_eq!(
        report.matches("**In short:**").count(),
        21,
        "one in-short answer per question"
    );
    assert!(report.contains("## Scope and limitations"));
    for p in report.split("**In short:** ").skip(1) {
        let para = p.lines().next().unwrap_or("");
        assert!(
            para.split_whitespace().count() <= 80,
            "in-short over 80 words: {para}"
        );
    }
}

/// The committed real-data track: a verdict file with mode "real" for every real-data
/// claim, the translation score, Table 3, and the report sections that show them.
#[test]
fn committed_real_data_results() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let real = root.join("results/real");
    let mut n = 0;
    for c in transformer_claims::real::spec::CLAIMS {
        let p = real.join(c.dir).join("verdict.json");
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap();
        assert_eq!(v["mode"], "real", "{}", p.display());
        assert!(v["claims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == c.id));
        assert!(
            v["seeds"].as_array().unwrap().len() >= 3,
            "{}: fewer than 3 seeds",
            c.id
        );
        n += 1;
    }
    assert!(n >= 8);
    let t: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(real.join("translation/verdict.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(t["mode"], "real");
    assert!(t["chrf"]["point"].as_f64().unwrap() > 0.0);
    assert!(real.join("table3.csv").exists() && real.join("table3.png").exists());
    let report = std::fs::read_to_string(root.join("results/REPORT.md")).unwrap();
    for s in [
        "## Real data: do the toy verdicts transfer?",
        "### Table 3 in miniature",
        "chrF",
    ] {
        assert!(report.contains(s), "REPORT.md lacks {s:?}");
    }
}
