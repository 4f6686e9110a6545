//! Real text as training batches: a character vocabulary, a train / held-out split by
//! blocks, causal windows, and masked lines of varying length.
//!
//! Any UTF-8 text works; the committed runs use the complete works of Shakespeare
//! (`harness data fetch`).

use candle_core::{Device, Result};

use crate::rng::Rng64;
use crate::train::task::{Batch, Task};
use rand::Rng;

/// Characters of a text as ids, split into training and held-out parts.
#[derive(Clone, Debug)]
pub struct CharCorpus {
    /// Distinct characters, sorted; id = index. Two more ids follow: [`Self::pad`] and
    /// [`Self::mask`].
    pub chars: Vec<char>,
    pub train: Vec<u32>,
    pub held: Vec<u32>,
}

/// Held-out share: every `HELD_EVERY`-th block of `BLOCK` characters.
pub const BLOCK: usize = 8192;
pub const HELD_EVERY: usize = 10;

impl CharCorpus {
    /// Split `text` into blocks of [`BLOCK`] characters; every [`HELD_EVERY`]-th block
    /// (the 10th, 20th, …) is held out, the rest is training text.
    pub fn new(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        let all = chars.clone();
        chars.sort_unstable();
        chars.dedup();
        let id = |c: char| chars.binary_search(&c).unwrap() as u32;
        let (mut train, mut held) = (vec![], vec![]);
        for (i, block) in all.chunks(BLOCK).enumerate() {
            let dst = if i % HELD_EVERY == HELD_EVERY - 1 {
                &mut held
            } else {
                &mut train
            };
            dst.extend(block.iter().map(|&c| id(c)));
        }
        Self { chars, train, held }
    }

    /// Character vocabulary plus padding and mask ids.
    pub fn vocab(&self) -> usize {
        self.chars.len() + 2
    }
    pub fn pad(&self) -> u32 {
        self.chars.len() as u32
    }
    pub fn mask(&self) -> u32 {
        self.chars.len() as u32 + 1
    }
    fn newline(&self) -> Option<u32> {
        self.chars.binary_search(&'\n').ok().map(|i| i as u32)
    }

    /// Lines (runs between newlines) of `ids` with at least `min` characters, cut to `max`.
    pub fn lines(&self, ids: &[u32], min: usize, max: usize) -> Vec<Vec<u32>> {
        let nl = self.newline();
        ids.split(|&c| Some(c) == nl)
            .map(|l| {
                // Leading indentation carries no content.
                let start = l
                    .iter()
                    .position(|&c| self.chars[c as usize] != ' ')
                    .unwrap_or(l.len());
                l[start..].to_vec()
            })
            .filter(|l| l.len() >= min)
            .map(|l| l[..l.len().min(max)].to_vec())
            .collect()
    }
}

/// Causal language modelling on windows of `len` characters: input `x[i..i+len]`,
/// target `x[i+1..i+len+1]`, every position scored.
pub struct Windows<'a> {
    pub ids: &'a [u32],
    pub len: usize,
    pub vocab: usize,
}

impl Windows<'_> {
    fn batch_at(&self, starts: &[usize], score_from: usize, dev: &Device) -> Result<Batch> {
        let (b, t) = (starts.len(), self.len);
        let mut x = Vec::with_capacity(b * t);
        let mut y = Vec::with_capacity(b * t);
        for &s in starts {
            x.extend_from_slice(&self.ids[s..s + t]);
            y.extend_from_slice(&self.ids[s + 1..s + t + 1]);
        }
        let w = (0..b * t)
            .map(|i| if i % t >= score_from { 1.0 } else { 0.0 })
            .collect();
        Batch::from_vecs(x, y, w, b, t, None, dev)
    }

    /// `n` windows at evenly spaced offsets (the same for every seed and arm), in
    /// batches of `per`; positions before `score_from` are not scored.
    pub fn fixed(
        &self,
        n: usize,
        per: usize,
        score_from: usize,
        dev: &Device,
    ) -> Result<Vec<Batch>> {
        let span = self.ids.len() - self.len - 1;
        let starts: Vec<usize> = (0..n).map(|i| i * span / n.max(1)).collect();
        starts
            .chunks(per.max(1))
            .map(|c| self.batch_at(c, score_from, dev))
            .collect()
    }
}

impl Task for Windows<'_> {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch> {
        let span = self.ids.len() - self.len - 1;
        let starts: Vec<usize> = (0..size).map(|_| rng.gen_range(0..span)).collect();
        self.batch_at(&starts, 0, dev)
    }
}

/// Masked language modelling on lines of varying length (BERT-style, characters):
/// a batch pads its lines to the longest; `rate` of the real characters are replaced
/// by the mask id and scored.
pub struct MaskedLines<'a> {
    pub lines: &'a [Vec<u32>],
    pub max_len: usize,
    pub vocab: usize,
    pub pad: u32,
    pub mask: u32,
    pub rate: f64,
}

