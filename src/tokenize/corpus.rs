//! A generated corpus whose morphology is known: words are
//! `[prefix] stem [derivational suffix] [inflectional suffix]`, stems and affixes built
//! from consonant–vowel syllables, stems drawn with Zipf frequencies, affixes with
//! their own Zipf weights. Every word type keeps the character offsets of its morpheme
//! boundaries, so a tokenizer's segmentation can be scored against the truth. Surface
//! forms are unique: a draw whose string another analysis already produced is redrawn.

use rand::Rng;
use serde::Serialize;

use super::FixedMap;
use crate::rng::Rng64;

const CONSONANTS: &[u8] = b"bdfghklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

#[derive(Clone, Debug, Serialize)]
pub struct MorphConfig {
    /// Number of stems.
    pub stems: usize,
    /// Syllables per stem (inclusive range).
    pub stem_syllables: (usize, usize),
    /// Number of prefixes, derivational and inflectional suffixes.
    pub prefixes: usize,
    pub derivational: usize,
    pub inflectional: usize,
    /// Zipf exponent of stem frequencies (frequency ∝ rank^−s).
    pub zipf: f64,
    /// Zipf exponent of the affix choice within each slot.
    pub affix_zipf: f64,
    /// Probability that a word has a prefix, a derivational, an inflectional suffix.
    pub p_prefix: f64,
    pub p_derivational: f64,
    pub p_inflectional: f64,
    /// Running words in the training and the held-out text.
    pub train_words: usize,
    pub heldout_words: usize,
}

impl MorphConfig {
    /// The affix system every Q19 corpus and the tokenizer benchmark use (6 prefixes,
    /// 6 derivational and 5 inflectional suffixes, Zipf stems), at the given sizes.
    pub fn standard(stems: usize, train_words: usize, heldout_words: usize) -> Self {
        MorphConfig {
            stems,
            stem_syllables: (1, 3),
            prefixes: 6,
            derivational: 6,
            inflectional: 5,
            zipf: 1.0,
            affix_zipf: 0.8,
            p_prefix: 0.3,
            p_derivational: 0.4,
            p_inflectional: 0.6,
            train_words,
            heldout_words,
        }
    }
}

/// One word type and its analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct WordType {
    pub text: String,
    /// Character offsets of the morpheme boundaries inside the word.
    pub boundaries: Vec<usize>,
    /// Index of the stem; the affixes by slot (None if absent).
    pub stem: usize,
    pub prefix: Option<usize>,
    pub derivational: Option<usize>,
    pub inflectional: Option<usize>,
}

pub struct MorphCorpus {
    pub stems: Vec<String>,
    pub prefixes: Vec<String>,
    pub derivational: Vec<String>,
    pub inflectional: Vec<String>,
    /// Every word type drawn, in order of first appearance.
    pub types: Vec<WordType>,
    /// The training and held-out texts as indices into `types`.
    pub train: Vec<u32>,
    pub heldout: Vec<u32>,
}

fn syllable(rng: &mut Rng64) -> String {
    let c = CONSONANTS[rng.gen_range(0..CONSONANTS.len())] as char;
    let v = VOWELS[rng.gen_range(0..VOWELS.len())] as char;
    format!("{c}{v}")
}

/// Distinct strings made by `make`.
fn distinct(
    n: usize,
    rng: &mut Rng64,
    taken: &mut std::collections::BTreeSet<String>,
    mut make: impl FnMut(&mut Rng64) -> String,
) -> Vec<String> {
    let mut v = vec![];
    while v.len() < n {
        let s = make(rng);
        if taken.insert(s.clone()) {
            v.push(s);
        }
    }
    v
}

/// Cumulative weights ∝ rank^−s over `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (1..=n)
        .map(|r| {
            acc += (r as f64).powf(-s);
            acc
        })
        .collect()
}

