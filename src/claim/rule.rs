//! Decision rules as values. A rule is declared in a question's claim spec before any
//! run, decides a verdict from measured estimates, and writes the sentence the report
//! prints, so the text and the decision cannot drift apart.
//!
//! Every condition is judged on an estimate's whole interval: it *holds* when the whole
//! interval satisfies it, *fails* when the whole interval lies on the other side, and is
//! *open* when the interval straddles the line. For an exact value the interval is the
//! point, so every condition holds or fails.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::fmt::num;
use crate::stats::Estimate;
use crate::verdict::Verdict;

/// Text that is `&'static str` in the built-in specs and owned when read from a file.
pub type Text = Cow<'static, str>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Rule {
    /// The quantity is at least `min`.
    AtLeast { of: Text, min: f64 },
    /// The quantity is at most `max`.
    AtMost { of: Text, max: f64 },
    /// The quantity lies in the band [lo, hi] (an equivalence test).
    Within { of: Text, lo: f64, hi: f64 },
    /// A gap (for example a paired difference over seeds) is at least `margin`;
    /// refuted only when it goes the other way by at least `refute_margin`, so an
    /// effect smaller than the margin is inconclusive, not refuted.
    Gap {
        of: Text,
        margin: f64,
        refute_margin: f64,
    },
    /// Supported when every part is; refuted when any part is; else inconclusive.
    AllOf { parts: Cow<'static, [Rule]> },
    /// Supported when any part is; refuted when every part is; else inconclusive.
    AnyOf { parts: Cow<'static, [Rule]> },
}

/// `all_of![r1, r2, …]`: a [`Rule::AllOf`] usable in `const` claim specs.
#[macro_export]
macro_rules! all_of {
    ($($r:expr),+ $(,)?) => {{
        const PARTS: &[$crate::claim::Rule] = &[$($r),+];
        $crate::claim::Rule::all_of(PARTS)
    }};
}

/// `any_of![r1, r2, …]`: a [`Rule::AnyOf`] usable in `const` claim specs.
#[macro_export]
macro_rules! any_of {
    ($($r:expr),+ $(,)?) => {{
        const PARTS: &[$crate::claim::Rule] = &[$($r),+];
        $crate::claim::Rule::any_of(PARTS)
    }};
}

/// One condition's outcome, kept for the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartOutcome {
    /// The quantity, as the rule names it.
    pub quantity: String,
    /// The condition, rendered.
    pub condition: String,
    pub estimate: Estimate,
    pub verdict: Verdict,
}

impl Rule {
    pub const fn at_least(of: &'static str, min: f64) -> Rule {
        Rule::AtLeast {
            of: Cow::Borrowed(of),
            min,
        }
    }
    pub const fn at_most(of: &'static str, max: f64) -> Rule {
        Rule::AtMost {
            of: Cow::Borrowed(of),
            max,
        }
    }
    pub const fn within(of: &'static str, lo: f64, hi: f64) -> Rule {
        Rule::Within {
            of: Cow::Borrowed(of),
            lo,
            hi,
        }
    }
    pub const fn gap(of: &'static str, margin: f64, refute_margin: f64) -> Rule {
        Rule::Gap {
            of: Cow::Borrowed(of),
            margin,
            refute_margin,
        }
    }
    pub const fn all_of(parts: &'static [Rule]) -> Rule {
        Rule::AllOf {
            parts: Cow::Borrowed(parts),
        }
    }
    pub const fn any_of(parts: &'static [Rule]) -> Rule {
        Rule::AnyOf {
            parts: Cow::Borrowed(parts),
        }
    }

