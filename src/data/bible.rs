//! English–Spanish verse pairs from two Bibles in the same versification (KJV and
//! Reina-Valera 1909 in SWORD's KJV scheme): slot i of one is slot i of the other.
//!
//! Chapters are the runs of non-empty English slots (the empty slots between them are
//! book and chapter headings). In a few chapters the Spanish text moves a verse across
//! the chapter boundary, which shifts every pair after it; such chapters are detected
//! and dropped, by two rules fixed before looking at which chapters they catch:
//! - **missing**: a slot that has English text has no Spanish text;
//! - **shifted**: in a chapter of at least [`SHIFT_MIN_VERSES`] verses, the
//!   correlation of log verse lengths (English against Spanish) is higher by at least
//!   [`SHIFT_MARGIN`] when the Spanish side is moved by one slot than when it is not.

use anyhow::{bail, Result};

/// Chapters shorter than this are not tested for a shift (too few verses).
pub const SHIFT_MIN_VERSES: usize = 8;
/// How much better the shifted length correlation must be to call a chapter shifted.
pub const SHIFT_MARGIN: f64 = 0.2;

/// KJV books with their chapter counts, Old Testament then New.
pub const OT_BOOKS: [(&str, usize); 39] = [
    ("Genesis", 50),
    ("Exodus", 40),
    ("Leviticus", 27),
    ("Numbers", 36),
    ("Deuteronomy", 34),
    ("Joshua", 24),
    ("Judges", 21),
    ("Ruth", 4),
    ("1 Samuel", 31),
    ("2 Samuel", 24),
    ("1 Kings", 22),
    ("2 Kings", 25),
    ("1 Chronicles", 29),
    ("2 Chronicles", 36),
    ("Ezra", 10),
    ("Nehemiah", 13),
    ("Esther", 10),
    ("Job", 42),
    ("Psalms", 150),
    ("Proverbs", 31),
    ("Ecclesiastes", 12),
    ("Song of Solomon", 8),
    ("Isaiah", 66),
    ("Jeremiah", 52),
    ("Lamentations", 5),
    ("Ezekiel", 48),
    ("Daniel", 12),
    ("Hosea", 14),
    ("Joel", 3),
    ("Amos", 9),
    ("Obadiah", 1),
    ("Jonah", 4),
    ("Micah", 7),
    ("Nahum", 3),
    ("Habakkuk", 3),
    ("Zephaniah", 3),
    ("Haggai", 2),
    ("Zechariah", 14),
    ("Malachi", 4),
];
pub const NT_BOOKS: [(&str, usize); 27] = [
    ("Matthew", 28),
    ("Mark", 16),
    ("Luke", 24),
    ("John", 21),
    ("Acts", 28),
    ("Romans", 16),
    ("1 Corinthians", 16),
    ("2 Corinthians", 13),
    ("Galatians", 6),
    ("Ephesians", 6),
    ("Philippians", 4),
    ("Colossians", 4),
    ("1 Thessalonians", 5),
    ("2 Thessalonians", 3),
    ("1 Timothy", 6),
    ("2 Timothy", 4),
    ("Titus", 3),
    ("Philemon", 1),
    ("Hebrews", 13),
    ("James", 5),
    ("1 Peter", 5),
    ("2 Peter", 3),
    ("1 John", 5),
    ("2 John", 1),
    ("3 John", 1),
    ("Jude", 1),
    ("Revelation", 22),
];

/// One aligned verse.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// "Genesis 1" (or "chapter 12" when the versification is not the KJV one).
    pub chapter: String,
    pub en: String,
    pub es: String,
}

/// A chapter left out, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropped {
    pub chapter: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct Aligned {
    pub pairs: Vec<Pair>,
    pub chapters: usize,
    pub dropped: Vec<Dropped>,
}

