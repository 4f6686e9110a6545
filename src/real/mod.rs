//! The real-data track (`harness real`): training claims re-decided on real text with
//! the same claim ids as the toy experiments, and a small English→Spanish translation
//! model scored by chrF.
//!
//! - [`spec`]: the real-data claims — quantity and rule, fixed before the run.
//! - [`arms`]: the plan (sizes, budgets, seeds) and the model variants compared.
//! - [`corpus`]: characters, the held-out split, causal windows and masked lines.
//! - [`lm`]: the language model (tied, scaled embeddings; causal or padding masks).
//! - [`run`]: one arm on one seed, cached on disk; [`translate`]: the translation task.
//!
//! Results go to `results/real/<question>/verdict.json` with `"mode": "real"`.

pub mod arms;
pub mod corpus;
pub mod lm;
pub mod notes;
pub mod run;
pub mod spec;
pub mod translate;

use std::path::Path;

use anyhow::{bail, Result};

use crate::claim::{decide, ClaimResult, ClaimSpec, Evidence, Kind, Lock, Prior};
use crate::kit::Grouped;
use crate::output::chart::ChartSpec;
use crate::output::table::Table;
use crate::registry::QUESTIONS;
use crate::stats::{self, Estimate};

use arms::{lines_arm, Arm, Plan};
use run::{run_cached, Data, RunRecord};
use spec::RealClaim;

/// The arms a claim needs.
pub fn arms_of(id: &str, plan: &Plan) -> Vec<String> {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match id {
        "Q1.2" => v(&["h1", "h2", "base", "h8", "h16"]),
        "Q2.2" => v(&["base", "shared_qk"]),
        "Q3.L2" => v(&["base", "unscaled"]),
        "Q8.3" => v(&["base", "no_embed_scale"]),
        "Q10.L1" => v(&[
            "pos_learned",
            "pos_sinusoidal",
            "pos_rotary",
            "pos_relative_bias",
        ]),
        "Q11.L2" => v(&["base", "no_residual"]),
        "Q12.3" => ["layernorm", "batchnorm", "masked_batchnorm"]
            .iter()
            .flat_map(|n| plan.norm_lrs.iter().map(move |&lr| lines_arm(n, lr)))
            .collect(),
        "Q14.L3" => v(&["base", "gelu"]),
        "Q20.L1" => v(&[
            "deep_post_warmup",
            "deep_post_no_warmup",
            "deep_pre_warmup",
            "deep_pre_no_warmup",
        ]),
        // Table 3 row (D): dropout 0 (the base here) against 0.1.
        "T3.D" => v(&["base", "dropout_0.1"]),
        _ => vec![],
    }
}

/// Per-arm samples of one record field, in seed order.
fn grouped(runs: &[RunRecord], f: impl Fn(&RunRecord) -> f64) -> Grouped {
    let mut g = Grouped::new();
    for r in runs {
        g.push(&r.arm, f(r));
    }
    g
}

/// The rate (of the plan's grid) with the lowest mean final loss for a norm.
pub fn best_rate(runs: &[RunRecord], norm: &str, plan: &Plan) -> f64 {
    let g = grouped(runs, |r| r.final_loss);
    let mut best = (f64::INFINITY, plan.norm_lrs[0]);
    for &lr in &plan.norm_lrs {
        let m = stats::mean(g.get(lines_arm(norm, lr)));
        if m < best.0 {
            best = (m, lr);
        }
    }
    best.1
}

