//! The verdict layer: claims as data, decided by rules as values.
//!
//! A [`ClaimSpec`] is declared once per claim in `src/spec/qNN.rs`, before any run:
//! its statement, its [`Kind`] of evidence, the quantity it is decided on, the
//! [`Rule`], the literature's prior and the locked verdict CI holds the code to. An
//! experiment measures the quantities the rule names and hands them to
//! `Ctx::decide`, which produces a [`ClaimResult`] for `verdict.json`.
//!
//! Three verdict columns are kept apart and never confused:
//! - `literature`: what published results predict (the prior);
//! - `locked`: what CI holds the committed code to (a regression lock, decided on
//!   full-mode runs and checked on held-out seeds; `timing` claims have none);
//! - `verdict`: what this run measured.
//!
//! Specs are serde values, so claims written by users in a file load the same way.

pub mod rule;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use rule::{PartOutcome, Rule, Text};

use crate::stats::{Estimate, IntervalKind};
use crate::verdict::Verdict;

/// What kind of evidence a claim rests on. The report groups claims by kind, so a
/// check of our own code never reads like evidence about Transformers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An effect estimated from data (training runs, sampled statistics), with an
    /// interval.
    Measured,
    /// An exact count or identity (parameter counts, FLOPs, a closed-form fit).
    ClosedForm,
    /// The project's own implementation does what the answer says (a mask zeroes
    /// weights, a shape is accepted). Evidence about this code, not about Transformers.
    Check,
    /// Wall-clock time. Reported, never locked: no clock decides a locked verdict.
    Timing,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Measured => "measured",
            Kind::ClosedForm => "closed-form",
            Kind::Check => "check",
            Kind::Timing => "timing",
        }
    }

    /// A short mark for tables.
    pub fn mark(&self) -> &'static str {
        match self {
            Kind::Measured => "measured",
            Kind::ClosedForm => "closed form",
            Kind::Check => "check of our code",
            Kind::Timing => "timing",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the literature predicts, and where it says so.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// None where the literature says nothing decisive.
    pub verdict: Option<Verdict>,
    pub source: Text,
}

impl Prior {
    pub const fn supported(source: &'static str) -> Prior {
        Prior {
            verdict: Some(Verdict::Supported),
            source: Cow::Borrowed(source),
        }
    }
    pub const fn refuted(source: &'static str) -> Prior {
        Prior {
            verdict: Some(Verdict::Refuted),
            source: Cow::Borrowed(source),
        }
    }
    pub const fn open(source: &'static str) -> Prior {
        Prior {
            verdict: None,
            source: Cow::Borrowed(source),
        }
    }
}

/// The verdict CI holds the code to, per mode. `None`: not locked in that mode
/// (timing claims; or a quick budget too small to carry the claim, said in `why`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub full: Option<Verdict>,
    pub quick: Option<Verdict>,
}

impl Lock {
    /// The same lock in both modes.
    pub const fn both(v: Verdict) -> Lock {
        Lock {
            full: Some(v),
            quick: Some(v),
        }
    }
    /// Locked in full mode only (quick mode's budget cannot carry the claim).
    pub const fn full_only(v: Verdict) -> Lock {
        Lock {
            full: Some(v),
            quick: None,
        }
    }
    /// Not locked (timing claims).
    pub const NONE: Lock = Lock {
        full: None,
        quick: None,
    };

    pub fn for_mode(&self, quick: bool) -> Option<Verdict> {
        if quick {
            self.quick
        } else {
            self.full
        }
    }
}

/// A rule changed after its first full run: the date, the rule it replaced and why.
/// The report shows the verdict under both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// ISO date of the change.
    pub date: Text,
    pub original: Rule,
    pub why: Text,
}

