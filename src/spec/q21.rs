//! Claims of question 21.

#[allow(unused_imports)]
use super::t;
#[allow(unused_imports)]
use crate::claim::{ClaimSpec, Kind, Lock, Prior, Revision, Rule};
#[allow(unused_imports)]
use crate::verdict::Verdict;
#[allow(unused_imports)]
use crate::{all_of, any_of};

/// Every claim of this question, in id order.
pub const CLAIMS: &[ClaimSpec] = &[];
