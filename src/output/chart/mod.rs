//! Charts are a pure function of CSV: an experiment records a [`ChartSpec`] (which CSV,
//! which columns, which axes) in `charts.json`, and the PNG is drawn from the CSV on
//! disk. `harness plot` redraws every PNG from the same specs without running anything.

mod bars;
mod line;
mod style;

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::output::table::Table;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// Numeric x, one line per y column (and per value of the series column).
    Line,
    /// Categorical x, one bar per y column (and per value of the series column).
    Bars,
    /// Categorical y (labels on the left, read easily however long), horizontal bars.
    HBars,
}

/// A horizontal reference line (a decision threshold, chance level, a theory value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefLine {
    pub y: f64,
    /// Legend text, in words ("threshold 2×", "chance").
    pub label: String,
}

/// One y column, optionally with interval columns drawn as error bars.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct YCol {
    pub col: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartSpec {
    /// PNG file name, inside the experiment's folder.
    pub file: String,
    /// CSV file name, inside the experiment's folder.
    pub csv: String,
    pub kind: ChartKind,
    pub title: String,
    pub x: String,
    pub ys: Vec<YCol>,
    /// Split rows into one line/bar group per distinct value of this column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default)]
    pub x_log: bool,
    #[serde(default)]
    pub y_log: bool,
    pub x_label: String,
    pub y_label: String,
    /// Legend text per y column (column → words); columns without one use their name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<(String, String)>,
    /// Legend text for series values: `{}` is replaced by the value ("h = {}").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_format: Option<String>,
    /// Reference lines drawn across the plot (thresholds, bands, chance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<RefLine>,
    /// The metric's range: values and intervals are clipped to it (e.g. [0, 1] for
    /// accuracy), and the y axis does not extend past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_range: Option<(f64, f64)>,
    /// On a log y axis, values ≤ 0 are drawn at this floor (labelled), so a zero
    /// result is visible instead of missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y_floor: Option<f64>,
    /// Draw lines without point markers (dense series).
    #[serde(default)]
    pub no_markers: bool,
}

impl ChartSpec {
    pub fn new(kind: ChartKind, file: &str, csv: &str, title: &str, x: &str, ys: &[&str]) -> Self {
        Self {
            file: file.into(),
            csv: csv.into(),
            kind,
            title: title.into(),
            x: x.into(),
            ys: ys
                .iter()
                .map(|c| YCol {
                    col: c.to_string(),
                    lo: None,
                    hi: None,
                })
                .collect(),
            series: None,
            x_log: false,
            y_log: false,
            x_label: x.into(),
            y_label: ys.join(", "),
            names: vec![],
            series_format: None,
            refs: vec![],
            y_range: None,
            y_floor: None,
            no_markers: false,
        }
    }

    /// Horizontal bars: categories (`x` column) on the vertical axis.
    pub fn hbars(file: &str, csv: &str, title: &str, x: &str, ys: &[&str]) -> Self {
        Self::new(ChartKind::HBars, file, csv, title, x, ys)
    }

    /// Legend text for the y column `col`.
    pub fn name(mut self, col: &str, text: &str) -> Self {
        self.names.push((col.into(), text.into()));
        self
    }

    /// Legend text for series values, `{}` standing for the value: `"h = {}"`.
    pub fn series_format(mut self, fmt: &str) -> Self {
        self.series_format = Some(fmt.into());
        self
    }

    /// A labelled horizontal reference line at `y` (a threshold, chance, theory).
    pub fn reference(mut self, y: f64, label: &str) -> Self {
        self.refs.push(RefLine {
            y,
            label: label.into(),
        });
        self
    }

    /// Clip values and intervals to the metric's range [lo, hi].
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// On a log y axis, draw values ≤ 0 at `floor` so zero stays visible.
    pub fn y_floor(mut self, floor: f64) -> Self {
        self.y_floor = Some(floor);
        self
    }

    /// A y value as drawn: clipped to the metric's range, and raised to the floor on a
    /// log axis.
    pub(crate) fn fix_y(&self, v: f64) -> f64 {
        let mut v = v;
        if let Some((lo, hi)) = self.y_range {
            if v.is_finite() {
                v = v.clamp(lo, hi);
            } else if v == f64::NEG_INFINITY {
                v = lo;
            } else if v == f64::INFINITY {
                v = hi;
            }
        }
        if self.y_log {
            if let Some(f) = self.y_floor {
                if v.is_finite() && v < f {
                    v = f;
                }
            }
        }
        v
    }

    /// Lines without point markers.
    pub fn no_markers(mut self) -> Self {
        self.no_markers = true;
        self
    }

    pub fn line(file: &str, csv: &str, title: &str, x: &str, ys: &[&str]) -> Self {
        Self::new(ChartKind::Line, file, csv, title, x, ys)
    }

    pub fn bars(file: &str, csv: &str, title: &str, x: &str, ys: &[&str]) -> Self {
        Self::new(ChartKind::Bars, file, csv, title, x, ys)
    }

    /// Draw the y column `col` with error bars from columns `lo` and `hi`.
    pub fn interval(mut self, col: &str, lo: &str, hi: &str) -> Self {
        for y in &mut self.ys {
            if y.col == col {
                y.lo = Some(lo.into());
                y.hi = Some(hi.into());
            }
        }
        self
    }

    pub fn series(mut self, col: &str) -> Self {
        self.series = Some(col.into());
        self
    }

