//! Byte-pair encoding (Sennrich et al. 2016): start from characters plus an end-of-word
//! marker `</w>`, and repeatedly merge the most frequent adjacent pair. Encoding applies
//! the learned merges to a word in the order they were learned (lowest rank first);
//! BPE-dropout (Provilkov et al. 2020) skips each applicable merge with probability p
//! at every step, so one word can get several segmentations.
//!
//! One trained model serves every vocabulary size: the model with k merges is the
//! first k merges of a longer run (training is greedy), so encoders take `k`.

use rand::Rng;

use super::{learn_merges, FixedMap, MergeStep, Score};

/// The end-of-word marker.
pub const EOW: &str = "</w>";

/// A trained BPE model.
#[derive(Clone, Debug)]
pub struct Bpe {
    /// The initial symbols (characters seen in training, and `</w>`), sorted.
    pub alphabet: Vec<String>,
    /// The merges in the order learned, with the counts they were learned at.
    pub merges: Vec<MergeStep>,
    /// Symbol strings by id (alphabet first, then merged symbols) and ids by string.
    names: Vec<String>,
    ids: FixedMap<String, u32>,
    /// (left id, right id) → (rank, merged id): the first merge of that pair.
    ranks: FixedMap<(u32, u32), (usize, u32)>,
}

/// The initial symbols of a word: its characters, then `</w>`.
pub fn initial_symbols(word: &str) -> Vec<String> {
    let mut v: Vec<String> = word.chars().map(|c| c.to_string()).collect();
    v.push(EOW.to_string());
    v
}

impl Bpe {
    /// Learn up to `merges` merges from a word-frequency table, stopping early when no
    /// pair occurs at least `min_count` times.
    pub fn train(words: &[(String, u64)], merges: usize, min_count: u64) -> Self {
        let (alphabet, steps) = learn_merges(
            words,
            merges,
            min_count,
            Score::Count,
            initial_symbols,
            |l, r| format!("{l}{r}"),
        );
        Self::from_merges(alphabet, steps)
    }

    /// A model from an alphabet and a merge list.
    pub fn from_merges(alphabet: Vec<String>, merges: Vec<MergeStep>) -> Self {
        let mut b = Self {
            alphabet: alphabet.clone(),
            merges: vec![],
            names: vec![],
            ids: FixedMap::default(),
            ranks: FixedMap::default(),
        };
        for a in &alphabet {
            b.id(a);
        }
        for (i, m) in merges.iter().enumerate() {
            let (l, r, c) = (b.id(&m.left), b.id(&m.right), b.id(&m.merged));
            b.ranks.entry((l, r)).or_insert((i, c));
        }
        b.merges = merges;
        b
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }

    /// Number of distinct symbols with the first `k` merges (alphabet included).
    pub fn vocab_size(&self, k: usize) -> usize {
        let mut v: Vec<&str> = self.alphabet.iter().map(|s| s.as_str()).collect();
        v.extend(self.merges.iter().take(k).map(|m| m.merged.as_str()));
        v.sort_unstable();
        v.dedup();
        v.len()
    }

    /// The symbols with the first `k` merges.
    pub fn vocab(&self, k: usize) -> super::FixedSet<String> {
        let mut v: super::FixedSet<String> = self.alphabet.iter().cloned().collect();
        v.extend(self.merges.iter().take(k).map(|m| m.merged.clone()));
        v
    }

    /// Segment `word` with the first `k` merges (symbols keep `</w>`).
    pub fn encode_word(&self, word: &str, k: usize) -> Vec<String> {
        self.encode_inner(word, k, 0.0, None::<&mut rand_chacha::ChaCha8Rng>)
    }

    /// BPE-dropout: every applicable merge is skipped with probability `p` at each step.
    pub fn encode_word_dropout<R: Rng>(
        &self,
        word: &str,
        k: usize,
        p: f64,
        rng: &mut R,
    ) -> Vec<String> {
        self.encode_inner(word, k, p, Some(rng))
    }