/// One falsifiable claim, declared before the run that decides it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimSpec {
    /// "Q4.1"; claims whose id has an `L` are the literature's, not the seed answer's.
    pub id: Text,
    pub statement: Text,
    pub kind: Kind,
    /// The quantity shown as the claim's estimate; one of the rule's quantities.
    pub metric: Text,
    pub rule: Rule,
    pub literature: Prior,
    pub lock: Lock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised: Option<Revision>,
}

impl ClaimSpec {
    /// Checks a spec is well formed: the metric is one of the rule's quantities, a
    /// timing claim is never locked, an exact-only kind names what it counts.
    pub fn validate(&self) -> Result<(), String> {
        let qs = self.rule.quantities();
        if !qs.contains(&self.metric.as_ref()) {
            return Err(format!(
                "{}: metric \"{}\" is not one of the rule's quantities {:?}",
                self.id, self.metric, qs
            ));
        }
        if self.kind == Kind::Timing && (self.lock.full.is_some() || self.lock.quick.is_some()) {
            return Err(format!("{}: a timing claim cannot be locked", self.id));
        }
        if let Some(r) = &self.revised {
            if r.date.len() != 10 {
                return Err(format!("{}: revision date must be YYYY-MM-DD", self.id));
            }
        }
        Ok(())
    }
}

/// The measured quantities a rule reads: name → one or more estimates.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    items: Vec<(String, Vec<Estimate>)>,
}

impl Evidence {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one estimate of `quantity` (repeat to add one per setting).
    pub fn with(mut self, quantity: &str, e: Estimate) -> Self {
        self.add(quantity, e);
        self
    }

    /// Add several estimates of `quantity` (the rule must hold for each).
    pub fn with_all(mut self, quantity: &str, es: impl IntoIterator<Item = Estimate>) -> Self {
        for e in es {
            self.add(quantity, e);
        }
        self
    }

    /// An exact value (a count, a closed form, a yes/no as 1/0).
    pub fn exact(self, quantity: &str, x: f64) -> Self {
        self.with(quantity, Estimate::exact(x))
    }

    pub fn add(&mut self, quantity: &str, e: Estimate) {
        match self.items.iter_mut().find(|(q, _)| q == quantity) {
            Some((_, v)) => v.push(e),
            None => self.items.push((quantity.to_string(), vec![e])),
        }
    }

    pub fn get(&self, quantity: &str) -> Option<Vec<Estimate>> {
        self.items
            .iter()
            .find(|(q, _)| q == quantity)
            .map(|(_, v)| v.clone())
    }
}

/// How the original rule of a revised claim decides on the same run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevisedOutcome {
    pub date: String,
    /// The original rule, rendered.
    pub original_rule: String,
    /// The verdict under the original rule, on this run's data.
    pub original_verdict: Verdict,
    pub why: String,
}

/// One decided claim, as written to verdict.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClaimResult {
    pub id: String,
    pub statement: String,
    pub kind: Kind,
    pub metric: String,
    pub estimate: f64,
    /// [lo, hi]; equal to the estimate when `interval_kind` is exact.
    pub interval: [f64; 2],
    pub interval_kind: IntervalKind,
    /// Observations behind the estimate (seeds, repeats, samples).
    pub n: usize,
    /// The decision rule, rendered from the rule value.
    pub rule: String,
    pub verdict: Verdict,
    /// The verdict CI holds this run's mode to; absent where not locked.
    pub locked: Option<Verdict>,
    /// What the literature predicts; absent where it says nothing decisive.
    pub literature: Option<Verdict>,
    pub literature_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised: Option<RevisedOutcome>,
    /// Each condition of the rule with its estimate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartOutcome>,
    /// What else the reader should know (context numbers, caveats).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl ClaimResult {
    /// Whether the measured verdict contradicts the lock (None when unlocked).
    pub fn breaks_lock(&self) -> bool {
        matches!(self.locked, Some(l) if l != self.verdict)
    }
}

