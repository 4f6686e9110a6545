//! The experiment kit: what every experiment repeats, written once.
//!
//! - [`sweep`]: run every arm over every seed with a progress bar; the result writes
//!   the standard `*_final.csv` (one row per arm × seed) and `*_curves.csv` (one row
//!   per arm × seed × evaluation) and hands out per-arm samples of any metric.
//! - [`Grouped`]: samples per arm (in insertion order) → mean intervals, paired gaps,
//!   a summary table.
//! - [`est_header`] / [`est_cells`]: an `Estimate` as three CSV cells
//!   (`x`, `x_lo`, `x_hi`).

use std::fmt::Display;

use anyhow::{bail, Result};

use crate::experiment::Ctx;
use crate::output::table::{Cell, Table};
use crate::stats::{self, Estimate};
use crate::train::trainer::TrainLog;

/// The three column names of an estimate: `name`, `name_lo`, `name_hi`.
pub fn est_header(name: &str) -> [String; 3] {
    [name.to_string(), format!("{name}_lo"), format!("{name}_hi")]
}

/// An estimate's point, lo and hi as CSV cells.
pub fn est_cells(e: &Estimate) -> [String; 3] {
    [e.point.cell(), e.lo.cell(), e.hi.cell()]
}

/// A table whose header is `keys` followed by `name`, `name_lo`, `name_hi` for each
/// estimate name.
pub fn estimate_table(keys: &[&str], estimates: &[&str]) -> Table {
    let mut h: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    for e in estimates {
        h.extend(est_header(e));
    }
    Table {
        header: h,
        rows: vec![],
    }
}

/// Push `keys` cells followed by each estimate's three cells.
pub fn push_estimates(t: &mut Table, keys: Vec<String>, ests: &[Estimate]) {
    let mut row = keys;
    for e in ests {
        row.extend(est_cells(e));
    }
    t.push(row);
}

/// Samples of one metric per group (arm), kept in insertion order.
#[derive(Clone, Debug, Default)]
pub struct Grouped {
    groups: Vec<(String, Vec<f64>)>,
}