    pub fn log_x(mut self) -> Self {
        self.x_log = true;
        self
    }

    pub fn log_y(mut self) -> Self {
        self.y_log = true;
        self
    }

    pub fn labels(mut self, x: &str, y: &str) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }
}

/// One drawable series: a name and points (x, y, optional [lo, hi]).
pub(crate) struct Series {
    pub name: String,
    pub x: Vec<String>,
    pub y: Vec<f64>,
    pub err: Option<Vec<(f64, f64)>>,
}

/// Split the table into the series the spec asks for.
pub(crate) fn series_of(spec: &ChartSpec, t: &Table) -> Result<Vec<Series>> {
    let xs = t.strings(&spec.x)?;
    let groups: Vec<Option<String>> = match &spec.series {
        Some(c) => t.strings(c)?.into_iter().map(Some).collect(),
        None => vec![None; t.rows.len()],
    };
    let mut order: Vec<Option<String>> = vec![];
    for g in &groups {
        if !order.contains(g) {
            order.push(g.clone());
        }
    }
    let mut out = vec![];
    for y in &spec.ys {
        let ys = t.numbers(&y.col)?;
        let lo = y.lo.as_ref().map(|c| t.numbers(c)).transpose()?;
        let hi = y.hi.as_ref().map(|c| t.numbers(c)).transpose()?;
        for g in &order {
            let idx: Vec<usize> = (0..t.rows.len()).filter(|&i| &groups[i] == g).collect();
            let col_name = spec
                .names
                .iter()
                .find(|(c, _)| *c == y.col)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| y.col.replace('_', " "));
            let group_name = g.as_ref().map(|g| match &spec.series_format {
                Some(f) => f.replace("{}", g),
                None => g.clone(),
            });
            let name = match (group_name, spec.ys.len()) {
                (Some(g), 1) => g,
                (Some(g), _) => format!("{col_name}, {g}"),
                (None, _) => col_name,
            };
            let fix = |v: f64| spec.fix_y(v);
            out.push(Series {
                name,
                x: idx.iter().map(|&i| xs[i].clone()).collect(),
                y: idx.iter().map(|&i| fix(ys[i])).collect(),
                err: match (&lo, &hi) {
                    (Some(l), Some(h)) => {
                        Some(idx.iter().map(|&i| (fix(l[i]), fix(h[i]))).collect())
                    }
                    _ => None,
                },
            });
        }
    }
    Ok(out)
}

/// Every y value a chart must show: points, interval ends and reference lines.
pub(crate) fn y_values(spec: &ChartSpec, series: &[Series]) -> Vec<f64> {
    series
        .iter()
        .flat_map(|s| {
            let e = s.err.clone().unwrap_or_default();
            s.y.clone()
                .into_iter()
                .chain(e.into_iter().flat_map(|(a, b)| [a, b]))
        })
        .chain(spec.refs.iter().map(|r| spec.fix_y(r.y)))
        .collect()
}

/// A linear y range narrowed to the metric's range (with a small pad), if it has one.
pub(crate) fn within_metric(spec: &ChartSpec, (lo, hi): (f64, f64)) -> (f64, f64) {
    match (spec.y_range, spec.y_log) {
        (Some((a, b)), false) => {
            let pad = 0.03 * (b - a);
            (lo.max(a - pad), hi.min(b + pad))
        }
        _ => (lo, hi),
    }
}

/// The canvas of a chart: the title across the full width (smaller when long), then
/// the plot and, when there are legend entries, a legend panel to its right. The
/// reference lines are appended to `entries`.
pub(crate) fn frame<DB: plotters::prelude::DrawingBackend>(
    root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    spec: &ChartSpec,
    entries: &mut Vec<(String, style::Swatch)>,
) -> Result<(
    plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    Option<plotters::prelude::DrawingArea<DB, plotters::coord::Shift>>,
)> {
    for (i, r) in spec.refs.iter().enumerate() {
        entries.push((
            r.label.clone(),
            style::Swatch::Reference(style::ref_color(i)),
        ));
    }
    let title_size = if spec.title.chars().count() > 72 {
        16
    } else {
        20
    };
    let body = root
        .titled(&spec.title, (style::FONT, title_size))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(style::split(&body, entries.len()))
}

/// Draw `spec` from the CSV in `dir` into `dir/spec.file` (atomically).
pub fn draw(dir: &Path, spec: &ChartSpec) -> Result<()> {
    let table = Table::read(&dir.join(&spec.csv))?;
    if table.rows.is_empty() {
        bail!("{}: no rows to plot", dir.join(&spec.csv).display());
    }
    let series = series_of(spec, &table)
        .with_context(|| format!("chart {}: {}", spec.file, dir.join(&spec.csv).display()))?;
    let out = dir.join(&spec.file);
    crate::output::atomic::write_with(&out, |tmp| match spec.kind {
        ChartKind::Line => line::draw(tmp, spec, &series),
        ChartKind::Bars | ChartKind::HBars => bars::draw(tmp, spec, &series),
    })
    .with_context(|| format!("cannot draw {}", out.display()))
}

/// Redraw every chart listed in `dir/charts.json`; returns how many were drawn.
pub fn redraw_dir(dir: &Path) -> Result<usize> {
    let p = dir.join("charts.json");
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let specs: Vec<ChartSpec> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a list of chart specs", p.display()))?;
    for s in &specs {
        draw(dir, s)?;
    }
    Ok(specs.len())
}
