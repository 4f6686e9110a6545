//! WordPiece (Schuster & Nakajima 2012; Wu et al. 2016), in the form used by BERT:
//! a word starts as its first character and its other characters prefixed `##`;
//! training merges the pair with the largest likelihood gain
//! count(ab) / (count(a)·count(b)) rather than the largest count; encoding is greedy
//! longest-match-first from the left, and a word with a character the vocabulary
//! cannot spell becomes `[UNK]`.

use super::{learn_merges, FixedMap, FixedSet, MergeStep, Score};

/// The continuation prefix.
pub const CONT: &str = "##";
/// The unknown-word token.
pub const UNK: &str = "[UNK]";

/// A trained WordPiece model.
#[derive(Clone, Debug)]
pub struct WordPiece {
    /// Initial symbols (first characters, and `##` + other characters), sorted.
    pub alphabet: Vec<String>,
    /// Merges in the order learned.
    pub merges: Vec<MergeStep>,
    /// For each vocabulary symbol, the number of merges after which it exists
    /// (0 for the alphabet).
    born: FixedMap<String, usize>,
    /// Longest symbol, in characters (bounds the longest-match search).
    max_len: usize,
}

/// The initial symbols of a word.
pub fn initial_symbols(word: &str) -> Vec<String> {
    word.chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                c.to_string()
            } else {
                format!("{CONT}{c}")
            }
        })
        .collect()
}

/// The symbol a merge of `l` and `r` makes.
pub fn join(l: &str, r: &str) -> String {
    format!("{l}{}", r.strip_prefix(CONT).unwrap_or(r))
}

impl WordPiece {
    /// Learn up to `merges` merges from a word-frequency table, considering only pairs
    /// seen at least `min_count` times.
    pub fn train(words: &[(String, u64)], merges: usize, min_count: u64) -> Self {
        let (alphabet, steps) = learn_merges(
            words,
            merges,
            min_count,
            Score::Likelihood,
            initial_symbols,
            join,
        );
        Self::from_merges(alphabet, steps)
    }

    pub fn from_merges(alphabet: Vec<String>, merges: Vec<MergeStep>) -> Self {
        let mut born = FixedMap::default();
        for a in &alphabet {
            born.insert(a.clone(), 0);
        }
        for (i, m) in merges.iter().enumerate() {
            born.entry(m.merged.clone()).or_insert(i + 1);
        }
        let max_len = born
            .keys()
            .map(|s| s.strip_prefix(CONT).unwrap_or(s).chars().count())
            .max()
            .unwrap_or(1);
        Self {
            alphabet,
            merges,
            born,
            max_len,
        }
    }

    /// Number of distinct symbols with the first `k` merges.
    pub fn vocab_size(&self, k: usize) -> usize {
        self.born.values().filter(|&&b| b <= k).count()
    }

    /// The symbols with the first `k` merges.
    pub fn vocab(&self, k: usize) -> FixedSet<String> {
        self.born
            .iter()
            .filter(|(_, &b)| b <= k)
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn has(&self, s: &str, k: usize) -> bool {
        self.born.get(s).map(|&b| b <= k).unwrap_or(false)
    }

    /// Greedy longest-match-first with the vocabulary of the first `k` merges; pieces
    /// keep their `##` prefix; `[UNK]` if some position cannot be matched.
    pub fn encode_word(&self, word: &str, k: usize) -> Vec<String> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        let n = chars.len();
        let byte = |i: usize| if i == n { word.len() } else { chars[i].0 };
        let mut out = vec![];
        let mut buf = String::new();
        let mut i = 0;
        while i < n {
            let mut found = None;
            let hi = n.min(i + self.max_len);
            for j in (i + 1..=hi).rev() {
                let piece: &str = if i == 0 {
                    &word[..byte(j)]
                } else {
                    buf.clear();
                    buf.push_str(CONT);
                    buf.push_str(&word[byte(i)..byte(j)]);
                    &buf
                };
                if self.has(piece, k) {
                    found = Some((j, piece.to_string()));
                    break;
                }
            }
            match found {
                Some((j, piece)) => {
                    out.push(piece);
                    i = j;
                }
                None => return vec![UNK.to_string()],
            }
        }
        out
    }
}

/// The surface pieces of a WordPiece segmentation (`##` removed).
pub fn surface(pieces: &[String]) -> Vec<String> {
    pieces
        .iter()
        .map(|p| p.strip_prefix(CONT).unwrap_or(p).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked by hand on {hug:10, pug:5, pun:12, bun:4, hugs:5} (the corpus of the
    /// Hugging Face course's WordPiece chapter). Unit counts: h 15, p 17, b 4, ##u 36,
    /// ##g 20, ##n 16, ##s 5. Every pair scores 1/36 except (##g, ##s) = 5/(20·5) = 1/20,
    /// which wins although it is the rarest pair (BPE would take (##u, ##g), seen 20
    /// times). Then all six pairs tie at exactly 1/36 and the smallest strings win:
    /// (##u, ##g), count 15. Then ##u = 21, and (##u, ##gs), (b, ##u), (##u, ##n) tie at
    /// 1/21 (above (h, ##ug) = 10/225): (##u, ##gs), count 5.
    #[test]
    fn likelihood_merges_by_hand() {
        let wc: Vec<(String, u64)> = [
            ("bun", 4),
            ("hug", 10),
            ("hugs", 5),
            ("pug", 5),
            ("pun", 12),
        ]
        .iter()
        .map(|(w, c)| (w.to_string(), *c as u64))
        .collect();
        let wp = WordPiece::train(&wc, 3, 1);
        let got: Vec<String> = wp
            .merges
            .iter()
            .map(|m| format!("{} {}", m.left, m.right))
            .collect();
        assert_eq!(got[0], "##g ##s");
        assert!((wp.merges[0].score - 1.0 / 20.0).abs() < 1e-12);
        assert_eq!(got[1], "##u ##g");
        assert_eq!(wp.merges[1].count, 15);
        assert!((wp.merges[1].score - 1.0 / 36.0).abs() < 1e-12);
        assert_eq!(got[2], "##u ##gs");
        assert_eq!(wp.merges[2].count, 5);
        assert!((wp.merges[2].score - 1.0 / 21.0).abs() < 1e-12);
        assert_eq!(wp.encode_word("hugs", 3), vec!["h", "##ugs"]);
        assert_eq!(wp.encode_word("hugs", 1), vec!["h", "##u", "##gs"]);
        assert_eq!(wp.encode_word("bugz", 3), vec![UNK]);
        assert_eq!(wp.vocab_size(0), 7);
        assert_eq!(wp.vocab_size(3), 10);
    }
}
