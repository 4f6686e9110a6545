//! Shared size, colours and the embedded font (no system font library needed).

use plotters::style::{FontStyle, RGBColor};

pub const SIZE: (u32, u32) = (900, 560);
pub const FONT: &str = "sans-serif";

pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Register DejaVu Sans (bundled by the `dejavu` crate) once per process.
pub fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Axis range with a margin; on a log axis only positive values count.
pub fn range(vals: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let v: Vec<f64> = vals
        .filter(|x| x.is_finite() && (!log || *x > 0.0))
        .collect();
    if v.is_empty() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    let (mut lo, mut hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if log {
        return (lo / 1.5, hi * 1.5);
    }
    if lo == hi {
        lo -= 0.5 * lo.abs().max(1.0);
        hi += 0.5 * hi.abs().max(1.0);
    }
    let m = 0.06 * (hi - lo);
    (lo - m, hi + m)
}
