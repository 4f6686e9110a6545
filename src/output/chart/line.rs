//! Line chart: numeric x, optional log axes, optional error bars.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;

use super::style::{color, ensure_font, range, FONT, SIZE};
use super::{ChartSpec, Series};

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
    let xr = range(xs.iter().flatten().cloned(), spec.x_log);
    let yvals = series.iter().flat_map(|s| {
        let e = s.err.clone().unwrap_or_default();
        s.y.clone()
            .into_iter()
            .chain(e.into_iter().flat_map(|(a, b)| [a, b]))
    });
    let yr = range(yvals, spec.y_log);
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut b = ChartBuilder::on(&root);
    b.caption(&spec.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(&spec.x_label)
                .y_desc(&spec.y_label)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (i, (s, x)) in series.iter().zip(&xs).enumerate() {
                let c = color(i);
                let pts: Vec<(f64, f64)> = x
                    .iter()
                    .cloned()
                    .zip(s.y.iter().cloned())
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(|e| anyhow!("{e}"))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(|e| anyhow!("{e}"))?;
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
    match (spec.x_log, spec.y_log) {
        (false, false) => body!(b
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(|e| anyhow!("{e}"))?),
        (true, false) => body!(b
            .build_cartesian_2d((xr.0..xr.1).log_scale(), yr.0..yr.1)
            .map_err(|e| anyhow!("{e}"))?),
        (false, true) => body!(b
            .build_cartesian_2d(xr.0..xr.1, (yr.0..yr.1).log_scale())
            .map_err(|e| anyhow!("{e}"))?),
        (true, true) => body!(b
            .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
            .map_err(|e| anyhow!("{e}"))?),
    }
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
