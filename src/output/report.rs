//! The report: `results/summary.csv` (one row per claim) and `results/REPORT.md`
//! (a verdict table, then a section per question with the original question, the seed
//! answer, the measured verdicts, published figures, a corrected answer and the charts).
//! Both are generated from the verdict.json files on disk; nothing is run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::experiment::{read_verdict, VerdictFile};
use crate::output::atomic;
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::registry::QUESTIONS;
use crate::row;

/// Per claim: how many seeds reached each verdict (from robustness.csv), if present.
pub type Robustness = BTreeMap<String, String>;

/// Read `results/robustness.csv` into "5/5 supported"-style text per claim id.
pub fn read_robustness(out: &Path) -> Robustness {
    let mut m = Robustness::new();
    let Ok(t) = Table::read(&out.join("robustness.csv")) else {
        return m;
    };
    let (Ok(id), Ok(seeds), Ok(s), Ok(r), Ok(i)) = (
        t.strings("claim"),
        t.numbers("seeds"),
        t.numbers("supported"),
        t.numbers("refuted"),
        t.numbers("inconclusive"),
    ) else {
        return m;
    };
    for k in 0..id.len() {
        let mut parts = vec![];
        for (n, w) in [
            (s[k], "supported"),
            (r[k], "refuted"),
            (i[k], "inconclusive"),
        ] {
            if n > 0.0 {
                parts.push(format!("{}/{} {w}", n as u64, seeds[k] as u64));
            }
        }
        m.insert(id[k].clone(), parts.join(", "));
    }
    m
}

/// Every verdict file under `out`, in question order (missing ones skipped).
pub fn load_all(out: &Path) -> Vec<VerdictFile> {
    QUESTIONS
        .iter()
        .filter_map(|q| read_verdict(&out.join(q.experiment)).ok())
        .collect()
}

pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = x.abs();
    if a != 0.0 && (a < 1e-3 || a >= 1e5) {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

fn interval(c: &crate::verdict::Claim) -> String {
    if c.ci[0] == c.ci[1] {
        "exact".into()
    } else {
        format!("[{}, {}]", fmt_num(c.ci[0]), fmt_num(c.ci[1]))
    }
}

/// Write summary.csv: one row per claim.
pub fn write_summary(out: &Path, all: &[VerdictFile]) -> Result<()> {
    let mut t = Table::new(&[
        "question",
        "experiment",
        "mode",
        "seed",
        "answer",
        "claim",
        "verdict",
        "expected",
        "literature",
        "estimate",
        "ci_lo",
        "ci_hi",
        "metric",
    ]);
    for v in all {
        for c in &v.claims {
            t.push(row![
                v.question,
                v.experiment,
                v.mode.as_str(),
                v.seed,
                v.answer.as_str(),
                c.id,
                c.verdict.as_str(),
                c.expected.as_str(),
                c.literature.map(|l| l.as_str()).unwrap_or(""),
                c.estimate,
                c.ci[0],
                c.ci[1],
                c.metric
            ]);
        }
    }
    t.write(&out.join("summary.csv"))
}

/// The verdict table used at the top of REPORT.md and in the README.
pub fn verdict_table(all: &[VerdictFile], robust: &Robustness, link_prefix: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| Q | question | seed answer | claim | verdict | estimate | interval | seeds |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for q in QUESTIONS {
        match all.iter().find(|v| v.experiment == q.experiment) {
            None => {
                let _ = writeln!(
                    s,
                    "| {} | {} | not yet measured | | | | | |",
                    q.number, q.title
                );
            }
            Some(v) => {
                for (i, c) in v.claims.iter().enumerate() {
                    let (qq, title, ans) = if i == 0 {
                        (
                            format!("[{}]({link_prefix}#q{})", q.number, q.number),
                            q.title.to_string(),
                            v.answer.as_str().to_string(),
                        )
                    } else {
                        (String::new(), String::new(), String::new())
                    };
                    let mut mark = if c.verdict == c.expected {
                        String::new()
                    } else {
                        " ⚠".to_string()
                    };
                    if let Some(l) = c.literature.filter(|l| *l != c.verdict) {
                        mark.push_str(&format!(" (literature: {l})"));
                    }
                    let _ = writeln!(
                        s,
                        "| {qq} | {title} | {ans} | {} | **{}**{mark} | {} | {} | {} |",
                        c.id,
                        c.verdict,
                        fmt_num(c.estimate),
                        interval(c),
                        robust.get(&c.id).cloned().unwrap_or_default()
                    );
                }
            }
        }
    }
    s
}

/// Write REPORT.md from the verdict files under `out`.
pub fn write_report(out: &Path) -> Result<String> {
    let all = load_all(out);
    write_summary(out, &all)?;
    let robust = read_robustness(out);
    let mut s = String::new();
    let _ = writeln!(s, "# transformer-claims: report\n");
    let _ = writeln!(
        s,
        "Generated by `harness report` from the `verdict.json` files under `{}/`. Each claim's verdict follows from the measured estimate and a threshold declared in the experiment's code before the run. \
         `expected` is the verdict CI holds the experiment to; `literature` is what published results predict; ⚠ marks a verdict that differs from the expected one. \
         The `seeds` column (from `robustness.csv`, written by `harness robustness`) counts the seeds, in quick mode, that reached each verdict.\n",
        out.display()
    );
    let modes: Vec<String> = all
        .iter()
        .map(|v| format!("{} ({}, seed {})", v.experiment, v.mode.as_str(), v.seed))
        .collect();
    let _ = writeln!(
        s,
        "Runs behind this report: {}.\n",
        if modes.is_empty() {
            "none".into()
        } else {
            modes.join(", ")
        }
    );
    let _ = writeln!(s, "## Verdicts\n");
    s.push_str(&verdict_table(&all, &robust, ""));
    let disagree: Vec<String> = all
        .iter()
        .flat_map(|v| {
            v.claims
                .iter()
                .filter(|c| c.literature.is_some_and(|l| l != c.verdict))
                .map(move |c| {
                    format!(
                        "[{}](#q{}) measured {} (literature: {})",
                        c.id,
                        v.question,
                        c.verdict,
                        c.literature.map(|l| l.as_str()).unwrap_or("")
                    )
                })
        })
        .collect();
    if !disagree.is_empty() {
        let _ = writeln!(
            s,
            "\n**Where our measurements differ from what the literature predicts** (findings, explained in each section): {}.\n",
            disagree.join("; ")
        );
    }
    for q in QUESTIONS {
        let _ = writeln!(
            s,
            "\n<a id=\"q{}\"></a>\n## Q{}. {}\n",
            q.number, q.number, q.title
        );
        let _ = writeln!(s, "**Original question:** {}\n", q.original);
        let _ = writeln!(s, "**Seed answer:** {}\n", q.seed_answer.replace('\n', " "));
        let _ = writeln!(s, "**What it claims:** {}\n", q.seed_claims);
        let Some(v) = all.iter().find(|v| v.experiment == q.experiment) else {
            let _ = writeln!(
                s,
                "_Not yet measured: `{}` has no results here._",
                q.experiment
            );
            continue;
        };
        let _ = writeln!(
            s,
            "**Rating of the seed answer:** {} · experiment `{}` · {} mode · seed {} · {} s\n",
            v.answer.as_str(),
            v.experiment,
            v.mode.as_str(),
            v.seed,
            v.seconds
        );
        let _ = writeln!(s, "| claim | statement | metric | estimate | interval | rule | verdict | expected | literature | seeds |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
        for c in &v.claims {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | **{}** | {} | {} | {} |",
                c.id,
                c.statement,
                c.metric,
                fmt_num(c.estimate),
                interval(c),
                c.threshold,
                c.verdict,
                c.expected,
                c.literature.map(|l| l.as_str()).unwrap_or("—"),
                robust.get(&c.id).cloned().unwrap_or_default()
            );
        }
        let notes: Vec<_> = v.claims.iter().filter(|c| !c.note.is_empty()).collect();
        if !notes.is_empty() {
            s.push('\n');
            for c in notes {
                let _ = writeln!(s, "- **{}**: {}", c.id, c.note);
            }
        }
        for c in v.claims.iter().filter(|c| c.verdict != c.expected) {
            let _ = writeln!(
                s,
                "\n> ⚠ {}: measured **{}**, expected {}. This is reported as measured.",
                c.id, c.verdict, c.expected
            );
        }
        for c in v
            .claims
            .iter()
            .filter(|c| c.literature.is_some_and(|l| l != c.verdict))
        {
            let _ = writeln!(
                s,
                "\n> **{} differs from the literature:** published results predict {}, we measured **{}**; the note above says why.",
                c.id,
                c.literature.map(|l| l.as_str()).unwrap_or(""),
                c.verdict
            );
        }
        if !v.literature.is_empty() {
            let _ = writeln!(s, "\n**Published figures beside ours:**\n");
            for l in &v.literature {
                let _ = writeln!(s, "- {l}");
            }
        }
        if let Some(a) = &v.corrected_answer {
            let _ = writeln!(s, "\n**Corrected answer (from our data):** {a}");
        }
        let charts: Vec<ChartSpec> =
            std::fs::read_to_string(out.join(q.experiment).join("charts.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
        if !charts.is_empty() {
            s.push('\n');
            for c in charts {
                let _ = writeln!(s, "![{}]({}/{})", c.title, q.experiment, c.file);
            }
        }
    }
    atomic::write(&out.join("REPORT.md"), s.as_bytes())?;
    Ok(s)
}