/// Decide `spec` on `ev` for a run in quick (`quick`) or full mode.
pub fn decide(spec: &ClaimSpec, ev: &Evidence, quick: bool) -> Result<ClaimResult, String> {
    spec.validate()?;
    let look = |q: &str| ev.get(q);
    let mut parts = vec![];
    let verdict = spec
        .rule
        .decide(&look, &mut parts)
        .map_err(|e| format!("{}: {e}", spec.id))?;
    let headline = ev
        .get(&spec.metric)
        .and_then(|v| v.first().copied())
        .ok_or_else(|| format!("{}: no estimate of its metric", spec.id))?;
    if spec.kind == Kind::ClosedForm || spec.kind == Kind::Check {
        // An exact kind must not carry a stochastic interval.
        for p in &parts {
            if p.estimate.kind == IntervalKind::Ci95 {
                return Err(format!(
                    "{}: a {} claim was given a confidence interval for \"{}\"",
                    spec.id, spec.kind, p.quantity
                ));
            }
        }
    }
    let revised = match &spec.revised {
        None => None,
        Some(r) => {
            let v = r
                .original
                .decide(&look, &mut vec![])
                .map_err(|e| format!("{} (original rule): {e}", spec.id))?;
            Some(RevisedOutcome {
                date: r.date.to_string(),
                original_rule: r.original.describe(),
                original_verdict: v,
                why: r.why.to_string(),
            })
        }
    };
    Ok(ClaimResult {
        id: spec.id.to_string(),
        statement: spec.statement.to_string(),
        kind: spec.kind,
        metric: spec.metric.to_string(),
        estimate: headline.point,
        interval: [headline.lo, headline.hi],
        interval_kind: headline.kind,
        n: headline.n,
        rule: spec.rule.describe(),
        verdict,
        locked: spec.lock.for_mode(quick),
        literature: spec.literature.verdict,
        literature_source: spec.literature.source.to_string(),
        revised,
        parts,
        note: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ClaimSpec = ClaimSpec {
        id: Cow::Borrowed("Q0.1"),
        statement: Cow::Borrowed("x is large"),
        kind: Kind::Measured,
        metric: Cow::Borrowed("x"),
        rule: Rule::at_least("x", 1.0),
        literature: Prior::supported("Someone 2020"),
        lock: Lock::both(Verdict::Supported),
        revised: Some(Revision {
            date: Cow::Borrowed("2026-12-01"),
            original: Rule::at_least("x", 3.0),
            why: Cow::Borrowed("test"),
        }),
    };

    #[test]
    fn decides_with_both_rules() {
        let ev = Evidence::new().with("x", Estimate::with_interval(2.0, 1.5, 2.5, 0.95, 5));
        let r = decide(&SPEC, &ev, false).unwrap();
        assert_eq!(r.verdict, Verdict::Supported);
        assert_eq!(r.locked, Some(Verdict::Supported));
        let rev = r.revised.unwrap();
        assert_eq!(rev.original_verdict, Verdict::Refuted);
        assert!(rev.original_rule.contains("x ≥ 3"));
        assert!(decide(&SPEC, &Evidence::new(), false).is_err());
    }

    #[test]
    fn timing_claims_cannot_be_locked() {
        let mut s = SPEC.clone();
        s.kind = Kind::Timing;
        assert!(s.validate().is_err());
        s.lock = Lock::NONE;
        assert!(s.validate().is_ok());
    }

    #[test]
    fn exact_kinds_refuse_confidence_intervals() {
        let mut s = SPEC.clone();
        s.kind = Kind::ClosedForm;
        let ev = Evidence::new().with("x", Estimate::with_interval(2.0, 1.5, 2.5, 0.95, 5));
        assert!(decide(&s, &ev, false).is_err());
        assert!(decide(&s, &Evidence::new().exact("x", 2.0), false).is_ok());
    }

    #[test]
    fn specs_load_from_json() {
        let text = serde_json::to_string_pretty(&SPEC).unwrap();
        let back: ClaimSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, SPEC);
    }
}