    /// The quantities this rule reads, in order, each once.
    pub fn quantities(&self) -> Vec<&str> {
        let mut out: Vec<&str> = vec![];
        self.walk(&mut |q| {
            if !out.contains(&q) {
                out.push(q)
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a str)) {
        match self {
            Rule::AtLeast { of, .. }
            | Rule::AtMost { of, .. }
            | Rule::Within { of, .. }
            | Rule::Gap { of, .. } => f(of),
            Rule::AllOf { parts } | Rule::AnyOf { parts } => parts.iter().for_each(|p| p.walk(f)),
        }
    }

    /// The condition for support, as a phrase ("x ≥ 2 and y in [0.5, 2]").
    pub fn condition(&self) -> String {
        match self {
            Rule::AtLeast { of, min } => format!("{of} ≥ {}", num(*min)),
            Rule::AtMost { of, max } => format!("{of} ≤ {}", num(*max)),
            Rule::Within { of, lo, hi } => format!("{of} in [{}, {}]", num(*lo), num(*hi)),
            Rule::Gap { of, margin, .. } => format!("{of} ≥ {}", num(*margin)),
            Rule::AllOf { parts } => join(parts, " and "),
            Rule::AnyOf { parts } => join(parts, " or "),
        }
    }

    /// The condition that refutes (for leaves; composites combine their parts).
    fn refutation(&self) -> String {
        match self {
            Rule::AtLeast { of, min } => format!("{of} < {}", num(*min)),
            Rule::AtMost { of, max } => format!("{of} > {}", num(*max)),
            Rule::Within { of, lo, hi } => {
                format!("{of} outside [{}, {}]", num(*lo), num(*hi))
            }
            Rule::Gap {
                of, refute_margin, ..
            } => format!("{of} ≤ {}", num(-*refute_margin)),
            Rule::AllOf { parts } => parts
                .iter()
                .map(|p| p.refutation())
                .collect::<Vec<_>>()
                .join(" or "),
            Rule::AnyOf { parts } => parts
                .iter()
                .map(|p| p.refutation())
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }

    /// The sentence the report prints.
    pub fn describe(&self) -> String {
        match self {
            Rule::AllOf { parts } => format!(
                "Supported if all of these hold, each on its whole interval: {}; refuted if any one fails on its whole interval; otherwise inconclusive.",
                lettered(parts)
            ),
            Rule::AnyOf { parts } => format!(
                "Supported if any of these holds on its whole interval: {}; refuted if every one fails on its whole interval; otherwise inconclusive.",
                lettered(parts)
            ),
            _ => format!(
                "Supported if {} (whole interval); refuted if {} (whole interval); otherwise inconclusive.",
                self.condition(),
                self.refutation()
            ),
        }
    }

    /// Decide from the estimates of the quantities the rule reads. A quantity may have
    /// several estimates (one per setting): a condition on it holds when it holds for
    /// all of them, and fails when it fails for any.
    pub fn decide(
        &self,
        lookup: &dyn Fn(&str) -> Option<Vec<Estimate>>,
        parts: &mut Vec<PartOutcome>,
    ) -> Result<Verdict, String> {
        let cond = self.condition();
        let mut leaf = |of: &str, f: &dyn Fn(&Estimate) -> Verdict| {
            leaf_verdict(of, &cond, f, lookup, &mut *parts)
        };
        match self {
            Rule::AtLeast { of, min } => leaf(of, &|e| side(e, |x| x >= *min, |x| x < *min)),
            Rule::AtMost { of, max } => leaf(of, &|e| side(e, |x| x <= *max, |x| x > *max)),
            Rule::Within { of, lo, hi } => leaf(of, &|e| {
                if e.point.is_nan() {
                    Verdict::Inconclusive
                } else if e.lo >= *lo && e.hi <= *hi {
                    Verdict::Supported
                } else if e.hi < *lo || e.lo > *hi {
                    Verdict::Refuted
                } else {
                    Verdict::Inconclusive
                }
            }),
            Rule::Gap {
                of,
                margin,
                refute_margin,
            } => leaf(of, &|e| {
                if e.point.is_nan() {
                    Verdict::Inconclusive
                } else if e.lo >= *margin {
                    Verdict::Supported
                } else if e.hi <= -*refute_margin {
                    Verdict::Refuted
                } else {
                    Verdict::Inconclusive
                }
            }),
            Rule::AllOf { parts: rs } => {
                let vs = rs
                    .iter()
                    .map(|r| r.decide(lookup, parts))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(combine_all(&vs))
            }
            Rule::AnyOf { parts: rs } => {
                let vs = rs
                    .iter()
                    .map(|r| r.decide(lookup, parts))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if vs.contains(&Verdict::Supported) {
                    Verdict::Supported
                } else if vs.iter().all(|v| *v == Verdict::Refuted) {
                    Verdict::Refuted
                } else {
                    Verdict::Inconclusive
                })
            }
        }
    }
}

/// One condition on every estimate of `of`: each outcome is recorded in `parts`.
fn leaf_verdict(
    of: &str,
    cond: &str,
    f: &dyn Fn(&Estimate) -> Verdict,
    lookup: &dyn Fn(&str) -> Option<Vec<Estimate>>,
    parts: &mut Vec<PartOutcome>,
) -> Result<Verdict, String> {
    let ests = lookup(of).ok_or_else(|| format!("no estimate of \"{of}\""))?;
    if ests.is_empty() {
        return Err(format!("no estimate of \"{of}\""));
    }
    let vs: Vec<Verdict> = ests.iter().map(f).collect();
    for (e, v) in ests.iter().zip(&vs) {
        parts.push(PartOutcome {
            quantity: of.to_string(),
            condition: cond.to_string(),
            estimate: *e,
            verdict: *v,
        });
    }
    Ok(combine_all(&vs))
}

/// "(a) x ≥ 1; (b) y ≤ 2": each part with its condition, and, for a gap, when it fails.
fn lettered(parts: &[Rule]) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let letter = (b'a' + (i % 26) as u8) as char;
            match p {
                Rule::Gap { .. } => format!(
                    "({letter}) {}, failing if {}",
                    p.condition(),
                    p.refutation()
                ),
                Rule::AllOf { .. } | Rule::AnyOf { .. } => {
                    format!(
                        "({letter}) {}, failing if {}",
                        p.condition(),
                        p.refutation()
                    )
                }
                _ => format!("({letter}) {}", p.condition()),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn join(parts: &[Rule], sep: &str) -> String {
    let items: Vec<String> = parts
        .iter()
        .map(|p| match p {
            Rule::AllOf { .. } | Rule::AnyOf { .. } => format!("({})", p.condition()),
            _ => p.condition(),
        })
        .collect();
    items.join(sep)
}

/// Supported when the whole interval satisfies `holds`, refuted when the whole
/// interval satisfies `fails`.
fn side(e: &Estimate, holds: impl Fn(f64) -> bool, fails: impl Fn(f64) -> bool) -> Verdict {
    if e.point.is_nan() || e.lo.is_nan() || e.hi.is_nan() {
        Verdict::Inconclusive
    } else if holds(e.lo) && holds(e.hi) {
        Verdict::Supported
    } else if fails(e.lo) && fails(e.hi) {
        Verdict::Refuted
    } else {
        Verdict::Inconclusive
    }
}

/// All supported → supported; any refuted → refuted; else inconclusive.
pub fn combine_all(vs: &[Verdict]) -> Verdict {
    if vs.iter().all(|v| *v == Verdict::Supported) {
        Verdict::Supported
    } else if vs.contains(&Verdict::Refuted) {
        Verdict::Refuted
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(of: &'static str, e: Estimate) -> impl Fn(&str) -> Option<Vec<Estimate>> {
        move |q: &str| (q == of).then(|| vec![e])
    }

    fn decide(r: &Rule, e: Estimate) -> Verdict {
        r.decide(&one("x", e), &mut vec![]).unwrap()
    }

    #[test]
    fn leaves_on_intervals() {
        let e = Estimate::with_interval(1.0, 0.9, 1.1, 0.95, 10);
        assert_eq!(decide(&Rule::within("x", 0.8, 1.2), e), Verdict::Supported);
        assert_eq!(
            decide(&Rule::within("x", 0.95, 1.2), e),
            Verdict::Inconclusive
        );
        assert_eq!(decide(&Rule::within("x", 2.0, 3.0), e), Verdict::Refuted);
        assert_eq!(decide(&Rule::at_least("x", 0.5), e), Verdict::Supported);
        assert_eq!(decide(&Rule::at_least("x", 1.5), e), Verdict::Refuted);
        assert_eq!(decide(&Rule::at_most("x", 1.0), e), Verdict::Inconclusive);
        assert_eq!(
            decide(&Rule::at_least("x", 0.0), Estimate::exact(f64::NAN)),
            Verdict::Inconclusive
        );
        // A gap smaller than the margin, or a small reverse gap, is inconclusive.
        let small = Estimate::with_interval(0.01, 0.005, 0.015, 0.95, 5);
        assert_eq!(
            decide(&Rule::gap("x", 0.02, 0.02), small),
            Verdict::Inconclusive
        );
        let reverse = Estimate::with_interval(-0.03, -0.05, -0.025, 0.95, 5);
        assert_eq!(
            decide(&Rule::gap("x", 0.02, 0.02), reverse),
            Verdict::Refuted
        );
        let small_rev = Estimate::with_interval(-0.01, -0.015, -0.005, 0.95, 5);
        assert_eq!(
            decide(&Rule::gap("x", 0.02, 0.02), small_rev),
            Verdict::Inconclusive
        );
    }

    #[test]
    fn composites_and_text() {
        const PARTS: &[Rule] = &[Rule::at_least("a", 1.0), Rule::at_most("b", 0.1)];
        let r = Rule::all_of(PARTS);
        let look = |q: &str| match q {
            "a" => Some(vec![Estimate::exact(2.0)]),
            "b" => Some(vec![Estimate::exact(0.5)]),
            _ => None,
        };
        let mut parts = vec![];
        assert_eq!(r.decide(&look, &mut parts).unwrap(), Verdict::Refuted);
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Rule::any_of(PARTS).decide(&look, &mut vec![]).unwrap(),
            Verdict::Supported
        );
        assert_eq!(r.condition(), "a ≥ 1 and b ≤ 0.1");
        assert_eq!(
            r.describe(),
            "Supported if all of these hold, each on its whole interval: (a) a ≥ 1; (b) b ≤ 0.1; refuted if any one fails on its whole interval; otherwise inconclusive."
        );
        assert!(Rule::at_least("a", 1.0)
            .describe()
            .contains("refuted if a < 1"));
        assert_eq!(r.quantities(), vec!["a", "b"]);
        assert!(Rule::at_least("c", 1.0).decide(&look, &mut vec![]).is_err());
    }

    #[test]
    fn several_estimates_of_one_quantity() {
        let look = |_: &str| {
            Some(vec![
                Estimate::with_interval(0.0, -0.01, 0.01, 0.95, 5),
                Estimate::with_interval(0.0, -0.2, 0.2, 0.95, 5),
            ])
        };
        let r = Rule::within("m", -0.05, 0.05);
        assert_eq!(r.decide(&look, &mut vec![]).unwrap(), Verdict::Inconclusive);
    }

    #[test]
    fn rules_round_trip_through_json() {
        const PARTS: &[Rule] = &[Rule::at_least("a", 1.0), Rule::gap("g", 0.02, 0.0)];
        let r = Rule::any_of(PARTS);
        let s = serde_json::to_string(&r).unwrap();
        let back: Rule = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }
}
