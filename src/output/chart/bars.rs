//! Bar charts: categorical x with grouped bars per series (or, for `HBars`,
//! categories down the y axis so long labels read), error bars, reference lines; legend
//! in a panel beside the plot.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::prelude::*;

use super::style::{
    color, ensure_font, legend, log_ticks, range, ref_color, tick, tick_linear, Swatch, FONT, SIZE,
};
use super::{frame, within_metric, y_values, ChartKind, ChartSpec, Series};

pub(crate) fn draw(path: &Path, spec: &ChartSpec, series: &[Series]) -> Result<()> {
    ensure_font();
    let mut cats: Vec<String> = vec![];
    for s in series {
        for x in &s.x {
            if !cats.contains(x) {
                cats.push(x.clone());
            }
        }
    }
    // Category labels that would run into each other under vertical bars (about 7 px
    // a character in a slot of ~540/n px) are laid out horizontally instead.
    let slot = 540.0 / cats.len().max(1) as f64;
    let too_long = cats
        .iter()
        .any(|c| c.chars().count() as f64 * 7.0 > slot - 6.0);
    let horizontal = spec.kind == ChartKind::HBars || too_long;
    let k = series.len().max(1) as f64;
    let yvals = y_values(spec, series);
    let (mut v0, v1) = range(
        yvals
            .into_iter()
            .chain(if spec.y_log { None } else { Some(0.0) }),
        spec.y_log,
    );
    if !spec.y_log && v0 > 0.0 {
        v0 = 0.0;
    }
    let (v0, v1) = within_metric(spec, (v0, v1));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut entries: Vec<(String, Swatch)> = vec![];
    if series.len() > 1 || !spec.refs.is_empty() {
        for (i, s) in series.iter().enumerate() {
            let name = match &s.err {
                Some(_) if series.len() == 1 => format!("{}; black line: interval", s.name),
                _ => s.name.clone(),
            };
            entries.push((name, Swatch::Bar(color(i))));
        }
    }
    let (plot, panel) = frame(&root, spec, &mut entries)?;
    let longest = cats.iter().map(|c| c.chars().count()).max().unwrap_or(4) as u32;
    let mut b = ChartBuilder::on(&plot);
    b.margin(16);
    if horizontal {
        b.x_label_area_size(48)
            .y_label_area_size((longest * 8 + 40).clamp(80, 300));
    } else {
        b.x_label_area_size(48).y_label_area_size(78);
    }
    let n = cats.len() as f64;
    let base = if spec.y_log { v0 } else { 0.0 };
    let cats2 = cats.clone();
    let cat_fmt = move |v: &f64| {
        let i = (*v - 0.5).round();
        if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats2.len() {
            // Horizontal charts list categories top to bottom.
            let k = if horizontal {
                cats2.len() - 1 - i as usize
            } else {
                i as usize
            };
            cats2[k].clone()
        } else {
            String::new()
        }
    };
    let val_fmt = |v: &f64| {
        if spec.y_log {
            tick(*v)
        } else {
            tick_linear(*v, v0, v1)
        }
    };
    // (category position, value) → chart coordinates.
    let at = move |c: f64, v: f64| if horizontal { (v, c) } else { (c, v) };
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            let mut mesh = chart.configure_mesh();
            if horizontal {
                mesh.disable_y_mesh()
                    .y_labels(cats.len() * 2 + 1)
                    .y_label_formatter(&cat_fmt)
                    .x_labels(10)
                    .x_label_formatter(&val_fmt)
                    .x_desc(&spec.y_label)
                    .y_desc(&spec.x_label);
            } else {
                mesh.disable_x_mesh()
                    .x_labels(cats.len() * 2 + 1)
                    .x_label_formatter(&cat_fmt)
                    .y_labels(10)
                    .y_label_formatter(&val_fmt)
                    .x_desc(&spec.x_label)
                    .y_desc(&spec.y_label);
            }
            mesh.label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            let w = 0.8 / k;
            for (si, s) in series.iter().enumerate() {
                let c = color(si);
                let mut rects = vec![];
                let mut errs = vec![];
                let mut zeros = vec![];
                for (j, x) in s.x.iter().enumerate() {
                    let ci = cats.iter().position(|c| c == x).unwrap_or(0) as f64;
                    // Categories run top to bottom in horizontal charts.
                    let ci = if horizontal { n - 1.0 - ci } else { ci };
                    // Horizontal: the first series on top, as in the legend.
                    let slot = if horizontal {
                        k - 1.0 - si as f64
                    } else {
                        si as f64
                    };
                    let left = ci + 0.1 + w * slot;
                    if s.y[j].is_finite() {
                        rects.push(Rectangle::new(
                            [at(left, base), at(left + w * 0.92, s.y[j])],
                            c.filled(),
                        ));
                        if s.y[j] == base {
                            // A zero bar is drawn as a thick line on the axis, not left out.
                            zeros.push(PathElement::new(
                                vec![at(left, base), at(left + w * 0.92, base)],
                                c.stroke_width(4),
                            ));
                        }
                    }
                    if let Some(e) = &s.err {
                        let (l, h) = e[j];
                        if l.is_finite() && h.is_finite() {
                            let mid = left + w * 0.46;
                            errs.push(PathElement::new(
                                vec![at(mid, l), at(mid, h)],
                                BLACK.stroke_width(2),
                            ));
                        }
                    }
                }
                chart.draw_series(rects).map_err(|e| anyhow!("{e}"))?;
                chart.draw_series(errs).map_err(|e| anyhow!("{e}"))?;
                chart.draw_series(zeros).map_err(|e| anyhow!("{e}"))?;
            }
            for (ri, r) in spec.refs.iter().enumerate() {
                let v = spec.fix_y(r.y);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![at(0.0, v), at(n, v)],
                        8,
                        6,
                        ref_color(ri).stroke_width(2),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }};
    }
    match (horizontal, spec.y_log) {
        (false, true) => body!(b
            .build_cartesian_2d(
                0.0..n,
                (v0..v1).log_scale().with_key_points(log_ticks(v0, v1))
            )
            .map_err(|e| anyhow!("{e}"))?),
        (false, false) => body!(b
            .build_cartesian_2d(0.0..n, v0..v1)
            .map_err(|e| anyhow!("{e}"))?),
        (true, true) => body!(b
            .build_cartesian_2d(
                (v0..v1).log_scale().with_key_points(log_ticks(v0, v1)),
                0.0..n
            )
            .map_err(|e| anyhow!("{e}"))?),
        (true, false) => body!(b
            .build_cartesian_2d(v0..v1, 0.0..n)
            .map_err(|e| anyhow!("{e}"))?),
    }
    if let Some(p) = panel {
        legend(&p, &entries);
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
