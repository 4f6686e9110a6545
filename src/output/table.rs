//! CSV tables: a header and rows of cells, written atomically and read back for charts.
//! Numbers are written with Rust's shortest round-trip formatting, so the same values
//! always give the same bytes.

use std::path::Path;

use anyhow::{bail, Context, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One CSV cell.
pub trait Cell {
    fn cell(&self) -> String;
}

impl Cell for f64 {
    fn cell(&self) -> String {
        if self.is_nan() {
            "NaN".into()
        } else {
            format!("{self}")
        }
    }
}
impl Cell for f32 {
    fn cell(&self) -> String {
        (*self as f64).cell()
    }
}
macro_rules! int_cell {
    ($($t:ty),*) => {$(impl Cell for $t { fn cell(&self) -> String { self.to_string() } })*};
}
int_cell!(usize, u64, u32, i64, i32, bool);
impl Cell for &str {
    fn cell(&self) -> String {
        self.to_string()
    }
}
impl Cell for String {
    fn cell(&self) -> String {
        self.clone()
    }
}

/// Build a row from mixed values: `row![n, "dot", 1.5]`.
#[macro_export]
macro_rules! row {
    ($($x:expr),* $(,)?) => { vec![$($crate::output::table::Cell::cell(&$x)),*] };
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        assert_eq!(
            row.len(),
            self.header.len(),
            "row width differs from header {:?}",
            self.header
        );
        self.rows.push(row);
    }

    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(&self.header)?;
        for r in &self.rows {
            w.write_record(r)?;
        }
        Ok(w.into_inner()?)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        super::atomic::write(path, &self.to_csv()?)
    }

    pub fn read(path: &Path) -> Result<Table> {
        let mut r = csv::Reader::from_path(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let header: Vec<String> = r
            .headers()
            .with_context(|| format!("{}: no header row", path.display()))?
            .iter()
            .map(String::from)
            .collect();
        if header.is_empty() || header.iter().all(|h| h.is_empty()) {
            bail!("{}: empty CSV (no header)", path.display());
        }
        let mut rows = vec![];
        for (i, rec) in r.records().enumerate() {
            let rec =
                rec.with_context(|| format!("{}: malformed row {}", path.display(), i + 2))?;
            rows.push(rec.iter().map(String::from).collect());
        }
        Ok(Table { header, rows })
    }

    pub fn col_index(&self, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no column '{name}' (columns: {})", self.header.join(", ")))
    }

    /// A column parsed as numbers (error names the row that is not a number).
    pub fn numbers(&self, name: &str) -> Result<Vec<f64>> {
        let i = self.col_index(name)?;
        self.rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                row[i].parse::<f64>().with_context(|| {
                    format!(
                        "column '{name}', row {}: '{}' is not a number",
                        r + 2,
                        row[i]
                    )
                })
            })
            .collect()
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let i = self.col_index(name)?;
        Ok(self.rows.iter().map(|r| r[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let mut t = Table::new(&["n", "name", "x"]);
        t.push(row![3usize, "a,b", 0.1f64]);
        t.push(row![4usize, "c", f64::NAN]);
        let p = d.path().join("t.csv");
        t.write(&p).unwrap();
        let r = Table::read(&p).unwrap();
        assert_eq!(r, t);
        assert_eq!(r.numbers("n").unwrap(), [3.0, 4.0]);
        assert!(r
            .numbers("name")
            .unwrap_err()
            .to_string()
            .contains("not a number"));
        assert!(r.col_index("zzz").is_err());
        std::fs::write(&p, "a,b\n1,2,3\n").unwrap();
        assert!(Table::read(&p).is_err());
    }
}
