//! The report: `results/summary.csv` (one row per claim) and `results/REPORT.md`
//! (a verdict table, then a section per question with the original question, the seed
//! answer, the measured verdicts, published figures, a corrected answer and the charts).
//! Both are generated from the verdict.json files on disk; nothing is run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::claim::{ClaimResult, Kind};
use crate::experiment::{read_verdict, VerdictFile};
use crate::fmt;
use crate::output::atomic;
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::registry::QUESTIONS;
use crate::row;
use crate::stats::IntervalKind;
use crate::verdict::Verdict;

/// Per claim id: what the held-out seeds gave, from robustness.csv (if present),
/// e.g. "quick 1000–1004: 5/5 as locked; full 1000–1002: 3/3".
pub type Robustness = BTreeMap<String, String>;

/// Read `results/robustness.csv` into one text per claim id.
pub fn read_robustness(out: &Path) -> Robustness {
    let mut m = Robustness::new();
    let Ok(t) = Table::read(&out.join("robustness.csv")) else {
        return m;
    };
    let (Ok(id), Ok(mode), Ok(list), Ok(locked), Ok(seeds), Ok(s), Ok(r), Ok(i)) = (
        t.strings("claim"),
        t.strings("mode"),
        t.strings("seed_list"),
        t.strings("locked"),
        t.numbers("seeds"),
        t.numbers("supported"),
        t.numbers("refuted"),
        t.numbers("inconclusive"),
    ) else {
        return m;
    };
    for k in 0..id.len() {
        let n = seeds[k] as u64;
        let counts = [
            (s[k] as u64, "supported"),
            (r[k] as u64, "refuted"),
            (i[k] as u64, "inconclusive"),
        ];
        let text = match counts.iter().find(|(_, w)| *w == locked[k]) {
            Some((c, _)) if *c == n => format!("{n}/{n} as locked"),
            _ => counts
                .iter()
                .filter(|(c, _)| *c > 0)
                .map(|(c, w)| format!("{c}/{n} {w}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let entry = format!("{} {}: {text}", mode[k], list[k].replace('-', "–"));
        m.entry(id[k].clone())
            .and_modify(|e: &mut String| {
                e.push_str("; ");
                e.push_str(&entry)
            })
            .or_insert(entry);
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

/// A number with significant digits (see [`crate::fmt::num`]).
pub fn fmt_num(x: f64) -> String {
    fmt::num(x)
}

/// A claim's interval with its kind: "[0.1, 0.3] (95% CI)", "[1, 2] (range over
/// seeds)", "exact".
pub fn interval(c: &ClaimResult) -> String {
    match c.interval_kind {
        IntervalKind::Exact => "exact".into(),
        IntervalKind::Ci95 => format!("{} (95% CI)", fmt::interval(c.interval[0], c.interval[1])),
        IntervalKind::Range => format!("{} (range)", fmt::interval(c.interval[0], c.interval[1])),
    }
}

/// Text safe inside a Markdown table cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn opt(v: Option<Verdict>) -> &'static str {
    v.map(|v| v.as_str()).unwrap_or("—")
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
        "kind",
        "verdict",
        "locked",
        "literature",
        "estimate",
        "lo",
        "hi",
        "interval_kind",
        "metric",
        "rule",
        "revised",
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
                c.kind.as_str(),
                c.verdict.as_str(),
                c.locked.map(|l| l.as_str()).unwrap_or(""),
                c.literature.map(|l| l.as_str()).unwrap_or(""),
                c.estimate,
                c.interval[0],
                c.interval[1],
                c.interval_kind.as_str(),
                c.metric,
                c.rule,
                c.revised.as_ref().map(|r| r.date.as_str()).unwrap_or("")
            ]);
        }
    }
    t.write(&out.join("summary.csv"))
}

