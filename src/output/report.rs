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
    verdict_table_with(all, robust, link_prefix, &[])
}

/// As [`verdict_table`], with a `real data` column from the real-data track's verdicts.
pub fn verdict_table_with(
    all: &[VerdictFile],
    robust: &Robustness,
    link_prefix: &str,
    real: &[crate::real::RealVerdicts],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| Q | claim | what it says | kind | verdict | locked | literature | real data | estimate | interval | held-out seeds |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for q in QUESTIONS {
        let Some(v) = all.iter().find(|v| v.experiment == q.experiment) else {
            let _ = writeln!(
                s,
                "| {} | | {} (not yet measured) | | | | | | | | |",
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
            let on_real = real
                .iter()
                .flat_map(|v| v.claims.iter())
                .find(|r| r.id == c.id)
                .map_or("—", |r| r.verdict.as_str());
            let _ = writeln!(
                s,
                "| {qq} | {} | {} | {} | **{}**{mark} | {} | {} | {on_real} | {} | {} | {} |",
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

/// The claims of one question, grouped by kind of evidence: a compact table each.
fn claims_tables(s: &mut String, v: &VerdictFile, robust: &Robustness) {
    for (kind, heading) in [
        (Kind::Measured, "Measured effects"),
        (Kind::ClosedForm, "Closed forms and exact counts"),
        (
            Kind::Check,
            "Checks of this project's own code (not evidence about Transformers)",
        ),
        (
            Kind::Timing,
            "Wall-clock timings (data on this machine, never locked)",
        ),
    ] {
        let cs: Vec<&ClaimResult> = v.claims.iter().filter(|c| c.kind == kind).collect();
        if cs.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n*{heading}*\n");
        let _ = writeln!(
            s,
            "| claim | in a few words | estimate | verdict | locked | literature | held-out seeds |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for c in cs {
            let mark = if c.breaks_lock() { " ⚠" } else { "" };
            let _ = writeln!(
                s,
                "| {} | {} | {} {} | **{}**{mark} | {} | {} | {} |",
                c.id,
                cell(&short(&c.statement, 110)),
                fmt_num(c.estimate),
                interval(c),
                c.verdict,
                opt(c.locked),
                opt(c.literature),
                cell(&robust.get(&c.id).cloned().unwrap_or_default())
            );
        }
    }
}

/// Rules, metrics and notes of one question's claims (for a details block).
fn claim_details(s: &mut String, v: &VerdictFile) {
    for c in &v.claims {
        let _ = writeln!(s, "- **{}** ({}): {}", c.id, c.kind.mark(), c.statement);
        let _ = writeln!(s, "  - Measured: {}.", c.metric);
        let _ = writeln!(s, "  - Rule: {}", c.rule);
        if let Some(r) = &c.revised {
            let _ = writeln!(
                s,
                "  - *Rule revised on {}.* {} Under the original rule ({}) this run gives **{}**.",
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
}

fn charts_of(out: &Path, experiment: &str) -> Vec<ChartSpec> {
    std::fs::read_to_string(out.join(experiment).join("charts.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Write REPORT.md from the verdict files under `out`.
pub fn write_report(out: &Path) -> Result<String> {
    let all = load_all(out);
    let real = super::real_report::load(out);
    write_summary(out, &all)?;
    let robust = read_robustness(out);
    let mut s = String::new();
    let _ = writeln!(s, "# transformer-claims: report\n");
    let _ = writeln!(
        s,
        "Each of the 21 questions below opens with the question, a short answer a candidate could give, and the chart that decides it; the claims table follows, and the details (seed answer, rules, notes, more charts) fold out.\n"
    );
    let _ = writeln!(
        s,
        "**How to read a verdict.** Each claim is declared in `src/spec/` before any run, with a rule that decides supported / refuted / inconclusive from the measured estimate and writes the rule text shown here. \
         Three verdicts are kept apart: **verdict** is what this run measured; **locked** is what CI holds the committed code to (a regression lock, decided on a full-mode run); **literature** is what published results predict. ⚠ marks a measured verdict that differs from its lock. \
         Claims come in four kinds, kept in separate tables: *measured* effects (intervals over seeds or samples), *closed forms* (exact counts and identities), *checks* of this project's own code, and *timings* (wall clock on this machine, reported but never locked). \
         An interval is a 95% CI, a range (min..max over seeds or repeats), or exact. \
         **Held-out seeds** (from `robustness.csv`, written by `harness robustness`) counts, per mode, the runs at seeds ≥ 1000 — seeds no rule was designed on — that reached the locked verdict.\n"
    );
    let modes: Vec<String> = {
        let mut m: Vec<String> = all
            .iter()
            .map(|v| format!("{} mode, seed {}", v.mode.as_str(), v.seed))
            .collect();
        m.sort();
        m.dedup();
        m
    };
    let _ = writeln!(
        s,
        "Runs behind this report: {} ({} of 21 questions; generated by `harness report` from `{}/`).\n",
        if modes.is_empty() {
            "none".into()
        } else {
            modes.join("; ")
        },
        all.len(),
        out.display()
    );
    let _ = writeln!(s, "## Verdicts at a glance\n");
    s.push_str(&verdict_table_with(&all, &robust, "", &real));
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
                        opt(c.literature)
                    )
                })
        })
        .collect();
    if !disagree.is_empty() {
        let _ = writeln!(
            s,
            "\n**Where our measurements differ from what the literature predicts** (each explained in its section): {}.\n",
            disagree.join("; ")
        );
    }
    for q in QUESTIONS {
        let _ = writeln!(
            s,
            "\n<a id=\"q{}\"></a>\n## Q{}. {}\n",
            q.number, q.number, q.title
        );
        let _ = writeln!(s, "> {} ({})\n", q.title, q.original);
        let Some(v) = all.iter().find(|v| v.experiment == q.experiment) else {
            let _ = writeln!(
                s,
                "_Not yet measured: `{}` has no results here._",
                q.experiment
            );
            continue;
        };
        if let Some(t) = &v.in_short {
            let _ = writeln!(s, "**In short:** {t}\n");
        }
        let charts = charts_of(out, q.experiment);
        let key = v
            .key_chart
            .as_ref()
            .and_then(|k| charts.iter().find(|c| &c.file == k))
            .or(charts.first());
        if let Some(c) = key {
            let _ = writeln!(s, "![{}]({}/{})", c.title, q.experiment, c.file);
        }
        claims_tables(&mut s, v, &robust);
        super::real_report::question_rows(&mut s, v, &real);
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
                "\n> **{} differs from the literature:** published results predict {}, we measured **{}**; the note below says why.",
                c.id,
                opt(c.literature),
                c.verdict
            );
        }
        if let Some(a) = &v.corrected_answer {
            let _ = writeln!(s, "\n**The answer, from our data:** {a}");
        }
        for (title, body) in &v.sections {
            let _ = writeln!(s, "\n### {title}\n\n{body}");
        }
        let _ = writeln!(
            s,
            "\n<details><summary>Seed answer, rules and notes, published figures, all charts</summary>\n"
        );
        let _ = writeln!(
            s,
            "**Seed answer** (rated *{}*): {}\n",
            v.answer.as_str(),
            q.seed_answer.replace('\n', " ")
        );
        let _ = writeln!(s, "**What it claims:** {}\n", q.seed_claims);
        claim_details(&mut s, v);
        if !v.literature.is_empty() {
            let _ = writeln!(s, "\n**Published figures beside ours:**\n");
            for l in &v.literature {
                let _ = writeln!(s, "- {l}");
            }
        }
        let _ = writeln!(
            s,
            "\nRun: experiment `{}`, {} mode, seed {}, {} s.\n",
            v.experiment,
            v.mode.as_str(),
            v.seed,
            fmt::sig(v.seconds, 3)
        );
        for c in charts.iter().filter(|c| Some(*c) != key) {
            let _ = writeln!(s, "![{}]({}/{})\n", c.title, q.experiment, c.file);
        }
        let _ = writeln!(s, "</details>");
    }
    super::real_report::section(&mut s, out, &all, &real);
    changes(&mut s, &all);
    scope(&mut s, &all);
    if out.join("perf/charts.json").exists() {
        let _ = writeln!(s, "\n## Speed of the model core\n");
        let _ = writeln!(
            s,
            "Measured by `harness bench` (`results/perf/`): wall-clock data on the machine named in the README, never a verdict.\n"
        );
        for c in charts_of(out, "perf") {
            let _ = writeln!(s, "![{}](perf/{})\n", c.title, c.file);
        }
    }
    atomic::write(&out.join("REPORT.md"), s.as_bytes())?;
    Ok(s)
}

/// Claims redesigned after review: verdict before, verdict now, why.
fn changes(s: &mut String, all: &[VerdictFile]) {
    let _ = writeln!(s, "\n## What changed after review\n");
    let _ = writeln!(
        s,
        "Claims whose design changed after a review of every claim against its seed answer and the literature. Each new rule was frozen before the full run that decided it; where a rule changed after data, the claim is marked revised and both verdicts are shown in its section.\n"
    );
    let _ = writeln!(s, "| claim | before | now | why |");
    let _ = writeln!(s, "|---|---|---|---|");
    for c in crate::spec::CHANGES {
        let now = all
            .iter()
            .flat_map(|v| v.claims.iter().map(move |c| (v.question, c)))
            .find(|(_, r)| r.id == c.id);
        let (link, verdict) = match now {
            Some((q, r)) => (format!("[{}](#q{q})", c.id), r.verdict.as_str()),
            None => (c.id.to_string(), "—"),
        };
        let _ = writeln!(s, "| {link} | {} | {verdict} | {} |", c.before, cell(c.why));
    }
}

/// The `## Scope and limitations` section.
fn scope(s: &mut String, all: &[VerdictFile]) {
    let _ = writeln!(s, "\n## Scope and limitations\n");
    let _ = writeln!(
        s,
        "- **Models, tasks, hardware.** Every trained model is tiny (d_model 16–128, 1–32 blocks, vocabularies of 6–64 tokens), trained for hundreds to a few thousand steps on seeded synthetic tasks (copying, offsets, counting, successor in a cycle, teacher networks), on a 2-core CPU with candle in f32; counts and sampled statistics also cover the base model's sizes (d_model 512, d_k up to 1024). They show mechanisms, not the behaviour of large models on real text; where a claim's mechanism cannot arise in the toy, its section says so.\n\
         - **Seeds.** Locks were set from full-mode runs at seed 0; seeds below 1000 were looked at while designing. The held-out column reports seeds from 1000 up, which no rule was fitted to.\n\
         - **Timings** depend on this implementation and machine; no timing decides a locked verdict, and cost claims are decided on exact counts (parameters, FLOPs, bytes, dependency depth).\n\
         - **Seed answers** are a common Chinese set of 21 Transformer interview questions and short answers; the question and answer appear under each section as given, rated correct, partly correct, incomplete or off-topic."
    );
    let revised: Vec<String> = all
        .iter()
        .flat_map(|v| {
            v.claims.iter().filter_map(|c| {
                c.revised.as_ref().map(|r| {
                    format!(
                        "  - [{}](#q{}) on {}: {} (original rule gives **{}**, current rule **{}**)",
                        c.id, v.question, r.date, r.why, r.original_verdict, c.verdict
                    )
                })
            })
        })
        .collect();
    if revised.is_empty() {
        let _ = writeln!(s, "- **Rules revised after data:** none.");
    } else {
        let _ = writeln!(
            s,
            "- **Rules revised after data** (both verdicts shown in each section):"
        );
        for r in revised {
            let _ = writeln!(s, "{r}");
        }
    }
    let checks: Vec<String> = all
        .iter()
        .flat_map(|v| {
            v.claims
                .iter()
                .filter(|c| c.kind == Kind::Check)
                .map(move |c| format!("[{}](#q{})", c.id, v.question))
        })
        .collect();
    let _ = writeln!(
        s,
        "- **Implementation checks** (evidence that this code does what the answer says, not about Transformers in general): {}.",
        if checks.is_empty() {
            "none".to_string()
        } else {
            checks.join(", ")
        }
    );
}