impl MaskedLines<'_> {
    fn batch_of(&self, rng: &mut Rng64, idx: &[usize], dev: &Device) -> Result<Batch> {
        let t = idx.iter().map(|&i| self.lines[i].len()).max().unwrap_or(1);
        let b = idx.len();
        let (mut x, mut y, mut w) = (
            vec![self.pad; b * t],
            vec![self.pad; b * t],
            vec![0f32; b * t],
        );
        let mut lengths = Vec::with_capacity(b);
        for (r, &i) in idx.iter().enumerate() {
            let line = &self.lines[i];
            lengths.push(line.len());
            for (j, &c) in line.iter().enumerate() {
                y[r * t + j] = c;
                x[r * t + j] = c;
                if rng.gen::<f64>() < self.rate {
                    x[r * t + j] = self.mask;
                    w[r * t + j] = 1.0;
                }
            }
        }
        Batch::from_vecs(x, y, w, b, t, Some(lengths), dev)
    }

    /// `n` lines at evenly spaced indices, masked from a fixed stream (the same for every
    /// seed and arm), in batches of `per`.
    pub fn fixed(&self, n: usize, per: usize, dev: &Device) -> Result<Vec<Batch>> {
        let mut rng = crate::rng::seeded(0, 99);
        let idx: Vec<usize> = (0..n).map(|i| i * self.lines.len() / n.max(1)).collect();
        idx.chunks(per.max(1))
            .map(|c| self.batch_of(&mut rng, c, dev))
            .collect()
    }
}

impl Task for MaskedLines<'_> {
    fn vocab_in(&self) -> usize {
        self.vocab
    }
    fn vocab_out(&self) -> usize {
        self.vocab
    }
    fn max_len(&self) -> usize {
        self.max_len
    }
    fn batch(&self, rng: &mut Rng64, size: usize, dev: &Device) -> Result<Batch> {
        let idx: Vec<usize> = (0..size)
            .map(|_| rng.gen_range(0..self.lines.len()))
            .collect();
        self.batch_of(rng, &idx, dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    fn text() -> String {
        (0..3000)
            .map(|i| format!("  line {i} of the play, said {}\n", i % 7))
            .collect()
    }

    #[test]
    fn split_covers_the_text_and_holds_out_every_tenth_block() {
        let t = text();
        let c = CharCorpus::new(&t);
        assert_eq!(c.train.len() + c.held.len(), t.chars().count());
        let blocks = t.chars().count().div_ceil(BLOCK);
        assert_eq!(!c.held.is_empty(), blocks >= HELD_EVERY);
        assert!(c.vocab() < 40);
        let lines = c.lines(&c.train, 8, 20);
        assert!(lines.iter().all(|l| l.len() >= 8 && l.len() <= 20));
        assert_ne!(c.chars[lines[0][0] as usize], ' ');
    }

    #[test]
    fn windows_shift_by_one_and_are_seeded() {
        let c = CharCorpus::new(&text());
        let w = Windows {
            ids: &c.train,
            len: 16,
            vocab: c.vocab(),
        };
        let b1 = w.batch(&mut seeded(3, 2), 4, &Device::Cpu).unwrap();
        let b2 = w.batch(&mut seeded(3, 2), 4, &Device::Cpu).unwrap();
        let x = b1.x.to_vec2::<u32>().unwrap();
        let y = b1.y.to_vec2::<u32>().unwrap();
        assert_eq!(x, b2.x.to_vec2::<u32>().unwrap());
        assert_eq!(x[0][1..], y[0][..15]);
        let f = w.fixed(10, 4, 8, &Device::Cpu).unwrap();
        assert_eq!(f.len(), 3);
        let wt = f[0].weight.to_vec2::<f32>().unwrap();
        assert_eq!(wt[0][7], 0.0);
        assert_eq!(wt[0][8], 1.0);
    }

    #[test]
    fn masked_lines_pad_and_score_only_masked_characters() {
        let c = CharCorpus::new(&text());
        let lines = c.lines(&c.train, 8, 40);
        let m = MaskedLines {
            lines: &lines,
            max_len: 40,
            vocab: c.vocab(),
            pad: c.pad(),
            mask: c.mask(),
            rate: 0.3,
        };
        let b = m.batch(&mut seeded(1, 2), 8, &Device::Cpu).unwrap();
        let x = b.x.to_vec2::<u32>().unwrap();
        let w = b.weight.to_vec2::<f32>().unwrap();
        let lengths = b.lengths.clone().unwrap();
        for r in 0..8 {
            for j in 0..x[r].len() {
                if j >= lengths[r] {
                    assert_eq!(x[r][j], c.pad());
                    assert_eq!(w[r][j], 0.0);
                } else {
                    assert_eq!(w[r][j] == 1.0, x[r][j] == c.mask());
                }
            }
        }
    }
}
