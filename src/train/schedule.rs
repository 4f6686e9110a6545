//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    Constant,
    /// Linear rise from 0 to the peak over `warmup` steps, then constant.
    Warmup {
        warmup: usize,
    },
    /// Linear rise over `warmup` steps, then ∝ step^−0.5 (Noam shape, peak = lr).
    Noam {
        warmup: usize,
    },
}

impl Schedule {
    /// Multiplier on the peak learning rate at 1-based `step`.
    pub fn factor(&self, step: usize) -> f64 {
        let s = step.max(1) as f64;
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Warmup { warmup } => (s / warmup.max(1) as f64).min(1.0),
            Schedule::Noam { warmup } => {
                let w = warmup.max(1) as f64;
                (s.powf(-0.5)).min(s * w.powf(-1.5)) * w.sqrt()
            }
        }
    }
}

/// The paper's rate: d_model^−0.5 · min(step^−0.5, step · warmup^−1.5).
pub fn noam_rate(d_model: usize, warmup: usize, step: usize) -> f64 {
    let s = step.max(1) as f64;
    (d_model as f64).powf(-0.5) * s.powf(-0.5).min(s * (warmup as f64).powf(-1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noam_peak_matches_paper() {
        let peak = noam_rate(512, 4000, 4000);
        assert!((peak - 6.987712429686844e-4).abs() < 1e-12);
        assert!((Schedule::Noam { warmup: 4000 }.factor(4000) - 1.0).abs() < 1e-12);
        assert!((Schedule::Noam { warmup: 4000 }.factor(16000) - 0.5).abs() < 1e-12);
        assert_eq!(Schedule::Warmup { warmup: 10 }.factor(5), 0.5);
    }
}