/// The estimates a claim is decided on, from its runs.
pub fn evidence(c: &RealClaim, runs: &[RunRecord], plan: &Plan) -> Evidence {
    let fin = grouped(runs, |r| r.final_loss);
    let area = grouped(runs, |r| r.loss_area);
    let ev = Evidence::new();
    match c.id {
        "Q1.2" => ev.with(c.metric, area.paired("h1", "h8")),
        "Q2.2" => ev.with(c.metric, fin.paired("shared_qk", "base")),
        "Q3.L2" => ev.with(c.metric, fin.paired("unscaled", "base")),
        "Q8.3" => ev.with(c.metric, area.paired("no_embed_scale", "base")),
        "Q10.L1" => {
            let long = grouped(runs, |r| r.long_loss.unwrap_or(f64::NAN));
            ev.with_all(
                c.metric,
                ["pos_rotary", "pos_relative_bias"]
                    .iter()
                    .map(|rel| long.paired("pos_sinusoidal", rel)),
            )
        }
        "Q11.L2" => ev.with(c.metric, fin.paired("no_residual", "base")),
        "Q12.3" => {
            let ln = lines_arm("layernorm", best_rate(runs, "layernorm", plan));
            let bn = lines_arm("batchnorm", best_rate(runs, "batchnorm", plan));
            ev.with(c.metric, fin.paired(bn, ln))
        }
        "Q14.L3" => {
            let (relu, gelu) = (area.get("base"), area.get("gelu"));
            let rel: Vec<f64> = relu.iter().zip(gelu).map(|(r, g)| (r - g) / r).collect();
            ev.with(c.metric, stats::mean_ci(&rel, 0.95))
        }
        "Q20.L1" => {
            let eff = |warm: &str, cold: &str| -> Vec<f64> {
                fin.get(cold)
                    .iter()
                    .zip(fin.get(warm))
                    .map(|(c, w)| c - w)
                    .collect()
            };
            let post = eff("deep_post_warmup", "deep_post_no_warmup");
            let pre = eff("deep_pre_warmup", "deep_pre_no_warmup");
            ev.with(c.metric, stats::paired_diff(&post, &pre, 0.95))
        }
        _ => ev,
    }
}

/// The real claim as a claim spec: its own statement, quantity and rule, the toy
/// claim's literature prior, no lock.
pub fn claim_spec(c: &RealClaim) -> ClaimSpec {
    let toy = QUESTIONS
        .iter()
        .flat_map(|q| q.claims.iter())
        .find(|s| s.id == c.id);
    ClaimSpec {
        id: c.id.into(),
        statement: c.statement.into(),
        kind: Kind::Measured,
        metric: c.metric.into(),
        rule: c.rule.clone(),
        literature: toy.map(|s| s.literature.clone()).unwrap_or(Prior {
            verdict: None,
            source: "".into(),
        }),
        lock: Lock::NONE,
        revised: None,
    }
}

/// One question's real-data verdict file.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RealVerdicts {
    pub experiment: String,
    pub mode: String,
    pub task: String,
    pub model: String,
    pub seeds: Vec<u64>,
    pub steps: usize,
    pub claims: Vec<ClaimResult>,
}

/// Options of a track run.
pub struct Options<'a> {
    pub plan: Plan,
    /// Claim ids to run (empty: all, and the translation task).
    pub only: Vec<String>,
    pub out: &'a Path,
}

fn model_text(plan: &Plan, c: &RealClaim) -> String {
    let deep = c.id == "Q20.L1";
    let layers = if deep { plan.deep_layers } else { plan.layers };
    format!(
        "d_model {}, {} heads, {} layers, d_ff {}, window {}, batch {}, {} steps",
        plan.d_model,
        plan.heads,
        layers,
        plan.d_ff,
        if c.track == spec::Track::MaskedLines {
            plan.lines_max
        } else {
            plan.seq
        },
        if c.track == spec::Track::MaskedLines {
            plan.lines_batch
        } else {
            plan.batch
        },
        plan.steps
    )
}