impl Grouped {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, group: impl Display, x: f64) {
        let g = group.to_string();
        match self.groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(x),
            None => self.groups.push((g, vec![x])),
        }
    }

    pub fn labels(&self) -> Vec<&str> {
        self.groups.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The samples of `group` (empty when absent).
    pub fn get(&self, group: impl Display) -> &[f64] {
        let g = group.to_string();
        self.groups
            .iter()
            .find(|(k, _)| *k == g)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// Mean of `group` with a 95% t interval.
    pub fn mean_ci(&self, group: impl Display) -> Estimate {
        stats::mean_ci(self.get(group), 0.95)
    }

    /// Median of `group` with its min..max range.
    pub fn median_range(&self, group: impl Display) -> Estimate {
        Estimate::median_minmax(self.get(group))
    }

    /// Paired mean difference `a − b` (samples paired by position, i.e. by seed),
    /// with a 95% t interval.
    pub fn paired(&self, a: impl Display, b: impl Display) -> Estimate {
        stats::paired_diff(self.get(a), self.get(b), 0.95)
    }

    /// One row per group: `group_col`, mean, mean_lo, mean_hi, n.
    pub fn summary(&self, group_col: &str, value: &str) -> Table {
        let mut t = estimate_table(&[group_col], &[value]);
        t.header.push("n".into());
        for (k, v) in &self.groups {
            let e = stats::mean_ci(v, 0.95);
            let mut row = vec![k.clone()];
            row.extend(est_cells(&e));
            row.push(v.len().cell());
            t.push(row);
        }
        t
    }
}

/// Every arm run over every seed: `logs[arm][seed]`.
pub struct Sweep<A> {
    pub arms: Vec<A>,
    pub seeds: Vec<u64>,
    pub logs: Vec<Vec<TrainLog>>,
}

/// Run `f(arm, seed)` for every arm and seed (seeds inner), with a progress bar on
/// stderr. Arms are labelled by their `Display` (write "Pre-LN", "h = 4": the labels
/// reach the CSV and the chart legends).
pub fn sweep<A: Display + Clone>(
    ctx: &Ctx,
    what: &str,
    arms: &[A],
    seeds: &[u64],
    mut f: impl FnMut(&A, u64) -> Result<TrainLog>,
) -> Result<Sweep<A>> {
    if arms.is_empty() || seeds.is_empty() {
        bail!("{what}: a sweep needs at least one arm and one seed");
    }
    let pb = ctx.progress((arms.len() * seeds.len()) as u64, what);
    let mut logs = Vec::with_capacity(arms.len());
    for a in arms {
        let mut row = Vec::with_capacity(seeds.len());
        for &s in seeds {
            row.push(f(a, s)?);
            pb.inc(1);
        }
        logs.push(row);
    }
    pb.finish_and_clear();
    Ok(Sweep {
        arms: arms.to_vec(),
        seeds: seeds.to_vec(),
        logs,
    })
}

impl<A: Display> Sweep<A> {
    /// A metric of every run, grouped by arm label (seed order within each arm).
    pub fn metric(&self, f: impl Fn(&TrainLog) -> f64) -> Grouped {
        let mut g = Grouped::new();
        for (a, logs) in self.arms.iter().zip(&self.logs) {
            for l in logs {
                g.push(a, f(l));
            }
        }
        g
    }

    /// The log of `arm_index` at `seed_index`.
    pub fn log(&self, arm: usize, seed: usize) -> &TrainLog {
        &self.logs[arm][seed]
    }

    /// One row per run: arm, seed, final eval loss and accuracy, area under the
    /// accuracy curve, whether it diverged.
    pub fn final_table(&self, arm_col: &str) -> Table {
        let mut t = Table::new(&[
            arm_col,
            "seed",
            "final_loss",
            "final_acc",
            "auc",
            "diverged",
        ]);
        for (a, logs) in self.arms.iter().zip(&self.logs) {
            for (s, l) in self.seeds.iter().zip(logs) {
                t.push(crate::row![
                    a.to_string(),
                    *s,
                    l.final_loss(),
                    l.final_acc(),
                    l.auc(),
                    l.diverged
                ]);
            }
        }
        t
    }

    /// One row per evaluation: arm, seed, step, eval loss, eval accuracy.
    pub fn curves_table(&self, arm_col: &str) -> Table {
        let mut t = Table::new(&[arm_col, "seed", "step", "eval_loss", "eval_acc"]);
        for (a, logs) in self.arms.iter().zip(&self.logs) {
            for (s, l) in self.seeds.iter().zip(logs) {
                for &(step, loss, acc) in &l.eval {
                    t.push(crate::row![a.to_string(), *s, step, loss, acc]);
                }
            }
        }
        t
    }

    /// Mean eval accuracy and loss over seeds at each evaluation step, per arm, with
    /// 95% t intervals (for learning-curve charts).
    pub fn mean_curves_table(&self, arm_col: &str) -> Table {
        let mut t = estimate_table(&[arm_col, "step"], &["eval_acc", "eval_loss"]);
        for (a, logs) in self.arms.iter().zip(&self.logs) {
            let steps: Vec<usize> = logs
                .iter()
                .max_by_key(|l| l.eval.len())
                .map(|l| l.eval.iter().map(|e| e.0).collect())
                .unwrap_or_default();
            for (i, step) in steps.iter().enumerate() {
                let accs: Vec<f64> = logs
                    .iter()
                    .filter_map(|l| l.eval.get(i).map(|e| e.2))
                    .collect();
                let losses: Vec<f64> = logs
                    .iter()
                    .filter_map(|l| l.eval.get(i).map(|e| e.1))
                    .collect();
                push_estimates(
                    &mut t,
                    vec![a.to_string(), step.cell()],
                    &[stats::mean_ci(&accs, 0.95), stats::mean_ci(&losses, 0.95)],
                );
            }
        }
        t
    }

    /// Write `{prefix}_final.csv`, `{prefix}_curves.csv` and `{prefix}_curves_mean.csv`.
    pub fn write(&self, ctx: &Ctx, prefix: &str, arm_col: &str) -> Result<()> {
        ctx.table(&format!("{prefix}_final.csv"), &self.final_table(arm_col))?;
        ctx.table(&format!("{prefix}_curves.csv"), &self.curves_table(arm_col))?;
        ctx.table(
            &format!("{prefix}_curves_mean.csv"),
            &self.mean_curves_table(arm_col),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_keeps_order_and_pairs() {
        let mut g = Grouped::new();
        for (a, x) in [("b", 2.0), ("a", 1.0), ("b", 4.0), ("a", 1.5)] {
            g.push(a, x);
        }
        assert_eq!(g.labels(), vec!["b", "a"]);
        assert_eq!(g.get("b"), &[2.0, 4.0]);
        let d = g.paired("b", "a");
        assert!((d.point - 1.75).abs() < 1e-12);
        let t = g.summary("arm", "acc");
        assert_eq!(t.header, ["arm", "acc", "acc_lo", "acc_hi", "n"]);
        assert_eq!(t.rows.len(), 2);
        let r = g.median_range("b");
        assert_eq!((r.lo, r.hi), (2.0, 4.0));
    }
}