fn draw(cdf: &[f64], rng: &mut Rng64) -> usize {
    let u = rng.gen::<f64>() * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

impl MorphCorpus {
    pub fn generate(cfg: &MorphConfig, rng: &mut Rng64) -> Self {
        let mut taken = std::collections::BTreeSet::new();
        let (lo, hi) = cfg.stem_syllables;
        let stems = distinct(cfg.stems, rng, &mut taken, |r| {
            let k = r.gen_range(lo..=hi);
            let mut s: String = (0..k).map(|_| syllable(r)).collect();
            // Half the stems close on a consonant.
            if r.gen_bool(0.5) {
                s.push(CONSONANTS[r.gen_range(0..CONSONANTS.len())] as char);
            }
            s
        });
        // Prefixes: CV or CVC; suffixes: V, VC or CVC (an affix may be one syllable).
        let prefixes = distinct(cfg.prefixes, rng, &mut taken, |r| {
            let mut s = syllable(r);
            if r.gen_bool(0.5) {
                s.push(CONSONANTS[r.gen_range(0..CONSONANTS.len())] as char);
            }
            s
        });
        let suffix = |r: &mut Rng64| -> String {
            let v = VOWELS[r.gen_range(0..VOWELS.len())] as char;
            let c = CONSONANTS[r.gen_range(0..CONSONANTS.len())] as char;
            match r.gen_range(0..3) {
                0 => format!("{v}{c}"),
                1 => format!(
                    "{c}{v}{}",
                    CONSONANTS[r.gen_range(0..CONSONANTS.len())] as char
                ),
                _ => format!("{c}{v}"),
            }
        };
        let derivational = distinct(cfg.derivational, rng, &mut taken, suffix);
        let inflectional = distinct(cfg.inflectional, rng, &mut taken, suffix);

        let stem_cdf = zipf_cdf(stems.len(), cfg.zipf);
        let pre_cdf = zipf_cdf(prefixes.len(), cfg.affix_zipf);
        let der_cdf = zipf_cdf(derivational.len(), cfg.affix_zipf);
        let inf_cdf = zipf_cdf(inflectional.len(), cfg.affix_zipf);

        let mut c = MorphCorpus {
            stems,
            prefixes,
            derivational,
            inflectional,
            types: vec![],
            train: vec![],
            heldout: vec![],
        };
        let mut by_text: FixedMap<String, u32> = FixedMap::default();
        for which in 0..2 {
            let n = if which == 0 {
                cfg.train_words
            } else {
                cfg.heldout_words
            };
            let mut out = Vec::with_capacity(n);
            while out.len() < n {
                let stem = draw(&stem_cdf, rng);
                let prefix = rng.gen_bool(cfg.p_prefix).then(|| draw(&pre_cdf, rng));
                let derivational = rng
                    .gen_bool(cfg.p_derivational)
                    .then(|| draw(&der_cdf, rng));
                let inflectional = rng
                    .gen_bool(cfg.p_inflectional)
                    .then(|| draw(&inf_cdf, rng));
                let mut text = String::new();
                let mut boundaries = vec![];
                let parts = [
                    prefix.map(|i| c.prefixes[i].as_str()),
                    Some(c.stems[stem].as_str()),
                    derivational.map(|i| c.derivational[i].as_str()),
                    inflectional.map(|i| c.inflectional[i].as_str()),
                ];
                for p in parts.into_iter().flatten() {
                    if !text.is_empty() {
                        boundaries.push(text.chars().count());
                    }
                    text.push_str(p);
                }
                let w = WordType {
                    text: text.clone(),
                    boundaries,
                    stem,
                    prefix,
                    derivational,
                    inflectional,
                };
                let id = match by_text.get(&text) {
                    Some(&id) if c.types[id as usize] == w => id,
                    Some(_) => continue, // same surface, other analysis: redraw
                    None => {
                        let id = c.types.len() as u32;
                        c.types.push(w);
                        by_text.insert(text, id);
                        id
                    }
                };
                out.push(id);
            }
            if which == 0 {
                c.train = out;
            } else {
                c.heldout = out;
            }
        }
        c
    }

    /// The text of a word sequence, 16 words a line.
    pub fn text(&self, ids: &[u32]) -> String {
        let mut s = String::new();
        for (i, &id) in ids.iter().enumerate() {
            if i > 0 {
                s.push(if i % 16 == 0 { '\n' } else { ' ' });
            }
            s.push_str(&self.types[id as usize].text);
        }
        s.push('\n');
        s
    }

    /// Counts of each type in a word sequence, as (type id, count), by id.
    pub fn type_counts(&self, ids: &[u32]) -> Vec<(u32, u64)> {
        let mut c = vec![0u64; self.types.len()];
        for &i in ids {
            c[i as usize] += 1;
        }
        c.into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (i as u32, n))
            .collect()
    }

    /// All affix strings.
    pub fn affixes(&self) -> Vec<&str> {
        self.prefixes
            .iter()
            .chain(&self.derivational)
            .chain(&self.inflectional)
            .map(|s| s.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MorphConfig {
        MorphConfig {
            stems: 200,
            stem_syllables: (1, 3),
            prefixes: 4,
            derivational: 4,
            inflectional: 3,
            zipf: 1.0,
            affix_zipf: 0.7,
            p_prefix: 0.3,
            p_derivational: 0.4,
            p_inflectional: 0.5,
            train_words: 3000,
            heldout_words: 1000,
        }
    }

    #[test]
    fn boundaries_spell_the_analysis_and_surfaces_are_unique() {
        let c = MorphCorpus::generate(&small(), &mut crate::rng::seeded(1, 0));
        assert_eq!(c.train.len(), 3000);
        assert_eq!(c.heldout.len(), 1000);
        let mut seen = std::collections::BTreeSet::new();
        for w in &c.types {
            assert!(seen.insert(w.text.clone()), "duplicate surface {}", w.text);
            let mut parts: Vec<String> = vec![];
            if let Some(p) = w.prefix {
                parts.push(c.prefixes[p].clone());
            }
            parts.push(c.stems[w.stem].clone());
            if let Some(d) = w.derivational {
                parts.push(c.derivational[d].clone());
            }
            if let Some(i) = w.inflectional {
                parts.push(c.inflectional[i].clone());
            }
            assert_eq!(parts.concat(), w.text);
            assert_eq!(crate::tokenize::boundaries(&parts), w.boundaries);
        }
        // Same seed, same corpus.
        let d = MorphCorpus::generate(&small(), &mut crate::rng::seeded(1, 0));
        assert_eq!(c.text(&c.train), d.text(&d.train));
        // Zipf: the most frequent stem is far more common than the median one.
        let mut per_stem = vec![0usize; 200];
        for &i in &c.train {
            per_stem[c.types[i as usize].stem] += 1;
        }
        assert!(per_stem[0] > 10 * per_stem[100].max(1));
    }
}
