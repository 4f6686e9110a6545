//! The claim spec: for each of the 21 questions, its claims as data — statement, kind
//! of evidence, the quantity decided, the rule, the literature's prior with its source
//! and the locked verdict. Declared here, before any run; the experiments measure,
//! `Ctx::decide` applies the rule, the report prints what is written here.
//!
//! Claim ids: `QN.k` for claims the seed answer makes, `QN.Lk` for claims the
//! literature adds to answer the question as it is asked.

use std::borrow::Cow;

use crate::claim::Text;

/// `&'static str` as spec text (usable in `const` items).
pub const fn t(s: &'static str) -> Text {
    Cow::Borrowed(s)
}

pub mod q01;
pub mod q02;
pub mod q03;
pub mod q04;
pub mod q05;
pub mod q06;
pub mod q07;
pub mod q08;
pub mod q09;
pub mod q10;
pub mod q11;
pub mod q12;
pub mod q13;
pub mod q14;
pub mod q15;
pub mod q16;
pub mod q17;
pub mod q18;
pub mod q19;
pub mod q20;
pub mod q21;

#[cfg(test)]
mod tests {
    use crate::registry::QUESTIONS;

    /// Every spec is well formed and ids are unique and belong to their question.
    #[test]
    fn specs_are_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for q in QUESTIONS {
            for c in q.claims {
                c.validate().unwrap();
                assert!(
                    c.id.starts_with(&format!("Q{}.", q.number)),
                    "{} listed under Q{}",
                    c.id,
                    q.number
                );
                assert!(seen.insert(c.id.to_string()), "duplicate claim id {}", c.id);
            }
        }
    }
}
