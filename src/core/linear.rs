//! Linear layers with the initialization the experiments declare: weights
//! N(0, gain²/fan_in), biases zero. With gain 1 a unit-variance input gives
//! unit-variance outputs, so q·k has variance d_k, as Q4 assumes.

use candle_nn::{Init, Linear, VarBuilder};

pub fn linear(
    d_in: usize,
    d_out: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    linear_gain(d_in, d_out, bias, 1.0, vb)
}

pub fn linear_gain(
    d_in: usize,
    d_out: usize,
    bias: bool,
    gain: f64,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let std = gain / (d_in as f64).sqrt();
    let w = vb.get_with_hints(
        (d_out, d_in),
        "weight",
        Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    )?;
    let b = if bias {
        Some(vb.get_with_hints(d_out, "bias", Init::Const(0.0))?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}
