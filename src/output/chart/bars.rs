//! Bar chart: categorical x, grouped bars per series, optional error bars.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;

use super::style::{color, ensure_font, range, FONT, SIZE};
use super::{ChartSpec, Series};

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
    let k = series.len().max(1) as f64;
    let yvals = series.iter().flat_map(|s| {
        let e = s.err.clone().unwrap_or_default();
        s.y.clone()
            .into_iter()
            .chain(e.into_iter().flat_map(|(a, b)| [a, b]))
    });
    let (mut y0, y1) = range(
        yvals.chain(if spec.y_log { None } else { Some(0.0) }),
        spec.y_log,
    );
    if !spec.y_log && y0 > 0.0 {
        y0 = 0.0;
    }
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut b = ChartBuilder::on(&root);
    b.caption(&spec.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72);
    let n = cats.len() as f64;
    let base = if spec.y_log { y0 } else { 0.0 };
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            let cats2 = cats.clone();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(cats.len() * 2 + 1)
                .x_label_formatter(&move |v: &f64| {
                    let i = (*v - 0.5).round();
                    if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats2.len() {
                        cats2[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .x_desc(&spec.x_label)
                .y_desc(&spec.y_label)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            let w = 0.8 / k;
            for (si, s) in series.iter().enumerate() {
                let c = color(si);
                let mut rects = vec![];
                let mut errs = vec![];
                for (j, x) in s.x.iter().enumerate() {
                    let ci = cats.iter().position(|c| c == x).unwrap_or(0) as f64;
                    let left = ci + 0.1 + w * si as f64;
                    if s.y[j].is_finite() {
                        rects.push(Rectangle::new(
                            [(left, base), (left + w * 0.92, s.y[j])],
                            c.filled(),
                        ));
                    }
                    if let Some(e) = &s.err {
                        let (l, h) = e[j];
                        if l.is_finite() && h.is_finite() {
                            let mid = left + w * 0.46;
                            errs.push(PathElement::new(
                                vec![(mid, l), (mid, h)],
                                BLACK.stroke_width(2),
                            ));
                        }
                    }
                }
                chart
                    .draw_series(rects)
                    .map_err(|e| anyhow!("{e}"))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())
                    });
                chart.draw_series(errs).map_err(|e| anyhow!("{e}"))?;
            }
            if series.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font((FONT, 14))
                    .draw()
                    .map_err(|e| anyhow!("{e}"))?;
            }
        }};
    }
    if spec.y_log {
        body!(b
            .build_cartesian_2d(0.0..n, (y0..y1).log_scale())
            .map_err(|e| anyhow!("{e}"))?)
    } else {
        body!(b
            .build_cartesian_2d(0.0..n, y0..y1)
            .map_err(|e| anyhow!("{e}"))?)
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
