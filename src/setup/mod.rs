//! What one question's experiment needs and no other does: its tasks, models and
//! measurements, kept out of `experiments/qNN_*.rs` so that file reads claim → setup →
//! measure → verdict. Shared building blocks live in `core`, `train` and `kit`.

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
