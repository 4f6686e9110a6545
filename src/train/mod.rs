//! Training: the one loop every experiment uses, schedules, seeded synthetic tasks,
//! and the runner that repeats a run over seeds.

pub mod schedule;
pub mod seeds;
pub mod task;
pub mod tasks;
pub mod trainer;

pub use schedule::Schedule;
pub use seeds::over_seeds;
pub use task::{Batch, Task};
pub use trainer::{train, SeqModel, TrainConfig, TrainLog};
