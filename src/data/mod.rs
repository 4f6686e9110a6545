//! Real data: readers for public-domain corpora fetched from package registries, and
//! the metrics the real-data track needs. Tests never download: they write the small
//! files they read.
//!
//! - [`chrf`]: chrF, the translation metric, checked against sacreBLEU's numbers.

pub mod chrf;
