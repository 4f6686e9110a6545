//! Line chart: numeric x, optional log axes, error bars, reference lines; legend in a
//! panel beside the plot.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::prelude::*;

use super::style::{
    color, dashed, draw_marker, ensure_font, legend, log_ticks, marker, range, ref_color, tick,
    tick_linear, Swatch, FONT, SIZE,
};
use super::{frame, within_metric, y_values, ChartSpec, Series};

pub(crate) fn draw(path: &Path, spec: &ChartSpec, series: &[Series]) -> Result<()> {
    ensure_font();
    let xs: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            s.x.iter()
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| anyhow!("x column '{}': '{}' is not a number", spec.x, v))
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let integer_x = xs.iter().flatten().all(|v| v.fract() == 0.0);
    // A log x axis over a handful of settings (n = 32, 128) is labelled at those
    // settings; otherwise at 1-2-5 steps.
    let mut distinct: Vec<f64> = xs.iter().flatten().copied().filter(|v| *v > 0.0).collect();
    distinct.sort_by(|a, b| a.total_cmp(b));
    distinct.dedup();
    let xr = range(xs.iter().flatten().cloned(), spec.x_log);
    let x_ticks = if distinct.len() <= 8 {
        distinct
    } else {
        log_ticks(xr.0, xr.1)
    };
    let yvals = y_values(spec, series);
    let yr = within_metric(spec, range(yvals.into_iter(), spec.y_log));
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut entries: Vec<(String, Swatch)> = vec![];
    if series.len() > 1 || !spec.refs.is_empty() {
        for (i, s) in series.iter().enumerate() {
            let m = (!spec.no_markers).then(|| marker(i));
            entries.push((s.name.clone(), Swatch::Line(color(i), dashed(i), m)));
        }
    }
    let (plot, panel) = frame(&root, spec, &mut entries)?;
    let mut b = ChartBuilder::on(&plot);
    b.margin(16).x_label_area_size(48).y_label_area_size(78);
    let xfmt = move |v: &f64| {
        if integer_x && !spec.x_log && v.fract().abs() > 1e-9 {
            String::new()
        } else if spec.x_log {
            tick(*v)
        } else {
            tick_linear(*v, xr.0, xr.1)
        }
    };
    let yfmt = |v: &f64| {
        if spec.y_log {
            tick(*v)
        } else {
            tick_linear(*v, yr.0, yr.1)
        }
    };
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(&spec.x_label)
                .y_desc(&spec.y_label)
                .x_labels(10)
                .y_labels(10)
                .x_label_formatter(&xfmt)
                .y_label_formatter(&yfmt)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (ri, r) in spec.refs.iter().enumerate() {
                let y = spec.fix_y(r.y);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(xr.0, y), (xr.1, y)],
                        8,
                        6,
                        ref_color(ri).stroke_width(2),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            for (i, (s, x)) in series.iter().zip(&xs).enumerate() {
                let c = color(i);
                let pts: Vec<(f64, f64)> = x
                    .iter()
                    .cloned()
                    .zip(s.y.iter().cloned())
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .collect();
                if dashed(i) {
                    chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 10, 6, c.stroke_width(2)))
                        .map_err(|e| anyhow!("{e}"))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                        .map_err(|e| anyhow!("{e}"))?;
                }
                if let Some(err) = &s.err {
                    let bars = x
                        .iter()
                        .zip(err)
                        .filter(|(a, (l, h))| a.is_finite() && l.is_finite() && h.is_finite());
                    chart
                        .draw_series(bars.map(|(&xv, &(l, h))| {
                            PathElement::new(vec![(xv, l), (xv, h)], c.stroke_width(1))
                        }))
                        .map_err(|e| anyhow!("{e}"))?;
                }
                if !spec.no_markers {
                    for p in &pts {
                        draw_marker(&root, marker(i), chart.backend_coord(p), c);
                    }
                }
            }
        }};
    }
    match (spec.x_log, spec.y_log) {
        (false, false) => body!(b
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(|e| anyhow!("{e}"))?),
        (true, false) => body!(b
            .build_cartesian_2d(
                (xr.0..xr.1).log_scale().with_key_points(x_ticks.clone()),
                yr.0..yr.1
            )
            .map_err(|e| anyhow!("{e}"))?),
        (false, true) => body!(b
            .build_cartesian_2d(
                xr.0..xr.1,
                (yr.0..yr.1)
                    .log_scale()
                    .with_key_points(log_ticks(yr.0, yr.1))
            )
            .map_err(|e| anyhow!("{e}"))?),
        (true, true) => body!(b
            .build_cartesian_2d(
                (xr.0..xr.1).log_scale().with_key_points(x_ticks.clone()),
                (yr.0..yr.1)
                    .log_scale()
                    .with_key_points(log_ticks(yr.0, yr.1))
            )
            .map_err(|e| anyhow!("{e}"))?),
    }
    if let Some(p) = panel {
        legend(&p, &entries);
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
