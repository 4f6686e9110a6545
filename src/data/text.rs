//! Loaders for plain text and sentence pairs: the fetched corpora, or any UTF-8 text
//! file and any TSV of pairs a user brings (Tiny Shakespeare, their own translations).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A UTF-8 text file, with Windows line ends made plain.
pub fn load_text(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    let s = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {})",
            p.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(s.replace("\r\n", "\n"))
}

/// Sentence pairs from a TSV: two columns (source, target) or three (a group such as
/// the chapter, source, target). A first line `en\tes` or `chapter\ten\tes` is a
/// header and skipped. Returns (group, source, target); the group is empty for
/// two-column files.
pub fn load_pairs(p: &Path) -> Result<Vec<(String, String, String)>> {
    let text = load_text(p)?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let row = match cols.as_slice() {
            [a, b] => (String::new(), a.to_string(), b.to_string()),
            [g, a, b] => (g.to_string(), a.to_string(), b.to_string()),
            _ => bail!(
                "{} line {}: expected 2 or 3 tab-separated columns, found {}",
                p.display(),
                i + 1,
                cols.len()
            ),
        };
        if i == 0 && (row.1 == "en" || row.1 == "source") {
            continue;
        }
        out.push(row);
    }
    if out.is_empty() {
        bail!("{}: no sentence pairs", p.display());
    }
    Ok(out)
}

/// Write (group, source, target) rows as a three-column TSV with a header; tabs and
/// newlines inside a text become spaces.
pub fn write_pairs<'a>(
    p: &Path,
    rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<()> {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let mut s = String::from("chapter\ten\tes\n");
    for (g, a, b) in rows {
        s.push_str(&format!("{}\t{}\t{}\n", clean(g), clean(a), clean(b)));
    }
    crate::output::atomic::write(p, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_bad_files_say_why() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.tsv");
        write_pairs(&p, [("Genesis 1", "In the\tbeginning", "En el principio")]).unwrap();
        let got = load_pairs(&p).unwrap();
        assert_eq!(
            got,
            vec![(
                "Genesis 1".into(),
                "In the beginning".into(),
                "En el principio".into()
            )]
        );
        let two = d.path().join("two.tsv");
        std::fs::write(&two, "hello\thola\r\nbye\tadiós\n").unwrap();
        assert_eq!(load_pairs(&two).unwrap().len(), 2);
        std::fs::write(&two, "one column\n").unwrap();
        assert!(load_pairs(&two).unwrap_err().to_string().contains("line 1"));
        std::fs::write(&two, [0xffu8, 0xfe]).unwrap();
        assert!(load_text(&two)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }
}
