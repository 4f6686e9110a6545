//! Everything written to disk: atomic files, CSV tables, charts, the report.

pub mod atomic;
pub mod chart;
pub mod real_report;
pub mod report;
pub mod table;