    fn encode_inner<R: Rng>(
        &self,
        word: &str,
        k: usize,
        p: f64,
        mut rng: Option<&mut R>,
    ) -> Vec<String> {
        // Characters never seen in training get no id and never merge.
        const NONE: u32 = u32::MAX;
        let mut unknown: Vec<String> = vec![];
        let mut syms: Vec<u32> = word
            .chars()
            .map(|ch| {
                let mut b = [0u8; 4];
                match self.ids.get(ch.encode_utf8(&mut b) as &str) {
                    Some(&i) => i,
                    None => {
                        unknown.push(ch.to_string());
                        NONE - unknown.len() as u32
                    }
                }
            })
            .collect();
        syms.push(self.ids.get(EOW).copied().unwrap_or(NONE));
        loop {
            // The applicable merge of lowest rank (leftmost on ties) that is not dropped.
            let mut best: Option<(usize, usize, u32)> = None; // (rank, position, merged)
            for i in 0..syms.len().saturating_sub(1) {
                let Some(&(rank, c)) = self.ranks.get(&(syms[i], syms[i + 1])) else {
                    continue;
                };
                if rank >= k {
                    continue;
                }
                if p > 0.0 {
                    if let Some(r) = rng.as_deref_mut() {
                        if r.gen::<f64>() < p {
                            continue;
                        }
                    }
                }
                if best.map(|(b, _, _)| rank < b).unwrap_or(true) {
                    best = Some((rank, i, c));
                }
            }
            let Some((_, i, c)) = best else { break };
            syms[i] = c;
            syms.remove(i + 1);
        }
        syms.into_iter()
            .map(|s| match self.names.get(s as usize) {
                Some(n) => n.clone(),
                None if s == NONE => EOW.to_string(),
                None => unknown[(NONE - s) as usize - 1].clone(),
            })
            .collect()
    }

    /// Whether every symbol of a segmentation is in the vocabulary of `k` merges (a
    /// character never seen in training is out of vocabulary).
    pub fn covers(&self, pieces: &[String], k: usize) -> bool {
        let v = self.vocab(k);
        pieces.iter().all(|p| v.contains(p))
    }

    /// The fewest symbols of the `k`-merge vocabulary that spell `word</w>` (None if
    /// it cannot be spelled); BPE's greedy merges need not find it.
    pub fn shortest_segmentation(
        &self,
        word: &str,
        vocab: &super::FixedSet<String>,
    ) -> Option<usize> {
        let s = format!("{word}{EOW}");
        let idx: Vec<usize> = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .collect();
        // Positions are character boundaries, except inside the marker.
        let eow_start = word.len();
        let n = idx.len() - 1;
        let mut best = vec![usize::MAX; n + 1];
        best[0] = 0;
        for i in 0..n {
            if best[i] == usize::MAX || (idx[i] > eow_start && idx[i] < s.len()) {
                continue;
            }
            for j in i + 1..=n {
                if idx[j] > eow_start && idx[j] < s.len() {
                    continue;
                }
                if vocab.contains(&s[idx[i]..idx[j]]) {
                    best[j] = best[j].min(best[i] + 1);
                }
            }
        }
        (best[n] != usize::MAX).then_some(best[n])
    }
}

