//! Claims and verdicts. A verdict follows from an estimate (with its interval) and a
//! rule declared in the experiment's code before anything is measured.

use serde::{Deserialize, Serialize};

use crate::stats::Estimate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Refuted,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Refuted => "refuted",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// supported when `cond` holds, refuted otherwise.
    pub fn from_bool(cond: bool) -> Self {
        if cond {
            Verdict::Supported
        } else {
            Verdict::Refuted
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How good the seed answer is as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    #[serde(rename = "correct")]
    Correct,
    #[serde(rename = "partly correct")]
    PartlyCorrect,
    #[serde(rename = "incomplete")]
    Incomplete,
    #[serde(rename = "off-topic")]
    OffTopic,
}

impl Answer {
    pub fn as_str(&self) -> &'static str {
        match self {
            Answer::Correct => "correct",
            Answer::PartlyCorrect => "partly correct",
            Answer::Incomplete => "incomplete",
            Answer::OffTopic => "off-topic",
        }
    }
}

/// A decision rule on an estimate's interval, declared before the run.
/// "Supported" needs the whole interval on the claim's side; "refuted" the whole
/// interval on the other side; anything straddling is inconclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Claim: the quantity is at least this.
    AtLeast(f64),
    /// Claim: the quantity is at most this.
    AtMost(f64),
    /// Claim: the quantity lies in this band (an equivalence test).
    Within(f64, f64),
}

impl Rule {
    pub fn decide(&self, e: &Estimate) -> Verdict {
        if !(e.point.is_finite() || e.point.is_infinite()) {
            return Verdict::Inconclusive; // NaN
        }
        match *self {
            Rule::AtLeast(t) if e.lo >= t => Verdict::Supported,
            Rule::AtLeast(t) if e.hi < t => Verdict::Refuted,
            Rule::AtMost(t) if e.hi <= t => Verdict::Supported,
            Rule::AtMost(t) if e.lo > t => Verdict::Refuted,
            Rule::Within(a, b) if e.lo >= a && e.hi <= b => Verdict::Supported,
            Rule::Within(a, b) if e.hi < a || e.lo > b => Verdict::Refuted,
            _ => Verdict::Inconclusive,
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Rule::AtLeast(t) => format!("supported if the whole interval is >= {t}; refuted if it is all below"),
            Rule::AtMost(t) => format!("supported if the whole interval is <= {t}; refuted if it is all above"),
            Rule::Within(a, b) => format!("supported if the whole interval lies in [{a}, {b}]; refuted if it lies wholly outside"),
        }
    }
}

/// One falsifiable claim with its measurement and verdict, as written to verdict.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    pub statement: String,
    pub metric: String,
    pub estimate: f64,
    pub ci: [f64; 2],
    pub threshold: String,
    pub verdict: Verdict,
    /// The verdict CI holds this experiment to.
    pub expected: Verdict,
    /// What the published results predict (None where they say nothing).
    pub literature: Option<Verdict>,
    /// Why `expected` differs from `literature`, or what else the reader should know.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Claim {
    /// A claim decided by `rule` on `est`.
    pub fn decide(id: &str, statement: &str, metric: &str, est: Estimate, rule: Rule) -> Self {
        Self::with_verdict(
            id,
            statement,
            metric,
            est,
            &rule.describe(),
            rule.decide(&est),
        )
    }

    /// A claim whose verdict comes from a composite rule computed by the caller;
    /// `threshold` must state that rule.
    pub fn with_verdict(
        id: &str,
        statement: &str,
        metric: &str,
        est: Estimate,
        threshold: &str,
        verdict: Verdict,
    ) -> Self {
        Self {
            id: id.into(),
            statement: statement.into(),
            metric: metric.into(),
            estimate: est.point,
            ci: [est.lo, est.hi],
            threshold: threshold.into(),
            verdict,
            expected: verdict,
            literature: None,
            note: String::new(),
        }
        .expect(Verdict::Inconclusive)
    }

    /// The verdict this claim is held to (set from CLAIMS.md before measuring).
    pub fn expect(mut self, v: Verdict) -> Self {
        self.expected = v;
        self
    }

    pub fn literature(mut self, v: Verdict) -> Self {
        self.literature = Some(v);
        self
    }

    pub fn note(mut self, s: impl Into<String>) -> Self {
        self.note = s.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_on_intervals() {
        let e = Estimate::with_interval(1.0, 0.9, 1.1, 0.95, 10);
        assert_eq!(Rule::Within(0.8, 1.2).decide(&e), Verdict::Supported);
        assert_eq!(Rule::Within(0.95, 1.2).decide(&e), Verdict::Inconclusive);
        assert_eq!(Rule::Within(2.0, 3.0).decide(&e), Verdict::Refuted);
        assert_eq!(Rule::AtLeast(0.5).decide(&e), Verdict::Supported);
        assert_eq!(Rule::AtLeast(1.5).decide(&e), Verdict::Refuted);
        assert_eq!(Rule::AtMost(1.0).decide(&e), Verdict::Inconclusive);
        let nan = Estimate::exact(f64::NAN);
        assert_eq!(Rule::AtLeast(0.0).decide(&nan), Verdict::Inconclusive);
    }
}

/// All parts supported → supported; any part refuted → refuted; else inconclusive.
pub fn all_of(parts: &[Verdict]) -> Verdict {
    if parts.iter().all(|v| *v == Verdict::Supported) {
        Verdict::Supported
    } else if parts.contains(&Verdict::Refuted) {
        Verdict::Refuted
    } else {
        Verdict::Inconclusive
    }
}
