//! Subword tokenizers written in the project: byte-pair encoding (Sennrich et al. 2016)
//! and WordPiece (Schuster & Nakajima 2012; Wu et al. 2016), with encoders, and a
//! generated corpus whose morphology is known ([`corpus`]).
//!
//! Both trainers share one incremental pair table ([`PairTable`]): the training text
//! is reduced once to a word-frequency table, every word is a sequence of symbol ids,
//! and the counts of adjacent pairs are kept up to date as merges are applied, touching
//! only the words that contain the merged pair (found through a pair → words index).
//! The best pair comes from a max-heap with lazy invalidation, so a merge costs time
//! proportional to the words it changes, not to the corpus.
//!
//! Ties are broken by the pair's strings (smaller left symbol, then smaller right
//! symbol), and every map uses a fixed hasher, so training is deterministic.

pub mod bpe;
pub mod corpus;
pub mod wordpiece;

pub use bpe::Bpe;
pub use corpus::{MorphConfig, MorphCorpus};
pub use wordpiece::WordPiece;

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::rc::Rc;

/// A hash map with a fixed hasher (deterministic across runs).
pub type FixedMap<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;
/// A hash set with a fixed hasher.
pub type FixedSet<K> = HashSet<K, BuildHasherDefault<DefaultHasher>>;

/// Words and their counts in whitespace-separated text, sorted by word.
pub fn word_counts(text: &str) -> Vec<(String, u64)> {
    let mut m: FixedMap<&str, u64> = FixedMap::default();
    for w in text.split_whitespace() {
        *m.entry(w).or_insert(0) += 1;
    }
    let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, c)| (k.to_string(), c)).collect();
    v.sort();
    v
}

/// The character offsets where pieces start inside the word (0 and the end excluded);
/// pieces are given as their surface strings (markers already removed).
pub fn boundaries(pieces: &[String]) -> Vec<usize> {
    let mut out = vec![];
    let mut pos = 0;
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    for p in pieces {
        let len = p.chars().count();
        if pos > 0 && pos < total && len > 0 {
            out.push(pos);
        }
        pos += len;
    }
    out.dedup();
    out
}

/// One merge made by a trainer: the pair, its count when merged and its score
/// (the count for BPE, count(ab)/(count(a)·count(b)) for WordPiece).
#[derive(Clone, Debug, PartialEq)]
pub struct MergeStep {
    pub left: String,
    pub right: String,
    pub merged: String,
    pub count: u64,
    pub score: f64,
}

/// The merge loop both trainers share: split each word with `split`, then up to `merges`
/// times take the best pair by `score` (seen at least `min_count` times), name the new
/// symbol with `join`, and merge it everywhere. Returns the alphabet and the merges.
pub(crate) fn learn_merges(
    words: &[(String, u64)],
    merges: usize,
    min_count: u64,
    score: Score,
    split: fn(&str) -> Vec<String>,
    join: fn(&str, &str) -> String,
) -> (Vec<String>, Vec<MergeStep>) {
    let init = words.iter().map(|(w, c)| (split(w), *c)).collect();
    let mut t = PairTable::new(init, score);
    let alphabet: Vec<String> = t.names.iter().map(|s| s.to_string()).collect();
    let mut steps = Vec::with_capacity(merges);
    while steps.len() < merges {
        let Some((p, count, score)) = t.best(min_count.max(1)) else {
            break;
        };
        let (l, r) = (
            t.names[p.0 as usize].to_string(),
            t.names[p.1 as usize].to_string(),
        );
        let merged = join(&l, &r);
        t.merge(p, &merged);
        steps.push(MergeStep {
            left: l,
            right: r,
            merged,
            count,
            score,
        });
    }
    (alphabet, steps)
}

/// How a trainer ranks pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Score {
    /// The pair's count (BPE).
    Count,
    /// count(ab) / (count(a)·count(b)) (WordPiece's likelihood gain).
    Likelihood,
}