/// Run the claims in `opt.only` (all when empty) on `text`, write their verdicts.
pub fn run_claims(text: &str, opt: &Options, say: &dyn Fn(&str)) -> Result<Vec<ClaimResult>> {
    let plan = &opt.plan;
    let claims: Vec<&RealClaim> = spec::CLAIMS
        .iter()
        .filter(|c| opt.only.is_empty() || opt.only.iter().any(|o| o == c.id))
        .collect();
    if claims.is_empty() && !opt.only.iter().any(|o| o == "T3.D") {
        bail!(
            "no real-data claim among {:?}; the claims are {}",
            opt.only,
            spec::CLAIMS
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let data = Data::new(text, plan);
    say(&format!(
        "text: {} characters ({} held out), vocabulary {}",
        data.corpus.train.len() + data.corpus.held.len(),
        data.corpus.held.len(),
        data.corpus.vocab()
    ));
    let all: Vec<Arm> = arms::all(plan, data.corpus.vocab());
    let runs_dir = opt.out.join("runs");
    std::fs::create_dir_all(&runs_dir)?;
    let mut ids: Vec<&str> = claims.iter().map(|c| c.id).collect();
    if opt.only.is_empty() || opt.only.iter().any(|o| o == "T3.D") {
        ids.push("T3.D");
    }
    // Every (arm, seed) once, in claim order.
    let mut needed: Vec<String> = vec![];
    for id in &ids {
        for a in arms_of(id, plan) {
            if !needed.contains(&a) {
                needed.push(a);
            }
        }
    }
    let total = needed.len() * plan.seeds.len();
    let mut runs: Vec<RunRecord> = vec![];
    for (i, name) in needed.iter().enumerate() {
        let arm = all.iter().find(|a| &a.name == name).expect("arm");
        for (j, &seed) in plan.seeds.iter().enumerate() {
            let k = i * plan.seeds.len() + j + 1;
            let r = run_cached(arm, seed, plan, &data, &runs_dir, &|m| {
                say(&format!("[{k}/{total}] {m}"))
            })?;
            runs.push(r);
        }
    }
    let mut results = vec![];
    for c in &claims {
        let names = arms_of(c.id, plan);
        let mine: Vec<RunRecord> = runs
            .iter()
            .filter(|r| names.contains(&r.arm))
            .cloned()
            .collect();
        let res =
            decide(&claim_spec(c), &evidence(c, &mine, plan), false).map_err(anyhow::Error::msg)?;
        write_question(opt.out, c, &res, &mine, plan)?;
        results.push(res);
    }
    write_table3(opt.out, plan)?;
    write_timing(opt.out, &runs)?;
    Ok(results)
}

/// How an arm reads in a claim's chart ("base" is the varied factor's default).
pub fn arm_label(id: &str, arm: &str) -> String {
    let base = match id {
        "Q1.2" => "h = 4 (base)",
        "Q2.2" => "separate W_Q, W_K (base)",
        "Q3.L2" => "scaled 1/√d_k (base)",
        "Q8.3" => "×√d_model (base)",
        "Q11.L2" => "residuals (base)",
        "Q14.L3" => "ReLU (base)",
        _ => "base",
    };
    let s = match arm {
        "base" => base,
        "h1" => "h = 1",
        "h2" => "h = 2",
        "h8" => "h = 8",
        "h16" => "h = 16",
        "shared_qk" => "shared W",
        "unscaled" => "unscaled",
        "no_embed_scale" => "no scale",
        "no_residual" => "no residuals",
        "gelu" => "GELU",
        "dropout_0.1" => "dropout 0.1",
        "pos_learned" => "learned",
        "pos_sinusoidal" => "sinusoidal",
        "pos_rotary" => "rotary",
        "pos_relative_bias" => "relative bias",
        "deep_post_warmup" => "Post-LN, warmup",
        "deep_post_no_warmup" => "Post-LN, no warmup",
        "deep_pre_warmup" => "Pre-LN, warmup",
        "deep_pre_no_warmup" => "Pre-LN, no warmup",
        other => {
            return other
                .replace("lines_", "")
                .replace("masked_batchnorm", "masked BatchNorm")
                .replace("batchnorm", "BatchNorm")
                .replace("layernorm", "LayerNorm")
                .replace("_lr", ", rate ")
        }
    };
    s.to_string()
}

/// results/real/timing_runs.csv: wall-clock seconds of each run (data, contended
/// when two tracks share the cores), merged with the rows already there.
fn write_timing(out: &Path, runs: &[RunRecord]) -> Result<()> {
    let p = out.join("timing_runs.csv");
    let mut rows: Vec<Vec<String>> = Table::read(&p).map(|t| t.rows).unwrap_or_default();
    for r in runs {
        let steps = r.config["arm"]["train"]["steps"].as_u64().unwrap_or(0);
        let row = vec![
            r.arm.clone(),
            r.seed.to_string(),
            steps.to_string(),
            format!("{:.1}", r.seconds),
            format!("{:.1}", 1e3 * r.seconds / steps.max(1) as f64),
        ];
        match rows.iter_mut().find(|x| x[0] == row[0] && x[1] == row[1]) {
            Some(x) => *x = row,
            None => rows.push(row),
        }
    }
    let mut t = Table::new(&["arm", "seed", "steps", "seconds", "ms_per_step"]);
    for r in rows {
        t.push(r);
    }
    t.write(&p)
}

/// results/real/<dir>/: verdict.json, runs.csv, curves.csv and a loss-curve chart.
fn write_question(
    out: &Path,
    c: &RealClaim,
    res: &ClaimResult,
    runs: &[RunRecord],
    plan: &Plan,
) -> Result<()> {
    let dir = out.join(c.dir);
    std::fs::create_dir_all(&dir)?;
    let v = RealVerdicts {
        experiment: c.dir.to_string(),
        mode: "real".into(),
        task: c.track.describe().into(),
        model: model_text(plan, c),
        seeds: plan.seeds.clone(),
        steps: plan.steps,
        claims: vec![res.clone()],
    };
    crate::output::atomic::write_json(&dir.join("verdict.json"), &v)?;
    let mut t = Table::new(&[
        "arm",
        "seed",
        "final_loss",
        "loss_area",
        "long_loss",
        "diverged",
    ]);
    for r in runs {
        t.push(vec![
            r.arm.clone(),
            r.seed.to_string(),
            format!("{:.6}", r.final_loss),
            format!("{:.6}", r.loss_area),
            r.long_loss.map(|x| format!("{x:.6}")).unwrap_or_default(),
            r.diverged.to_string(),
        ]);
    }
    t.write(&dir.join("runs.csv"))?;
    let mut curves = Table::new(&["arm", "step", "loss", "loss_lo", "loss_hi"]);
    let arms: Vec<&str> = {
        let mut v: Vec<&str> = vec![];
        for r in runs {
            if !v.contains(&r.arm.as_str()) {
                v.push(&r.arm);
            }
        }
        v
    };
    for a in &arms {
        let rs: Vec<&RunRecord> = runs.iter().filter(|r| r.arm == *a).collect();
        for (i, (step, _)) in rs[0].curve.iter().enumerate() {
            let xs: Vec<f64> = rs
                .iter()
                .filter_map(|r| r.curve.get(i).map(|p| p.1))
                .collect();
            let e: Estimate = stats::mean_ci(&xs, 0.95);
            curves.push(vec![
                arm_label(c.id, a),
                step.to_string(),
                format!("{:.6}", e.point),
                format!("{:.6}", e.lo),
                format!("{:.6}", e.hi),
            ]);
        }
    }
    curves.write(&dir.join("curves.csv"))?;
    let chart = ChartSpec::line(
        "real_loss_curves.png",
        "curves.csv",
        &format!(
            "{} on real text: held-out loss by arm (mean of {} seeds)",
            c.id,
            plan.seeds.len()
        ),
        "step",
        &["loss"],
    )
    .series("arm")
    .interval("loss", "loss_lo", "loss_hi")
    .labels("training step", "held-out loss (nats/char)");
    let mut charts = vec![chart];
    if c.id == "Q10.L1" {
        // The deciding quantity: loss inside against past the training length.
        let mut t = Table::new(&["encoding", "inside", "past"]);
        for a in &arms {
            let rs: Vec<&RunRecord> = runs.iter().filter(|r| r.arm == *a).collect();
            let past: Vec<f64> = rs.iter().filter_map(|r| r.long_loss).collect();
            if past.is_empty() {
                continue;
            }
            let inside: Vec<f64> = rs.iter().map(|r| r.final_loss).collect();
            t.push(vec![
                arm_label(c.id, a),
                format!("{:.6}", stats::mean(&inside)),
                format!("{:.6}", stats::mean(&past)),
            ]);
        }
        t.write(&dir.join("extrapolation.csv"))?;
        charts.push(
            ChartSpec::bars(
                "real_extrapolation.png",
                "extrapolation.csv",
                &format!(
                    "Q10.L1 on real text: held-out loss inside (positions 1–{}) and past (positions {}–{}) the training length",
                    plan.seq,
                    plan.seq + 1,
                    plan.long_seq
                ),
                "encoding",
                &["inside", "past"],
            )
            .name("inside", "inside the training length")
            .name("past", "past the training length")
            .labels("encoding (learned positions have no rows past the training length)", "held-out loss (nats/char, mean of seeds)"),
        );
    }
    crate::output::atomic::write_json(&dir.join("charts.json"), &charts)?;
    for ch in &charts {
        crate::output::chart::draw(&dir, ch)?;
    }
    Ok(())
}

/// Vaswani et al. 2017, Table 3, BLEU on newstest2013 (English→German, dev):
/// (row, key, setting, BLEU). Keys match [`TABLE3_OURS`].
pub const PAPER_BLEU: &[(&str, &str, &str, f64)] = &[
    ("A", "h1", "h = 1", 24.9),
    ("A", "h4", "h = 4", 25.5),
    ("A", "h8", "h = 8 (base)", 25.8),
    ("A", "h16", "h = 16", 25.8),
    ("A", "h32", "h = 32", 25.4),
    ("D", "drop0", "dropout 0", 24.6),
    ("D", "drop0.1", "dropout 0.1 (base)", 25.8),
    ("E", "learned", "learned positions", 25.7),
    ("E", "sinusoidal", "sinusoidal (base)", 25.8),
];

/// Our rows of Table 3: (row, key, setting, arm).
pub const TABLE3_OURS: &[(&str, &str, &str, &str)] = &[
    ("A", "h1", "h = 1", "h1"),
    ("A", "h2", "h = 2", "h2"),
    ("A", "h4", "h = 4 (base)", "base"),
    ("A", "h8", "h = 8", "h8"),
    ("A", "h16", "h = 16", "h16"),
    ("D", "drop0", "dropout 0 (base)", "base"),
    ("D", "drop0.1", "dropout 0.1", "dropout_0.1"),
    ("E", "learned", "learned positions", "pos_learned"),
    ("E", "sinusoidal", "sinusoidal", "pos_sinusoidal"),
];

/// results/real/table3.csv: the measured rows (A), (D), (E), from every record in
/// `runs_dir` (so a partial rerun keeps the other rows).
fn write_table3(out: &Path, plan: &Plan) -> Result<()> {
    let mut runs = vec![];
    let mut arms: Vec<&str> = TABLE3_OURS.iter().map(|r| r.3).collect();
    arms.sort_unstable();
    arms.dedup();
    for arm in arms {
        for &seed in &plan.seeds {
            let p = out.join("runs").join(format!("{arm}-seed{seed}.json"));
            if let Ok(t) = std::fs::read_to_string(&p) {
                runs.push(serde_json::from_str::<RunRecord>(&t)?);
            }
        }
    }
    let fin = grouped(&runs, |r| r.final_loss);
    let mut t = Table::new(&[
        "row",
        "key",
        "setting",
        "loss",
        "loss_lo",
        "loss_hi",
        "perplexity",
        "n",
    ]);
    for (row, key, setting, arm) in TABLE3_OURS {
        let xs = fin.get(arm);
        if xs.is_empty() {
            continue;
        }
        let e = stats::mean_ci(xs, 0.95);
        t.push(vec![
            row.to_string(),
            key.to_string(),
            setting.to_string(),
            format!("{:.4}", e.point),
            format!("{:.4}", e.lo),
            format!("{:.4}", e.hi),
            format!("{:.3}", e.point.exp()),
            xs.len().to_string(),
        ]);
    }
    if t.rows.is_empty() {
        return Ok(());
    }
    // How far each setting is above the best of its row, and a label for the chart.
    let loss = t.numbers("loss")?;
    let mut best: Vec<(String, f64)> = vec![];
    for (r, l) in t.rows.iter().zip(&loss) {
        match best.iter_mut().find(|b| b.0 == r[0]) {
            Some(b) => b.1 = b.1.min(*l),
            None => best.push((r[0].clone(), *l)),
        }
    }
    t.header.push("above_best".into());
    t.header.push("label".into());
    for (r, l) in t.rows.iter_mut().zip(&loss) {
        let b = best.iter().find(|b| b.0 == r[0]).map_or(f64::NAN, |b| b.1);
        let label = format!("({}) {}", r[0], r[2]);
        r.push(format!("{:.4}", l - b));
        r.push(label);
    }
    t.write(&out.join("table3.csv"))?;
    let chart = ChartSpec::hbars(
        "table3.png",
        "table3.csv",
        "Table 3 in miniature (Shakespeare, char LM): held-out loss above the best setting of its row",
        "label",
        &["above_best"],
    )
    .labels("", "mean held-out loss minus the row's best (nats/char; 0 = best of the row)");
    crate::output::atomic::write_json(&out.join("charts.json"), &vec![chart.clone()])?;
    crate::output::chart::draw(out, &chart)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated text with lines of varying length (tests never download).
    pub fn text() -> String {
        let words = [
            "the", "king", "speaks", "and", "queen", "replies", "to", "her", "lord",
        ];
        (0..4000)
            .map(|i| {
                let n = 2 + i % 7;
                let line: Vec<&str> = (0..n)
                    .map(|j| words[(i * 3 + j * 5) % words.len()])
                    .collect();
                line.join(" ") + "\n"
            })
            .collect()
    }

    /// The whole track on a tiny plan: every claim decided and written with mode
    /// "real", Table 3 written, and a second run reuses every record.
    #[test]
    fn track_runs_on_generated_text_and_resumes() {
        let dir = std::env::temp_dir().join(format!("tc-real-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opt = Options {
            plan: Plan::tiny(),
            only: vec![],
            out: &dir,
        };
        let rs = run_claims(&text(), &opt, &|_| {}).unwrap();
        assert_eq!(rs.len(), spec::CLAIMS.len());
        for c in spec::CLAIMS {
            let v: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(c.dir).join("verdict.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(v["mode"], "real");
            assert_eq!(v["claims"][0]["id"], c.id);
            assert!(dir.join(c.dir).join("real_loss_curves.png").exists());
        }
        let t3 = Table::read(&dir.join("table3.csv")).unwrap();
        assert_eq!(t3.rows.len(), TABLE3_OURS.len());
        let trained = std::cell::Cell::new(0);
        run_claims(&text(), &opt, &|_| trained.set(trained.get() + 1)).unwrap();
        // Only the corpus line is said: no run trained again.
        assert_eq!(trained.get(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_claims_are_refused() {
        let dir = std::env::temp_dir();
        let opt = Options {
            plan: Plan::tiny(),
            only: vec!["Q99.1".into()],
            out: &dir,
        };
        let e = run_claims(&text(), &opt, &|_| {}).unwrap_err().to_string();
        assert!(e.contains("Q12.3"), "{e}");
    }
}
