//! Setup of question 19: a generated corpus with known morphology, BPE and WordPiece
//! trained on it, and the measurements: held-out OOV rates, tokens per word,
//! morpheme-boundary precision against chance, a naive replay of the merges, and
//! segmentation sampling under BPE-dropout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::output::table::Table;
use crate::rng::Rng64;
use crate::row;
use crate::tokenize::{
    boundaries, bpe, corpus::MorphCorpus, word_counts, wordpiece, Bpe, MergeStep, MorphConfig,
    WordPiece,
};

#[derive(Serialize)]
pub struct Config {
    pub corpus: MorphConfig,
    /// Corpora generated (one seed each); the first is analysed in full, all of them
    /// give the boundary precision and the tokens-per-word ratio.
    pub corpora: usize,
    /// Merges learned by each trainer (the largest vocabulary is alphabet + this).
    pub max_merges: usize,
    /// Merge counts at which the vocabularies are evaluated (0 = characters only).
    pub merge_grid: Vec<usize>,
    /// Pairs seen fewer times than this are never merged.
    pub min_pair_count: u64,
    /// Merges of the vocabulary used for morpheme boundaries and dropout.
    pub eval_merges: usize,
    /// Naive replay: the most frequent training types and this many merges.
    pub check_types: usize,
    pub check_merges: usize,
    /// Segmentations drawn per held-out type, held-out types sampled for dropout (most
    /// frequent first), dropout probabilities.
    pub samples: usize,
    pub dropout_types: usize,
    pub dropout_ps: Vec<f64>,
    /// Held-out words shown segmented by both tokenizers in the report.
    pub example_words: usize,
}

impl Config {
    pub fn new(quick: bool, eval_merges: usize) -> Self {
        let pick = |q: usize, f: usize| if quick { q } else { f };
        Config {
            corpus: MorphConfig::standard(
                pick(1500, 3000),
                pick(60_000, 150_000),
                pick(15_000, 40_000),
            ),
            corpora: pick(3, 5),
            max_merges: pick(4000, 8000),
            merge_grid: if quick {
                vec![0, 100, 250, 500, 1000, 2000, 4000]
            } else {
                vec![0, 100, 250, 500, 1000, 2000, 4000, 8000]
            },
            min_pair_count: 2,
            eval_merges,
            check_types: pick(1500, 3000),
            check_merges: pick(200, 400),
            samples: pick(20, 50),
            dropout_types: pick(300, 1000),
            dropout_ps: vec![0.0, 0.05, 0.1, 0.2, 0.3],
            example_words: 8,
        }
    }
}

/// The two tokenizers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tok {
    Bpe,
    WordPiece,
}

pub const TOKS: [Tok; 2] = [Tok::Bpe, Tok::WordPiece];

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tok::Bpe => "BPE",
            Tok::WordPiece => "WordPiece",
        })
    }
}

/// One corpus with both tokenizers trained on it.
pub struct Trained {
    pub c: MorphCorpus,
    /// Training word counts, sorted by word.
    pub wc: Vec<(String, u64)>,
    /// Held-out (type id, count).
    pub held: Vec<(u32, u64)>,
    pub held_tokens: u64,
    pub bpe: Bpe,
    pub wp: WordPiece,
    pub train_bytes: usize,
    /// Training seconds (wall clock) of BPE and WordPiece.
    pub seconds: [f64; 2],
}