type Pair = (u32, u32);

struct Entry {
    score: f64,
    left: Rc<str>,
    right: Rc<str>,
    pair: Pair,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Larger score first; among equal scores the smaller (left, right) strings.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
            .then_with(|| o.right.cmp(&self.right))
    }
}

/// The incremental pair table both trainers run on.
pub(crate) struct PairTable {
    /// Symbol strings by id, and ids by string.
    pub names: Vec<Rc<str>>,
    pub ids: FixedMap<Rc<str>, u32>,
    /// Each distinct word as symbol ids, and its count.
    pub words: Vec<Vec<u32>>,
    pub freqs: Vec<u64>,
    /// Weighted count of each adjacent pair.
    pair_count: FixedMap<Pair, u64>,
    /// The words a pair has occurred in (may hold words it no longer occurs in).
    pair_words: FixedMap<Pair, Vec<u32>>,
    /// Weighted count of each symbol (for the likelihood score).
    unit_count: Vec<u64>,
    /// The pairs each symbol has taken part in (for the likelihood score).
    sym_pairs: Vec<FixedSet<Pair>>,
    score: Score,
    heap: BinaryHeap<Entry>,
}

impl PairTable {
    /// `words`: each word already split into its initial symbols, with its count.
    pub fn new(words: Vec<(Vec<String>, u64)>, score: Score) -> Self {
        // Alphabet ids in sorted order, so ties between single symbols follow strings.
        let mut alphabet: Vec<&String> = words.iter().flat_map(|(s, _)| s.iter()).collect();
        alphabet.sort();
        alphabet.dedup();
        let mut t = PairTable {
            names: vec![],
            ids: FixedMap::default(),
            words: vec![],
            freqs: vec![],
            pair_count: FixedMap::default(),
            pair_words: FixedMap::default(),
            unit_count: vec![],
            sym_pairs: vec![],
            score,
            heap: BinaryHeap::new(),
        };
        for a in alphabet {
            t.symbol(a);
        }
        for (w, (syms, f)) in words.into_iter().enumerate() {
            let ids: Vec<u32> = syms.iter().map(|s| t.ids[s.as_str()]).collect();
            for &s in &ids {
                t.unit_count[s as usize] += f;
            }
            for p in ids.windows(2) {
                let p = (p[0], p[1]);
                *t.pair_count.entry(p).or_insert(0) += f;
                let ws = t.pair_words.entry(p).or_default();
                if ws.last() != Some(&(w as u32)) {
                    ws.push(w as u32);
                }
                t.sym_pairs[p.0 as usize].insert(p);
                t.sym_pairs[p.1 as usize].insert(p);
            }
            t.words.push(ids);
            t.freqs.push(f);
        }
        let mut pairs: Vec<Pair> = t.pair_count.keys().copied().collect();
        pairs.sort();
        for p in pairs {
            t.push(p);
        }
        t
    }

    /// The id of symbol `s`, created if new.
    pub fn symbol(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let id = self.names.len() as u32;
        let rc: Rc<str> = Rc::from(s);
        self.names.push(rc.clone());
        self.ids.insert(rc, id);
        self.unit_count.push(0);
        self.sym_pairs.push(FixedSet::default());
        id
    }

    fn current_score(&self, p: Pair) -> Option<f64> {
        let c = *self.pair_count.get(&p)?;
        if c == 0 {
            return None;
        }
        Some(match self.score {
            Score::Count => c as f64,
            Score::Likelihood => {
                let (a, b) = (
                    self.unit_count[p.0 as usize] as f64,
                    self.unit_count[p.1 as usize] as f64,
                );
                c as f64 / (a * b)
            }
        })
    }

    fn push(&mut self, p: Pair) {
        if let Some(s) = self.current_score(p) {
            self.heap.push(Entry {
                score: s,
                left: self.names[p.0 as usize].clone(),
                right: self.names[p.1 as usize].clone(),
                pair: p,
            });
        }
    }