/// The verdict table used at the top of REPORT.md and in the README: one row per
/// claim, readable without the report.
pub fn verdict_table(all: &[VerdictFile], robust: &Robustness, link_prefix: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| Q | claim | what it says | kind | verdict | locked | literature | estimate | interval | held-out seeds |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for q in QUESTIONS {
        let Some(v) = all.iter().find(|v| v.experiment == q.experiment) else {
            let _ = writeln!(
                s,
                "| {} | | {} (not yet measured) | | | | | | | |",
                q.number,
                cell(q.title)
            );
            continue;
        };
        for (i, c) in v.claims.iter().enumerate() {
            let qq = if i == 0 {
                format!("[{}]({link_prefix}#q{})", q.number, q.number)
            } else {
                String::new()
            };
            let mark = if c.breaks_lock() { " ⚠" } else { "" };
            let _ = writeln!(
                s,
                "| {qq} | {} | {} | {} | **{}**{mark} | {} | {} | {} | {} | {} |",
                c.id,
                cell(&short(&c.statement, 90)),
                c.kind.mark(),
                c.verdict,
                opt(c.locked),
                opt(c.literature),
                fmt_num(c.estimate),
                interval(c),
                cell(&robust.get(&c.id).cloned().unwrap_or_default())
            );
        }
    }
    s
}

/// The first sentence of `s`, cut at `n` characters.
fn short(s: &str, n: usize) -> String {
    let first = s.split(". ").next().unwrap_or(s).trim_end_matches('.');
    if first.chars().count() <= n {
        first.to_string()
    } else {
        first.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// The claims of one question, grouped by kind of evidence.
fn claims_tables(s: &mut String, v: &VerdictFile, robust: &Robustness) {
    for (kind, heading) in [
        (Kind::Measured, "Measured effects"),
        (Kind::ClosedForm, "Closed forms and exact counts"),
        (
            Kind::Check,
            "Checks of this project's own code (not evidence about Transformers)",
        ),
        (Kind::Timing, "Wall-clock timings (data, never locked)"),
    ] {
        let cs: Vec<&ClaimResult> = v.claims.iter().filter(|c| c.kind == kind).collect();
        if cs.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n*{heading}*\n");
        let _ = writeln!(
            s,
            "| claim | statement | estimate | interval | verdict | locked | literature | held-out seeds |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for c in cs {
            let mark = if c.breaks_lock() { " ⚠" } else { "" };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | **{}**{mark} | {} | {} | {} |",
                c.id,
                cell(&c.statement),
                fmt_num(c.estimate),
                interval(c),
                c.verdict,
                opt(c.locked),
                opt(c.literature),
                cell(&robust.get(&c.id).cloned().unwrap_or_default())
            );
        }
    }
    let _ = writeln!(
        s,
        "\n<details><summary>Rules, metrics and notes</summary>\n"
    );
    for c in &v.claims {
        let _ = writeln!(
            s,
            "- **{}** ({}). Metric: {}. Rule: {}",
            c.id,
            c.kind.mark(),
            c.metric,
            c.rule
        );
        if let Some(r) = &c.revised {
            let _ = writeln!(
                s,
                "  - *Rule revised {}.* {} The original rule ({}) gives **{}** on this run.",
                r.date, r.why, r.original_rule, r.original_verdict
            );
        }
        if !c.literature_source.is_empty() {
            let _ = writeln!(
                s,
                "  - Literature ({}): {}",
                opt(c.literature),
                c.literature_source
            );
        }
        if !c.note.is_empty() {
            let _ = writeln!(s, "  - Note: {}", c.note);
        }
    }
    let _ = writeln!(s, "\n</details>");
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
        "Generated by `harness report` from the `verdict.json` files under `{}/`. Each claim is declared in `src/spec/` before any run, with a rule that decides its verdict from the measured estimate and writes the rule text shown here. \
         Three verdicts are kept apart: `verdict` is what this run measured; `locked` is what CI holds the committed code to (timing claims are never locked); `literature` is what published results predict. ⚠ marks a measured verdict that differs from its lock. \
         Claims are of four kinds: *measured* effects (intervals over seeds or samples), *closed forms* (exact counts and identities), *checks* of this project's own code, and *timings* (wall clock, reported only). \
         The `held-out seeds` column (from `robustness.csv`, written by `harness robustness`) counts, per mode, the seeds ≥ 1000 — seeds no rule was designed on — that reached the locked verdict.\n",
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
        claims_tables(&mut s, v, &robust);
        for c in v.claims.iter().filter(|c| c.breaks_lock()) {
            let _ = writeln!(
                s,
                "\n> ⚠ {}: measured **{}**, locked {}. This is reported as measured.",
                c.id,
                c.verdict,
                opt(c.locked)
            );
        }
        for c in v
            .claims
            .iter()
            .filter(|c| c.literature.is_some_and(|l| l != c.verdict))
        {
            let _ = writeln!(
                s,
                "\n> **{} differs from the literature:** published results predict {}, we measured **{}**; the note says why.",
                c.id,
                opt(c.literature),
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
