//! Report text about the real-data results, written after the committed run: why a
//! verdict differs from the toy one. The verdicts themselves come from the rules in
//! [`super::spec`]; nothing here changes them.

/// Wall-clock time of the whole committed track on 2 CPU cores (data).
pub const TRACK_TIME: &str = "TBD";

/// One sentence on a claim's real-data result.
pub fn why(id: &str) -> &'static str {
    match id {
        _ => "",
    }
}

pub const TRANSLATION: &str = "";
pub const TABLE3: &str = "";