/// The surface pieces of a BPE segmentation (the `</w>` marker removed).
pub fn surface(pieces: &[String]) -> Vec<String> {
    pieces.iter().map(|p| p.replace(EOW, "")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::word_counts;

    fn sennrich() -> Vec<(String, u64)> {
        // The dictionary of Sennrich et al.'s reference snippet.
        [("low", 5), ("lower", 2), ("newest", 6), ("widest", 3)]
            .iter()
            .map(|(w, c)| (w.to_string(), *c as u64))
            .collect()
    }

    /// Merges checked by hand: the first five are those of the paper's snippet; then
    /// (e, w), (n, e), (w, est</w>) tie at 6 and the smaller left string wins: (e, w);
    /// then (ew, est</w>) beats (n, ew), and (d, est</w>) wins the three-way tie at 3.
    #[test]
    fn sennrich_example_by_hand() {
        let b = Bpe::train(&sennrich(), 10, 1);
        let got: Vec<(String, u64)> = b
            .merges
            .iter()
            .map(|m| (format!("{} {}", m.left, m.right), m.count))
            .collect();
        let want: Vec<(&str, u64)> = vec![
            ("e s", 9),
            ("es t", 9),
            ("est </w>", 9),
            ("l o", 7),
            ("lo w", 7),
            ("e w", 6),
            ("ew est</w>", 6),
            ("n ewest</w>", 6),
            ("low </w>", 5),
            ("d est</w>", 3),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(s, c)| (s.to_string(), *c))
                .collect::<Vec<_>>()
        );
        // Encoding replays the merges.
        assert_eq!(b.encode_word("lowest", 10), vec!["low", "est</w>"]);
        assert_eq!(
            b.encode_word("newer", 10),
            vec!["n", "ew", "e", "r", "</w>"]
        );
        assert_eq!(
            b.encode_word("lowest", 4),
            vec!["lo", "w", "est</w>"],
            "with four merges"
        );
        assert_eq!(b.vocab_size(0), 11); // d e i l n o r s t w </w>
        assert_eq!(b.vocab_size(10), 21);
    }

    /// The incremental counts agree with a naive recount at every step.
    #[test]
    fn incremental_matches_naive_recount() {
        let text = "the cat sat on the mat the hat that sat ate a rat at the cat hat";
        let wc = word_counts(text);
        let b = Bpe::train(&wc, 40, 1);
        let mut segs: Vec<(Vec<String>, u64)> =
            wc.iter().map(|(w, c)| (initial_symbols(w), *c)).collect();
        for m in &b.merges {
            let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
            for (s, c) in &segs {
                for x in s.windows(2) {
                    *counts.entry((x[0].clone(), x[1].clone())).or_insert(0) += c;
                }
            }
            let max = counts.values().copied().max().unwrap();
            let best = counts.iter().find(|(_, v)| **v == max).unwrap().0.clone();
            assert_eq!((m.left.clone(), m.right.clone()), best);
            assert_eq!(m.count, max);
            for (s, _) in segs.iter_mut() {
                let mut out = vec![];
                let mut i = 0;
                while i < s.len() {
                    if i + 1 < s.len() && s[i] == m.left && s[i + 1] == m.right {
                        out.push(m.merged.clone());
                        i += 2;
                    } else {
                        out.push(s[i].clone());
                        i += 1;
                    }
                }
                *s = out;
            }
        }
    }

    #[test]
    fn dropout_zero_is_plain_and_dropout_varies() {
        let b = Bpe::train(&sennrich(), 10, 1);
        let mut r = crate::rng::seeded(0, 0);
        for w in ["lowest", "newest", "widest", "lower"] {
            assert_eq!(
                b.encode_word_dropout(w, 10, 0.0, &mut r),
                b.encode_word(w, 10)
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            seen.insert(b.encode_word_dropout("newest", 10, 0.5, &mut r));
        }
        assert!(seen.len() > 1);
        // Every dropout segmentation still spells the word.
        for s in seen {
            assert_eq!(s.concat(), "newest</w>");
        }
    }

    #[test]
    fn shortest_segmentation_can_beat_greedy() {
        let b = Bpe::train(&sennrich(), 10, 1);
        let v = b.vocab(10);
        assert_eq!(b.shortest_segmentation("lowest", &v), Some(2));
        assert_eq!(b.shortest_segmentation("x", &v), None);
        // Greedy never does better than the shortest.
        for w in ["newer", "wider", "lowest", "west"] {
            let g = b.encode_word(w, 10).len();
            assert!(b.shortest_segmentation(w, &v).unwrap() <= g);
        }
    }
}
