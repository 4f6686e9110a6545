//! Command-line behaviour: help, usage errors (exit 2, one line), runtime errors
//! (exit 1, one line), and the harness subcommands on good and bad input.

mod common;

use common::{run, stderr};

fn one_line(s: &str) -> bool {
    s.trim_end().lines().count() == 1
}

#[test]
fn help_exits_zero() {
    let o = run("q04_softmax_scaling", &["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("--quick") && text.contains("--seed") && text.contains("--out"));
    assert!(run("harness", &["--help"]).status.success());
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let o = run("q04_softmax_scaling", &["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(one_line(&stderr(&o)), "{}", stderr(&o));
}

#[test]
fn bad_number_is_a_usage_error() {
    let o = run("q04_softmax_scaling", &["--seed", "abc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        one_line(&stderr(&o)) && stderr(&o).contains("abc"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unwritable_out_is_a_runtime_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a_file");
    std::fs::write(&file, "x").unwrap();
    let o = run(
        "q04_softmax_scaling",
        &["--quick", "--out", file.join("sub").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        one_line(&e) && e.starts_with("error:") && !e.contains("panicked"),
        "{e}"
    );
}

#[test]
fn unknown_experiment_is_an_error() {
    let o = run("harness", &["run", "q99"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run("harness", &["check", "q99_nothing"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        one_line(&stderr(&o)) && stderr(&o).contains("unknown experiment"),
        "{}",
        stderr(&o)
    );
    let o = run("harness", &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_fails_on_missing_results() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run("harness", &["check", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("q04_softmax_scaling"), "{}", stderr(&o));
}

/// Run Q4 (the fastest) into a temp folder; then plot, check, report and a broken CSV.
#[test]
fn harness_run_plot_check_report_and_malformed_csv() {
    let _g = common::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let o = run("harness", &["run", "q4", "--quick", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Q4.1"));
    // `run` rewrote the report for what it ran.
    assert!(tmp.path().join("REPORT.md").exists());
    // Named check: only Q4, with a count.
    let o = run("harness", &["check", "4", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 experiment,"));
    // --json for other CI systems.
    let o = run("harness", &["run", "Q4", "--quick", "--json", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["experiments"][0]["experiment"], "q04_softmax_scaling");
    let dir = tmp.path().join("q04_softmax_scaling");
    std::fs::remove_file(dir.join("variance.png")).unwrap();
    // Only Q4 ran: check over everything must fail naming what is missing...
    let o = run("harness", &["check", "--out", out]);
    assert_eq!(o.status.code(), Some(1));
    // ...but the report still writes, marking the missing ones.
    let readme = tmp.path().join("README.md");
    std::fs::write(
        &readme,
        "x\n<!-- verdicts:start -->\nold\n<!-- verdicts:end -->\ny\n",
    )
    .unwrap();
    let o = run(
        "harness",
        &["report", "--out", out, "--readme", readme.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rep = std::fs::read_to_string(tmp.path().join("REPORT.md")).unwrap();
    assert!(
        rep.contains("Q4.1") && rep.contains("not yet measured"),
        "{rep}"
    );
    let rd = std::fs::read_to_string(&readme).unwrap();
    assert!(rd.contains("| Q4.1 |") || rd.contains("Q4.1"), "{rd}");
    assert!(!rd.contains("old"));
    // Without --readme the README is left alone.
    std::fs::write(
        &readme,
        "untouched\n<!-- verdicts:start -->\n<!-- verdicts:end -->\n",
    )
    .unwrap();
    let o = run("harness", &["report", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&readme)
        .unwrap()
        .starts_with("untouched"));
    assert!(tmp.path().join("summary.csv").exists());
    // plot redraws from the CSV on disk.
    let o = run("harness", &["plot", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("variance.png").exists());
    // A malformed CSV is one clear error line naming the file, not a panic.
    std::fs::write(
        dir.join("dot_product_moments.csv"),
        "d_k,var\n4,not-a-number\n",
    )
    .unwrap();
    let o = run("harness", &["plot", "--out", out]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error:")).collect();
    assert!(
        errors.len() == 1
            && errors[0].contains("dot_product_moments.csv")
            && !e.contains("panicked"),
        "{e}"
    );
    std::fs::write(dir.join("dot_product_moments.csv"), "").unwrap();
    assert_eq!(
        run("harness", &["plot", "--out", out]).status.code(),
        Some(1)
    );
    // Nothing to plot at all is an error too.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        run(
            "harness",
            &["plot", "--out", empty.path().to_str().unwrap()]
        )
        .status
        .code(),
        Some(1)
    );
}

#[test]
fn every_binary_has_a_version() {
    for name in ["harness", "q04_softmax_scaling"] {
        let o = run(name, &["--version"]);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}

/// A quick run without --out writes to the scratch folder, never to results/.
#[test]
fn quick_runs_default_to_a_scratch_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(common::bin("q04_softmax_scaling"))
        .arg("--quick")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(tmp
        .path()
        .join("target/quick-results/q04_softmax_scaling/verdict.json")
        .exists());
    assert!(!tmp.path().join("results").exists());
}

/// Cargo.toml's [[bin]] entries are exactly the harness and the registry's experiments.
#[test]
fn cargo_bins_match_the_registry() {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let mut bins = vec![];
    let mut in_bin = false;
    for line in toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
        } else if in_bin {
            if let Some(v) = l.strip_prefix("name = ") {
                bins.push(v.trim_matches('"').to_string());
            }
        }
    }
    let mut want: Vec<String> = transformer_claims::registry::implemented()
        .map(|q| q.experiment.to_string())
        .collect();
    want.insert(0, "harness".into());
    assert_eq!(bins, want);
}

/// `harness real`: an unknown claim is a usage error naming the claims; missing data is
/// a runtime error that says how to get it; a generated text runs one claim end to end
/// on a short budget.
#[test]
fn harness_real_errors_and_a_short_run() {
    let o = run("harness", &["real", "Q99.9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        one_line(&stderr(&o)) && stderr(&o).contains("Q12.3"),
        "{}",
        stderr(&o)
    );

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing");
    let o = run(
        "harness",
        &["real", "Q2.2", "--data", missing.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        one_line(&stderr(&o)) && stderr(&o).contains("harness data fetch"),
        "{}",
        stderr(&o)
    );

    let text: String = (0..3000)
        .map(|i| format!("line {i} of a play, said the king {}\n", i % 7))
        .collect();
    let f = tmp.path().join("play.txt");
    std::fs::write(&f, text).unwrap();
    let out = tmp.path().join("out");
    let o = run(
        "harness",
        &[
            "real",
            "Q2.2",
            "--text",
            f.to_str().unwrap(),
            "--steps",
            "2",
            "--seeds",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = std::fs::read_to_string(out.join("real/q02_qk_projections/verdict.json")).unwrap();
    assert!(v.contains("\"mode\": \"real\""), "{v}");
}