    /// The best pair whose count is at least `min_count`, with its count and score.
    pub fn best(&mut self, min_count: u64) -> Option<(Pair, u64, f64)> {
        loop {
            let e = self.heap.pop()?;
            match self.current_score(e.pair) {
                Some(s) if s.to_bits() == e.score.to_bits() => {
                    let c = self.pair_count[&e.pair];
                    if c >= min_count {
                        return Some((e.pair, c, s));
                    }
                    // Too rare: drop it (its count can only fall further).
                }
                Some(_) => self.push(e.pair), // stale: re-queue with its current score
                None => {}
            }
        }
    }

    /// Merge every occurrence of `p` into the symbol `merged`; returns its id.
    pub fn merge(&mut self, p: Pair, merged: &str) -> u32 {
        let c = self.symbol(merged);
        let (a, b) = p;
        let mut ws = self.pair_words.remove(&p).unwrap_or_default();
        ws.sort_unstable();
        ws.dedup();
        let mut touched: FixedSet<Pair> = FixedSet::default();
        for &w in &ws {
            let wi = w as usize;
            let old = &self.words[wi];
            if !old.windows(2).any(|x| x[0] == a && x[1] == b) {
                continue;
            }
            let f = self.freqs[wi];
            let mut new = Vec::with_capacity(old.len());
            let mut i = 0;
            let mut k = 0u64;
            while i < old.len() {
                if i + 1 < old.len() && old[i] == a && old[i + 1] == b {
                    new.push(c);
                    i += 2;
                    k += 1;
                } else {
                    new.push(old[i]);
                    i += 1;
                }
            }
            for x in old.windows(2) {
                let q = (x[0], x[1]);
                if let Some(v) = self.pair_count.get_mut(&q) {
                    *v -= f;
                }
                touched.insert(q);
            }
            for x in new.windows(2) {
                let q = (x[0], x[1]);
                *self.pair_count.entry(q).or_insert(0) += f;
                if q.0 == c || q.1 == c {
                    let list = self.pair_words.entry(q).or_default();
                    if list.last() != Some(&w) {
                        list.push(w);
                    }
                    self.sym_pairs[q.0 as usize].insert(q);
                    self.sym_pairs[q.1 as usize].insert(q);
                }
                touched.insert(q);
            }
            self.unit_count[a as usize] -= k * f;
            self.unit_count[b as usize] -= k * f;
            self.unit_count[c as usize] += k * f;
            self.words[wi] = new;
        }
        // Re-queue what may have risen: pairs with the new symbol (both scores) and,
        // for the likelihood score, every pair of a or b (their unit counts fell).
        let mut requeue = vec![];
        for q in touched {
            if self.pair_count.get(&q) == Some(&0) {
                // Forget pairs that no longer occur.
                self.pair_count.remove(&q);
                self.pair_words.remove(&q);
            } else if q.0 == c || q.1 == c {
                requeue.push(q);
            }
        }
        if self.score == Score::Likelihood {
            for s in [a, b, c] {
                let counts = &self.pair_count;
                let set = &mut self.sym_pairs[s as usize];
                set.retain(|q| counts.contains_key(q));
                requeue.extend(set.iter().copied());
            }
        }
        requeue.sort_unstable();
        requeue.dedup();
        for q in requeue {
            self.push(q);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_boundaries() {
        let wc = word_counts("b a b  c\na");
        assert_eq!(wc, vec![("a".into(), 2), ("b".into(), 2), ("c".into(), 1)]);
        let p: Vec<String> = ["un", "do", "ing"].iter().map(|s| s.to_string()).collect();
        assert_eq!(boundaries(&p), vec![2, 4]);
        let p: Vec<String> = ["undo", ""].iter().map(|s| s.to_string()).collect();
        assert_eq!(boundaries(&p), Vec::<usize>::new());
    }
}
