//! Shared size, colours, markers, tick labels, the legend panel and the embedded font
//! (no system font library needed).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor};

pub const SIZE: (u32, u32) = (900, 560);
/// Width of the legend panel to the right of the plot (legends never cover data).
pub const LEGEND_W: u32 = 230;
pub const FONT: &str = "sans-serif";

/// Ten colours (Tableau 10); with the five marker shapes and dashes after ten series,
/// at least 20 series can be told apart.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Series past the tenth are drawn dashed.
pub fn dashed(i: usize) -> bool {
    i >= PALETTE.len()
}

/// Marker shape of series `i`: circle, triangle, square, diamond, cross.
#[derive(Clone, Copy)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
    Cross,
}

pub fn marker(i: usize) -> Marker {
    match (i + i / PALETTE.len()) % 5 {
        0 => Marker::Circle,
        1 => Marker::Triangle,
        2 => Marker::Square,
        3 => Marker::Diamond,
        _ => Marker::Cross,
    }
}

/// Draw marker `m` at pixel (x, y) on `area`.
pub fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: Marker,
    (x, y): (i32, i32),
    c: RGBColor,
) {
    let r = 4;
    let _ = match m {
        Marker::Circle => area.draw(&Circle::new((x, y), r, c.filled())),
        Marker::Triangle => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)],
            c.filled(),
        )),
        Marker::Square => area.draw(&Rectangle::new(
            [(x - r, y - r), (x + r, y + r)],
            c.filled(),
        )),
        Marker::Diamond => area.draw(&Polygon::new(
            vec![
                (x, y - r - 1),
                (x + r + 1, y),
                (x, y + r + 1),
                (x - r - 1, y),
            ],
            c.filled(),
        )),
        Marker::Cross => {
            let _ = area.draw(&PathElement::new(
                vec![(x - r, y - r), (x + r, y + r)],
                c.stroke_width(2),
            ));
            area.draw(&PathElement::new(
                vec![(x - r, y + r), (x + r, y - r)],
                c.stroke_width(2),
            ))
        }
    };
}

/// Register DejaVu Sans (bundled by the `dejavu` crate) once per process.
pub fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A tick label: at most 3 significant digits, integers as integers, powers of ten
/// on log axes as `1e−5`.
pub fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if a >= 1.0 && (a - a.round()).abs() < 1e-9 * a && a < 1e6 {
        return format!("{}", v.round() as i64).replace('-', "−");
    }
    crate::fmt::sig(v, 3)
}

/// A tick label on a linear axis spanning [lo, hi]: values within rounding noise of
/// zero print as 0.
pub fn tick_linear(v: f64, lo: f64, hi: f64) -> String {
    if v.abs() <= 1e-9 * (hi - lo).abs().max(f64::MIN_POSITIVE) {
        "0".into()
    } else {
        tick(v)
    }
}

/// Axis range with a margin; on a log axis only positive values count, and the range
/// is widened to whole decades so every decade has labelled ticks.
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
        if lo == hi {
            return (lo / 3.0, hi * 3.0);
        }
        return (lo / 1.4, hi * 1.4);
    }
    if lo == hi {
        lo -= 0.5 * lo.abs().max(1.0);
        hi += 0.5 * hi.abs().max(1.0);
    }
    let m = 0.06 * (hi - lo);
    (lo - m, hi + m)
}

/// Labelled ticks for a log axis over [lo, hi]: 1-2-5 steps per decade when few
/// decades are shown, every decade (or every few) when many are.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return vec![];
    }
    let d0 = lo.log10().floor() as i32;
    let d1 = hi.log10().ceil() as i32;
    let decades = d1 - d0;
    let steps: &[f64] = match decades {
        0..=2 => &[1.0, 2.0, 5.0],
        3..=4 => &[1.0, 3.0],
        _ => &[1.0],
    };
    let every = (decades / 8).max(1);
    let mut out = vec![];
    for d in d0..=d1 {
        if (d - d0) % every != 0 {
            continue;
        }
        for s in steps {
            let v = s * 10f64.powi(d);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    if out.len() < 2 {
        // Inside one step: label the ends.
        out = vec![lo * 1.0001, hi * 0.9999];
    }
    out
}

/// What a legend entry shows beside its text.
pub enum Swatch {
    /// A line series: colour, dashed, marker (None: no marker).
    Line(RGBColor, bool, Option<Marker>),
    Bar(RGBColor),
    /// A reference line (grey, dashed).
    Reference,
}

/// Split the canvas into the plot and a legend panel on the right (only when there
/// is something to list), so the legend never covers data.
pub fn split<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: usize,
) -> (DrawingArea<DB, Shift>, Option<DrawingArea<DB, Shift>>) {
    if entries == 0 {
        return (root.clone(), None);
    }
    let w = root.dim_in_pixel().0;
    let (a, b) = root.split_horizontally(w.saturating_sub(LEGEND_W));
    (a, Some(b))
}

/// Draw the legend entries down the panel, wrapping long text.
pub fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Swatch)]) {
    let style = TextStyle::from((FONT, 14).into_font()).color(&BLACK);
    let mut y = 30;
    for (text, sw) in entries {
        let yc = y + 8;
        match sw {
            Swatch::Line(c, dash, m) => {
                if *dash {
                    for k in 0..3 {
                        let _ = area.draw(&PathElement::new(
                            vec![(8 + 9 * k, yc), (13 + 9 * k, yc)],
                            c.stroke_width(2),
                        ));
                    }
                } else {
                    let _ = area.draw(&PathElement::new(
                        vec![(8, yc), (34, yc)],
                        c.stroke_width(2),
                    ));
                }
                if let Some(m) = m {
                    draw_marker(area, *m, (21, yc), *c);
                }
            }
            Swatch::Bar(c) => {
                let _ = area.draw(&Rectangle::new([(12, yc - 7), (30, yc + 7)], c.filled()));
            }
            Swatch::Reference => {
                for k in 0..3 {
                    let _ = area.draw(&PathElement::new(
                        vec![(8 + 9 * k, yc), (13 + 9 * k, yc)],
                        BLACK.mix(0.6).stroke_width(2),
                    ));
                }
            }
        }
        let lines = wrap(text, 24);
        for (i, line) in lines.iter().enumerate() {
            let _ = area.draw_text(line, &style, (42, y + i as i32 * 17));
        }
        y += 17 * (lines.len().max(1) as i32 - 1) + 26;
    }
}

/// Greedy word wrap at `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_well() {
        assert_eq!(tick(0.00001), "1e−5");
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(0.999999999), "1");
        assert_eq!(tick_linear(-5.55e-17, -0.05, 0.05), "0");
    }

    #[test]
    fn log_ticks_label_every_decade_and_below_ten() {
        assert_eq!(log_ticks(1.5, 60.0), vec![2.0, 5.0, 10.0, 20.0, 50.0]);
        assert_eq!(log_ticks(1e-9, 1.0).len(), 10);
        assert_eq!(tick(1e-11), "1e−11");
    }
}