fn corr(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Chapter names for a testament with `n` chapters: the KJV books when the count
/// matches, otherwise "chapter k".
fn names(books: &[(&str, usize)], n: usize, label: &str) -> Vec<String> {
    let total: usize = books.iter().map(|b| b.1).sum();
    if total == n {
        books
            .iter()
            .flat_map(|(b, c)| (1..=*c).map(move |k| format!("{b} {k}")))
            .collect()
    } else {
        (1..=n).map(|k| format!("{label} chapter {k}")).collect()
    }
}

/// Align one testament's stripped verse slots. `books` names its chapters.
pub fn align(
    en: &[String],
    es: &[String],
    books: &[(&str, usize)],
    label: &str,
) -> Result<Aligned> {
    if en.len() != es.len() {
        bail!(
            "the two texts have {} and {} verse slots: not the same versification",
            en.len(),
            es.len()
        );
    }
    let mut chapters: Vec<Vec<usize>> = vec![];
    let mut cur = vec![];
    for (i, t) in en.iter().enumerate() {
        if t.is_empty() {
            if !cur.is_empty() {
                chapters.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(i);
        }
    }
    if !cur.is_empty() {
        chapters.push(cur);
    }
    let names = names(books, chapters.len(), label);
    let mut out = Aligned {
        chapters: chapters.len(),
        ..Default::default()
    };
    for (c, slots) in chapters.iter().enumerate() {
        let missing = slots.iter().filter(|&&i| es[i].is_empty()).count();
        let reason = if missing > 0 {
            Some(format!("{missing} verse(s) missing in the Spanish text"))
        } else if slots.len() >= SHIFT_MIN_VERSES {
            let a: Vec<f64> = slots
                .iter()
                .map(|&i| (1.0 + en[i].chars().count() as f64).ln())
                .collect();
            let b: Vec<f64> = slots
                .iter()
                .map(|&i| (1.0 + es[i].chars().count() as f64).ln())
                .collect();
            let n = a.len();
            let here = corr(&a, &b);
            let shifted = corr(&a[1..], &b[..n - 1]).max(corr(&a[..n - 1], &b[1..]));
            (shifted - here >= SHIFT_MARGIN).then(|| {
                format!(
                    "Spanish verses one slot off (length correlation {:.2} shifted against {:.2} aligned)",
                    shifted, here
                )
            })
        } else {
            None
        };
        match reason {
            Some(r) => out.dropped.push(Dropped {
                chapter: names[c].clone(),
                reason: r,
            }),
            None => out.pairs.extend(slots.iter().map(|&i| Pair {
                chapter: names[c].clone(),
                en: en[i].clone(),
                es: es[i].clone(),
            })),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn pairs_slots_and_drops_missing_and_shifted_chapters() {
        // Heading slots are empty; chapter 2 misses a Spanish verse; chapter 3 is
        // shifted by one slot (verse lengths say so).
        let lens = [5, 40, 8, 60, 12, 70, 9, 50, 30];
        let long: Vec<String> = lens.iter().map(|&n| "x".repeat(n)).collect();
        let mut en = vec![
            "".to_string(),
            "a b".into(),
            "c d".into(),
            "".into(),
            "e".into(),
            "f".into(),
            "".into(),
        ];
        let mut es = vec![
            "".to_string(),
            "A B".into(),
            "C D".into(),
            "".into(),
            "E".into(),
            "".into(),
            "".into(),
        ];
        en.extend(long.iter().cloned());
        es.push(String::from("yy"));
        es.extend(long[..long.len() - 1].iter().map(|t| format!("{t}y")));
        let a = align(&en, &es, &[], "test").unwrap();
        assert_eq!(a.chapters, 3);
        assert_eq!(a.pairs.len(), 2);
        assert_eq!(a.pairs[0].es, "A B");
        assert_eq!(a.dropped.len(), 2, "{:?}", a.dropped);
        assert!(a.dropped[0].reason.contains("missing"));
        assert!(a.dropped[1].reason.contains("one slot off"));
        assert!(align(&s(&["a"]), &s(&[]), &[], "t").is_err());
    }

    #[test]
    fn kjv_chapter_counts() {
        assert_eq!(OT_BOOKS.iter().map(|b| b.1).sum::<usize>(), 929);
        assert_eq!(NT_BOOKS.iter().map(|b| b.1).sum::<usize>(), 260);
        assert_eq!(names(&OT_BOOKS, 929, "OT")[128], "Numbers 12");
    }
}
