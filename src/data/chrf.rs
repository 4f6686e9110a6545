//! chrF (Popović 2015): the F-score of character n-grams, n = 1…6, with recall weighted
//! β = 2, whitespace removed — computed as sacreBLEU 2.x does (corpus statistics
//! summed over sentences; precision and recall averaged over the orders both sides
//! have). Tested against numbers sacreBLEU 2.6.0 printed for the same sentences.

use std::collections::HashMap;

/// Character n-gram orders.
pub const ORDER: usize = 6;
/// Recall weight.
pub const BETA: f64 = 2.0;

/// Per order: (hypothesis n-grams, reference n-grams, matches).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChrfStats {
    pub counts: [[u64; 3]; ORDER],
}

impl ChrfStats {
    pub fn add(&mut self, other: &ChrfStats) {
        for n in 0..ORDER {
            for k in 0..3 {
                self.counts[n][k] += other.counts[n][k];
            }
        }
    }

    /// chrF on 0…100 from these statistics.
    pub fn score(&self) -> f64 {
        let eps = 1e-16;
        let factor = BETA * BETA;
        let (mut p, mut r, mut eff) = (0.0, 0.0, 0usize);
        for [h, rf, m] in self.counts {
            p += if h > 0 { m as f64 / h as f64 } else { eps };
            r += if rf > 0 { m as f64 / rf as f64 } else { eps };
            if h > 0 && rf > 0 {
                eff += 1;
            }
        }
        if eff == 0 {
            return 0.0;
        }
        let (p, r) = (p / eff as f64, r / eff as f64);
        if p + r == 0.0 {
            return 0.0;
        }
        100.0 * (1.0 + factor) * p * r / (factor * p + r)
    }
}

fn ngrams(chars: &[char], n: usize) -> HashMap<&[char], u64> {
    let mut m = HashMap::new();
    if chars.len() >= n {
        for w in chars.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

/// The n-gram statistics of one hypothesis against one reference.
pub fn stats(hyp: &str, reference: &str) -> ChrfStats {
    let h: Vec<char> = hyp.chars().filter(|c| !c.is_whitespace()).collect();
    let r: Vec<char> = reference.chars().filter(|c| !c.is_whitespace()).collect();
    let mut s = ChrfStats::default();
    for n in 1..=ORDER {
        let (hn, rn) = (ngrams(&h, n), ngrams(&r, n));
        let m: u64 = hn
            .iter()
            .map(|(g, c)| (*c).min(*rn.get(g).unwrap_or(&0)))
            .sum();
        s.counts[n - 1] = [hn.values().sum(), rn.values().sum(), m];
    }
    s
}

/// Sentence-level chrF.
pub fn sentence(hyp: &str, reference: &str) -> f64 {
    stats(hyp, reference).score()
}

/// Corpus-level chrF: statistics summed over all pairs, then one score.
pub fn corpus<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> f64 {
    let mut total = ChrfStats::default();
    for (h, r) in pairs {
        total.add(&stats(h, r));
    }
    total.score()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers printed by sacreBLEU 2.6.0 (`CHRF()` defaults) for the same pairs.
    const GOLDEN: [(&str, &str, f64); 4] = [
        (
            "the cat sat on the mat",
            "the cat is on the mat",
            64.5779420625287,
        ),
        ("hello world", "hello there world", 39.906031460074075),
        ("a", "b", 0.0),
        (
            "Y dijo Dios: Sea la luz",
            "Y dijo Dios: Sea la luz: y fué la luz.",
            63.620730920271015,
        ),
    ];

    #[test]
    fn matches_sacrebleu() {
        for (h, r, want) in GOLDEN {
            let got = sentence(h, r);
            assert!((got - want).abs() < 1e-9, "{h:?} / {r:?}: {got} vs {want}");
        }
        let c = corpus(GOLDEN.iter().map(|(h, r, _)| (*h, *r)));
        assert!((c - 58.5147512670545).abs() < 1e-9, "{c}");
    }

    /// Worked by hand: "ab" against "ab" matches every n-gram of both orders it has.
    #[test]
    fn identical_is_100_and_whitespace_is_ignored() {
        assert!((sentence("ab", "ab") - 100.0).abs() < 1e-12);
        assert!((sentence("a b c", "abc") - 100.0).abs() < 1e-12);
        // "ab" vs "ac": unigrams 1 of 2 match both ways (P = R = 0.5), bigrams none
        // (P = R = 0): averages 0.25 and 0.25, so chrF = 25.
        assert!((sentence("ab", "ac") - 25.0).abs() < 1e-12);
    }
}