impl Trained {
    pub fn new(cfg: &Config, rng: &mut Rng64) -> Self {
        let c = MorphCorpus::generate(&cfg.corpus, rng);
        let text = c.text(&c.train);
        let wc = word_counts(&text);
        let held = c.type_counts(&c.heldout);
        let held_tokens = held.iter().map(|(_, f)| f).sum();
        let t0 = Instant::now();
        let bpe = Bpe::train(&wc, cfg.max_merges, cfg.min_pair_count);
        let t1 = Instant::now();
        let wp = WordPiece::train(&wc, cfg.max_merges, cfg.min_pair_count);
        let seconds = [(t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64()];
        Trained {
            c,
            wc,
            held,
            held_tokens,
            bpe,
            wp,
            train_bytes: text.len(),
            seconds,
        }
    }

    pub fn merges(&self, t: Tok) -> &[MergeStep] {
        match t {
            Tok::Bpe => &self.bpe.merges,
            Tok::WordPiece => &self.wp.merges,
        }
    }

    pub fn vocab_size(&self, t: Tok, k: usize) -> usize {
        match t {
            Tok::Bpe => self.bpe.vocab_size(k),
            Tok::WordPiece => self.wp.vocab_size(k),
        }
    }

    /// The word's pieces as surface strings (markers removed).
    pub fn segment(&self, t: Tok, w: &str, k: usize) -> Vec<String> {
        match t {
            Tok::Bpe => bpe::surface(&self.bpe.encode_word(w, k)),
            Tok::WordPiece => wordpiece::surface(&self.wp.encode_word(w, k)),
        }
    }

    /// Tokens and out-of-vocabulary tokens over the held-out text.
    fn count(&self, t: Tok, k: usize) -> (u64, u64) {
        let (mut toks, mut oov) = (0u64, 0u64);
        for &(id, f) in &self.held {
            let w = &self.c.types[id as usize].text;
            match t {
                Tok::Bpe => {
                    let p = self.bpe.encode_word(w, k);
                    // `</w>` alone is not a token of its own in the count.
                    toks += f * p.iter().filter(|s| *s != bpe::EOW).count() as u64;
                    if !w
                        .chars()
                        .all(|ch| self.bpe.alphabet.contains(&ch.to_string()))
                    {
                        oov += f;
                    }
                }
                Tok::WordPiece => {
                    let p = self.wp.encode_word(w, k);
                    toks += f * p.len() as u64;
                    if p == [wordpiece::UNK] {
                        oov += f;
                    }
                }
            }
        }
        (toks, oov)
    }

    /// Training words by falling frequency.
    pub fn by_freq(&self) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.wc.iter().map(|(w, n)| (w.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Share of held-out tokens missing from the `v` most frequent training words.
    pub fn word_oov(&self, v: usize) -> f64 {
        let set: BTreeSet<&str> = self.by_freq().into_iter().take(v).map(|(w, _)| w).collect();
        let miss: u64 = self
            .held
            .iter()
            .filter(|(id, _)| !set.contains(self.c.types[*id as usize].text.as_str()))
            .map(|(_, f)| f)
            .sum();
        miss as f64 / self.held_tokens as f64
    }

    /// Micro-averaged boundary precision and recall over held-out tokens, and the
    /// precision of the same number of boundaries per word placed at random.
    pub fn bounds(&self, t: Tok, k: usize) -> Bounds {
        let (mut tp, mut pred, mut truth, mut chance) = (0.0, 0.0, 0.0, 0.0);
        for &(id, f) in &self.held {
            let w = &self.c.types[id as usize];
            let f = f as f64;
            let got = boundaries(&self.segment(t, &w.text, k));
            let len = w.text.chars().count();
            let hit = got.iter().filter(|b| w.boundaries.contains(b)).count();
            tp += f * hit as f64;
            pred += f * got.len() as f64;
            truth += f * w.boundaries.len() as f64;
            if len > 1 {
                chance += f * got.len() as f64 * w.boundaries.len() as f64 / (len - 1) as f64;
            }
        }
        Bounds {
            precision: tp / pred.max(1.0),
            recall: tp / truth.max(1.0),
            chance: chance / pred.max(1.0),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub precision: f64,
    pub recall: f64,
    pub chance: f64,
}

impl Bounds {
    pub fn lift(&self) -> f64 {
        self.precision / self.chance
    }
    pub fn f1(&self) -> f64 {
        2.0 * self.precision * self.recall / (self.precision + self.recall).max(1e-12)
    }
}

/// One row of the vocabulary grid for one tokenizer.
pub struct GridRow {
    pub merges: usize,
    pub tok: Tok,
    pub vocab_size: usize,
    pub tokens_per_word: f64,
    pub oov: f64,
    pub bounds: Bounds,
}

/// Every tokenizer at every grid size.
pub fn grid(tr: &Trained, cfg: &Config) -> Vec<GridRow> {
    let mut out = vec![];
    for &k in &cfg.merge_grid {
        for t in TOKS {
            let (toks, oov) = tr.count(t, k);
            out.push(GridRow {
                merges: k,
                tok: t,
                vocab_size: tr.vocab_size(t, k),
                tokens_per_word: toks as f64 / tr.held_tokens as f64,
                oov: oov as f64 / tr.held_tokens as f64,
                bounds: tr.bounds(t, k),
            });
        }
    }
    out
}

/// Naive replay: at each merge, recount every pair of the current segmentations and
/// report whether the merged pair was a most frequent one. Returns the share of steps.
pub fn argmax_share(
    words: &[(String, u64)],
    merges: &[MergeStep],
    init: fn(&str) -> Vec<String>,
) -> f64 {
    let mut segs: Vec<(Vec<String>, u64)> = words.iter().map(|(w, c)| (init(w), *c)).collect();
    let mut hits = 0usize;
    for m in merges {
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (s, c) in &segs {
            for x in s.windows(2) {
                *counts.entry((&x[0], &x[1])).or_insert(0) += c;
            }
        }
        let max = counts.values().copied().max().unwrap_or(0);
        if counts.get(&(m.left.as_str(), m.right.as_str())) == Some(&max) {
            hits += 1;
        }
        for (s, _) in segs.iter_mut() {
            let mut out = Vec::with_capacity(s.len());
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
    hits as f64 / merges.len().max(1) as f64
}

/// Segmentation sampling at one dropout probability.
pub struct DropoutRow {
    pub p: f64,
    pub types: usize,
    pub mean_distinct: f64,
    pub share_several: f64,
    pub mean_entropy_bits: f64,
}

pub fn dropout(tr: &Trained, cfg: &Config, rng: &mut Rng64) -> Vec<DropoutRow> {
    let mut held = tr.held.clone();
    held.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let types: Vec<u32> = held
        .iter()
        .take(cfg.dropout_types)
        .map(|(id, _)| *id)
        .collect();
    let k = cfg.eval_merges;
    let mut out = vec![];
    for &p in &cfg.dropout_ps {
        let (mut distinct, mut several, mut ent) = (0.0, 0.0, 0.0);
        for &id in &types {
            let w = &tr.c.types[id as usize].text;
            let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
            for _ in 0..cfg.samples {
                let s = if p == 0.0 {
                    tr.bpe.encode_word(w, k)
                } else {
                    tr.bpe.encode_word_dropout(w, k, p, rng)
                };
                *seen.entry(s).or_insert(0) += 1;
            }
            distinct += seen.len() as f64;
            several += (seen.len() > 1) as u8 as f64;
            ent -= seen
                .values()
                .map(|&n| {
                    let q = n as f64 / cfg.samples as f64;
                    q * q.log2()
                })
                .sum::<f64>();
        }
        let n = types.len() as f64;
        out.push(DropoutRow {
            p,
            types: types.len(),
            mean_distinct: distinct / n,
            share_several: several / n,
            mean_entropy_bits: ent / n,
        });
    }
    out
}

/// Share of held-out tokens whose BPE segmentation is longer than the shortest one
/// its own vocabulary allows.
pub fn greedy_longer(tr: &Trained, k: usize) -> f64 {
    let bv = tr.bpe.vocab(k);
    let (mut longer, mut total) = (0u64, 0u64);
    for &(id, f) in &tr.held {
        let w = &tr.c.types[id as usize].text;
        let g = tr.bpe.encode_word(w, k).len();
        if let Some(s) = tr.bpe.shortest_segmentation(w, &bv) {
            longer += f * (g > s) as u64;
            total += f;
        }
    }
    longer as f64 / total.max(1) as f64
}

/// A held-out word as its true morphemes joined by `·`.
pub fn morphemes(tr: &Trained, id: u32) -> String {
    let w = &tr.c.types[id as usize];
    let chars: Vec<char> = w.text.chars().collect();
    let mut s = String::new();
    for (i, ch) in chars.iter().enumerate() {
        if i > 0 && w.boundaries.contains(&i) {
            s.push('·');
        }
        s.push(*ch);
    }
    s
}

/// Training times, the full merge trace, and a thinned trace for the chart (about 20
/// points a decade).
pub fn merge_tables(tr: &Trained) -> (Table, Table, Table) {
    let mb = tr.train_bytes as f64 / 1e6;
    let mut timing = Table::new(&["tokenizer", "merges", "seconds", "mb_per_s"]);
    let mut trace = Table::new(&["step", "tokenizer", "pair_count", "score"]);
    let mut thin = Table::new(&["step", "tokenizer", "pair_count"]);
    for (i, t) in TOKS.into_iter().enumerate() {
        let ms = tr.merges(t);
        timing.push(row![
            t.to_string(),
            ms.len(),
            tr.seconds[i],
            mb / tr.seconds[i]
        ]);
        let mut last = 0;
        for (s, m) in ms.iter().enumerate() {
            trace.push(row![s + 1, t.to_string(), m.count, m.score]);
            let mark = (((s + 1) as f64).log10() * 20.0).floor() as usize;
            if s == 0 || mark > last || s + 1 == ms.len() {
                last = mark;
                thin.push(row![s + 1, t.to_string(), m.count]);
            }
        }
    }
    (timing, trace, thin)
}

/// Affixes that are whole units of the vocabularies of `k` merges: the table, and how
/// many are BPE units and WordPiece units.
pub fn affix_units(tr: &Trained, k: usize) -> (Table, usize, usize) {
    let (bv, wv) = (tr.bpe.vocab(k), tr.wp.vocab(k));
    let mut t = Table::new(&["affix", "kind", "in_bpe_vocab", "in_wordpiece_vocab"]);
    let (mut in_b, mut in_w) = (0, 0);
    for (kind, list) in [
        ("prefix", &tr.c.prefixes),
        ("derivational", &tr.c.derivational),
        ("inflectional", &tr.c.inflectional),
    ] {
        for a in list.iter() {
            let b = bv.contains(a) || bv.contains(&format!("{a}{}", bpe::EOW));
            let w = if kind == "prefix" {
                wv.contains(a)
            } else {
                wv.contains(&format!("{}{a}", wordpiece::CONT))
            };
            in_b += b as usize;
            in_w += w as usize;
            t.push(row![a.as_str(), kind, b, w]);
        }
    }
    (t, in_b, in_w)
}

/// The first held-out words segmented by both tokenizers: a table and the Markdown
/// the report shows.
pub fn example(tr: &Trained, cfg: &Config) -> (Table, String) {
    let k = cfg.eval_merges;
    let mut t = Table::new(&["word", "morphemes", "bpe", "wordpiece"]);
    let mut md = format!(
        "The first {} held-out words, segmented by the project's own trainers (`tokenize::bpe`, `tokenize::wordpiece`) with vocabularies of {k} merges learned from the generated training text. True morphemes are split by ·; WordPiece marks a word-internal piece with `##`.\n\n| word | morphemes | BPE | WordPiece |\n|---|---|---|---|\n",
        cfg.example_words
    );
    for &id in tr.c.heldout.iter().take(cfg.example_words) {
        let w = &tr.c.types[id as usize].text;
        let b = tr.segment(Tok::Bpe, w, k).join(" ");
        let p = tr.wp.encode_word(w, k).join(" ");
        let m = morphemes(tr, id);
        md.push_str(&format!("| {w} | {m} | {b} | {p} |\n"));
        t.push(row![w.as_str(), m, b, p]);
    }
    (t, md)
}
