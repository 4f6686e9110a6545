//! The verdict words and the rating of a seed answer. Claims, rules and their
//! decisions live in [`crate::claim`]; each question's claims in [`crate::spec`].

use serde::{Deserialize, Serialize};

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
