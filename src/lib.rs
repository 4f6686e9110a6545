//! transformer-claims: checks, by measurement, the standard answers to 21 Transformer
//! interview questions.
//!
//! Where to look:
//! - [`core`]: the Candle model core (attention, masks, norms, FFN, positions, layers).
//! - [`train`]: the one training loop, schedules, seeded synthetic tasks, seed runner.
//! - [`spec`]: every question's claims as data (statement, kind, rule, prior, lock).
//! - [`claim`]: the verdict layer — rules as values that decide and describe
//!   themselves; [`stats`]: estimates with intervals; [`kit`]: what every experiment
//!   repeats (arms × seeds sweeps, grouped estimates, estimate columns).
//! - [`output`]: atomic files, CSV, charts (redrawn from CSV) and the report.
//! - [`registry`]: the one list of the 21 questions and their experiments.
//! - [`data`] and [`real`]: real corpora (fetched from package registries) and the
//!   real-data track that re-decides the training claims on them (`harness real`).
//! - [`experiment`]: the context every experiment binary runs in; [`cli`] its flags.
//!
//! The experiments themselves live in `experiments/qNN_*.rs`, one binary each.

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

pub mod alloc;
pub mod claim;
pub mod cli;
pub mod core;
pub mod data;
pub mod experiment;
pub mod fmt;
pub mod kit;
pub mod output;
pub mod perf;
pub mod real;
pub mod registry;
pub mod rng;
pub mod setup;
pub mod spec;
pub mod stats;
pub mod tokenize;
pub mod train;
pub mod verdict;

/// What most experiments need, in one import.
pub mod prelude {
    pub use crate::claim::{ClaimSpec, Evidence, Kind, Rule};
    pub use crate::core::*;
    pub use crate::experiment::{Ctx, Mode};
    pub use crate::kit::{self, Grouped};
    pub use crate::output::chart::{ChartKind, ChartSpec};
    pub use crate::output::table::Table;
    pub use crate::rng::{seeded, Rng64};
    pub use crate::stats::IntervalKind;
    pub use crate::stats::{self, Estimate};
    pub use crate::verdict::{Answer, Verdict};
    pub use anyhow::{bail, Context as _, Result};
    pub use candle_core::{DType, Device, IndexOp, Module, Tensor, Var, D};
    pub use serde::Serialize;
}
