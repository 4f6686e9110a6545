//! English→Spanish translation on verse pairs: the project's BPE with one vocabulary
//! shared by both languages, the core encoder–decoder, teacher-forced training with
//! padding masks, greedy decoding with the key/value cache, and corpus chrF.
//!
//! Held out: every chapter whose number in the file's order is ≡ 7 (mod 20). The test
//! verses are the first `test_verses` held-out pairs within the length limit.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Optimizer, ParamsAdamW};

use crate::core::fused::AdamW;
use rand::Rng;

use crate::core::decoder::{encoder_decoder, DecoderCtx, EncDecConfig, EncoderDecoder};
use crate::core::layers::{LayerConfig, LayerCtx};
use crate::core::mask::Mask;
use crate::core::params::Params;
use crate::data::chrf;
use crate::rng::{seeded, Rng64};
use crate::stats::{self, Estimate};
use crate::tokenize::bpe::{Bpe, EOW};
use crate::tokenize::word_counts;
use crate::train::schedule::Schedule;

pub const PAD: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;
pub const UNK: u32 = 3;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TranslatePlan {
    /// BPE merges learned on both sides' training words.
    pub merges: usize,
    /// Longest source or target in tokens (longer pairs are skipped).
    pub max_tokens: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub d_ff: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
    pub warmup: usize,
    pub test_verses: usize,
    pub seeds: Vec<u64>,
}

impl TranslatePlan {
    pub fn standard() -> Self {
        Self {
            merges: 2000,
            max_tokens: 48,
            d_model: 128,
            heads: 4,
            layers: 2,
            d_ff: 512,
            batch: 32,
            steps: 1500,
            lr: 1e-3,
            warmup: 200,
            test_verses: 300,
            seeds: vec![0, 1, 2],
        }
    }
    pub fn tiny() -> Self {
        Self {
            merges: 60,
            max_tokens: 24,
            d_model: 16,
            heads: 2,
            layers: 1,
            d_ff: 32,
            batch: 4,
            steps: 3,
            warmup: 1,
            test_verses: 3,
            seeds: vec![0],
            ..Self::standard()
        }
    }
}

/// A shared BPE vocabulary: specials, then every symbol of the first `k` merges.
pub struct Vocab {
    pub bpe: Bpe,
    pub k: usize,
    pub names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    pub fn train(texts: &[&str], merges: usize) -> Self {
        let joined = texts.join("\n");
        let bpe = Bpe::train(&word_counts(&joined), merges, 2);
        let k = bpe.merges.len();
        let mut names: Vec<String> = ["<pad>", "<s>", "</s>", "<unk>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut syms: Vec<String> = bpe.vocab(k).into_iter().collect();
        syms.sort();
        names.extend(syms);
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        Self { bpe, k, names, ids }
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.split_whitespace()
            .flat_map(|w| self.bpe.encode_word(w, self.k))
            .map(|p| *self.ids.get(&p).unwrap_or(&UNK))
            .collect()
    }
    pub fn decode(&self, ids: &[u32]) -> String {
        let s: String = ids
            .iter()
            .filter(|&&i| i > UNK)
            .map(|&i| self.names[i as usize].replace(EOW, " "))
            .collect();
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Encoded pairs split into training and test.
pub struct Split {
    pub train: Vec<(Vec<u32>, Vec<u32>)>,
    /// (source ids, reference text).
    pub test: Vec<(Vec<u32>, String, String)>,
}

/// For each pair, whether its chapter is held out (the chapter's number in the file's
/// order, counting from 1, is ≡ 7 mod 20).
pub fn held_out(pairs: &[(String, String, String)]) -> Vec<bool> {
    let mut chapter = 0usize;
    let mut last: Option<&str> = None;
    pairs
        .iter()
        .map(|(g, _, _)| {
            if last != Some(g.as_str()) {
                chapter += 1;
                last = Some(g.as_str());
            }
            chapter % 20 == 7
        })
        .collect()
}

pub fn split(pairs: &[(String, String, String)], vocab: &Vocab, plan: &TranslatePlan) -> Split {
    let (mut train, mut test) = (vec![], vec![]);
    for ((_, en, es), held) in pairs.iter().zip(held_out(pairs)) {
        let (s, t) = (vocab.encode(en), vocab.encode(es));
        if s.is_empty()
            || t.is_empty()
            || s.len() > plan.max_tokens
            || t.len() + 1 > plan.max_tokens
        {
            continue;
        }
        if held {
            if test.len() < plan.test_verses {
                test.push((s, en.clone(), es.clone()));
            }
        } else {
            train.push((s, t));
        }
    }
    Split { train, test }
}

fn pad_to(rows: &[&[u32]], t: usize) -> Vec<u32> {
    rows.iter()
        .flat_map(|r| r.iter().copied().chain(std::iter::repeat(PAD)).take(t))
        .collect()
}

/// Teacher-forced loss of a batch of pairs (weighted mean over real target tokens).
fn batch_loss(
    m: &EncoderDecoder,
    pairs: &[&(Vec<u32>, Vec<u32>)],
    train: bool,
    dev: &Device,
) -> Result<Tensor> {
    let b = pairs.len();
    let s = pairs.iter().map(|p| p.0.len()).max().unwrap_or(1);
    let t = pairs.iter().map(|p| p.1.len() + 1).max().unwrap_or(1);
    let src: Vec<&[u32]> = pairs.iter().map(|p| p.0.as_slice()).collect();
    let tin: Vec<Vec<u32>> = pairs.iter().map(|p| [&[BOS][..], &p.1].concat()).collect();
    let tout: Vec<Vec<u32>> = pairs
        .iter()
        .map(|p| [&p.1[..], &[EOS][..]].concat())
        .collect();
    let src_len: Vec<usize> = pairs.iter().map(|p| p.0.len()).collect();
    let w: Vec<f32> = tout
        .iter()
        .flat_map(|r| (0..t).map(move |j| if j < r.len() { 1.0 } else { 0.0 }))
        .collect();
    let srct = Tensor::from_vec(pad_to(&src, s), (b, s), dev)?;
    let tint = Tensor::from_vec(
        pad_to(&tin.iter().map(|r| r.as_slice()).collect::<Vec<_>>(), t),
        (b, t),
        dev,
    )?;
    let toutt = Tensor::from_vec(
        pad_to(&tout.iter().map(|r| r.as_slice()).collect::<Vec<_>>(), t),
        (b, t),
        dev,
    )?;
    let wt = Tensor::from_vec(w, (b, t), dev)?;
    let enc_mask = Mask::padding(&src_len, s, s).to_attn(dev)?;
    let memory = m.memory(
        &srct,
        &LayerCtx {
            mask: Some(&enc_mask),
            valid: None,
            train,
        },
    )?;
    let causal = Mask::causal(t).to_attn(dev)?;
    let cross = Mask::padding(&src_len, t, s).to_attn(dev)?;
    let c = DecoderCtx {
        self_mask: Some(&causal),
        cross_mask: Some(&cross),
        valid: None,
        train,
    };
    let logits = m.logits(&tint, &memory, &c)?;
    let v = logits.dim(D::Minus1)?;
    let nll =
        crate::core::fused::cross_entropy_rows(&logits.reshape(((), v))?, &toutt.flatten_all()?)?;
    let w = wt.flatten_all()?;
    Ok((nll * &w)?.sum_all()?.broadcast_div(&w.sum_all()?)?)
}

/// Greedy decoding of one source sentence with the key/value cache.
pub fn greedy(m: &EncoderDecoder, src: &[u32], max_len: usize, dev: &Device) -> Result<Vec<u32>> {
    let s = Tensor::from_vec(src.to_vec(), (1, src.len()), dev)?;
    let memory = m.memory(&s, &LayerCtx::default())?;
    let mut cache = m.init_cache(&memory)?;
    let mut tok = BOS;
    let mut out = vec![];
    for _ in 0..max_len {
        let logits = m.step(&Tensor::new(&[[tok]], dev)?, &mut cache)?;
        tok = logits.flatten_all()?.argmax(0)?.to_scalar::<u32>()?;
        if tok == EOS {
            break;
        }
        out.push(tok);
    }
    Ok(out)
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub chrf: f64,
    pub final_train_loss: f64,
    /// (reference, hypothesis) for the first few test verses.
    pub samples: Vec<(String, String, String)>,
    pub seconds: f64,
}

/// Train and score one seed.
pub fn run_seed(
    split: &Split,
    vocab: &Vocab,
    plan: &TranslatePlan,
    seed: u64,
    say: &dyn Fn(&str),
) -> Result<SeedResult> {
    if split.train.is_empty() || split.test.is_empty() {
        bail!(
            "translation: {} training and {} test pairs; need both",
            split.train.len(),
            split.test.len()
        );
    }
    let dev = Device::Cpu;
    let t0 = Instant::now();
    let params = Params::new(seed);
    let mut layer = LayerConfig::new(plan.d_model, plan.heads);
    layer.d_ff = plan.d_ff;
    let mut cfg = EncDecConfig::new(
        vocab.len(),
        vocab.len(),
        plan.max_tokens + 2,
        plan.layers,
        layer,
    );
    cfg.embed_std = 1.0;
    let m = encoder_decoder(cfg, params.vb())?;
    let mut opt = AdamW::new(
        params.vars(),
        ParamsAdamW {
            lr: plan.lr,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-9,
            weight_decay: 0.0,
        },
    )?;
    let sched = Schedule::Warmup {
        warmup: plan.warmup,
    };
    let mut rng: Rng64 = seeded(seed, 2);
    let mut last = f64::NAN;
    for step in 1..=plan.steps {
        opt.set_learning_rate(plan.lr * sched.factor(step));
        let idx: Vec<usize> = (0..plan.batch)
            .map(|_| rng.gen_range(0..split.train.len()))
            .collect();
        let pairs: Vec<&(Vec<u32>, Vec<u32>)> = idx.iter().map(|&i| &split.train[i]).collect();
        let loss = batch_loss(&m, &pairs, true, &dev)?;
        last = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        opt.backward_step(&loss)?;
        if step % 250 == 0 {
            say(&format!(
                "translation seed {seed}: step {step}/{}, train loss {last:.3}",
                plan.steps
            ));
        }
    }
    let mut hyps = vec![];
    for (src, _, _) in &split.test {
        hyps.push(vocab.decode(&greedy(&m, src, plan.max_tokens + 1, &dev)?));
    }
    let chrf = chrf::corpus(
        hyps.iter()
            .zip(&split.test)
            .map(|(h, t)| (h.as_str(), t.2.as_str())),
    );
    let samples = split
        .test
        .iter()
        .zip(&hyps)
        .take(8)
        .map(|(t, h)| (t.1.clone(), t.2.clone(), h.clone()))
        .collect();
    Ok(SeedResult {
        seed,
        chrf,
        final_train_loss: last,
        samples,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// chrF over seeds with its 95% interval.
pub fn chrf_estimate(rs: &[SeedResult]) -> Estimate {
    stats::mean_ci(&rs.iter().map(|r| r.chrf).collect::<Vec<_>>(), 0.95)
}

/// The translation result file (`translation/verdict.json`).
#[derive(serde::Serialize)]
pub struct TranslationResult<'a> {
    pub mode: &'static str,
    pub task: String,
    pub model: String,
    pub metric: &'static str,
    pub chrf: Estimate,
    pub vocab: usize,
    pub train_pairs: usize,
    pub test_verses: usize,
    pub plan: &'a TranslatePlan,
    pub seeds: &'a [SeedResult],
}

/// Train every seed (each kept in `out/translation/seed{N}.json` and reused when the
/// plan is unchanged), write `out/translation/`: verdict.json, chrf.csv, samples.tsv.
pub fn run_track(
    rows: &[(String, String, String)],
    plan: &TranslatePlan,
    out: &std::path::Path,
    say: &dyn Fn(&str),
) -> Result<Estimate> {
    let dir = out.join("translation");
    std::fs::create_dir_all(&dir)?;
    // The vocabulary is learned on the training chapters only.
    let train_texts: Vec<&str> = rows
        .iter()
        .zip(held_out(rows))
        .filter(|(_, held)| !held)
        .flat_map(|((_, en, es), _)| [en.as_str(), es.as_str()])
        .collect();
    say(&format!(
        "translation: learning {} BPE merges on {} training texts",
        plan.merges,
        train_texts.len()
    ));
    let vocab = Vocab::train(&train_texts, plan.merges);
    let sp = split(rows, &vocab, plan);
    say(&format!(
        "translation: vocabulary {}, {} training pairs, {} test verses (≤ {} tokens)",
        vocab.len(),
        sp.train.len(),
        sp.test.len(),
        plan.max_tokens
    ));
    let key = serde_json::to_value(plan)?;
    let mut results = vec![];
    for &seed in &plan.seeds {
        let p = dir.join(format!("seed{seed}.json"));
        let cached = std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(|v| v["plan"] == key)
            .and_then(|v| serde_json::from_value::<SeedResult>(v["result"].clone()).ok());
        let r = match cached {
            Some(r) => r,
            None => {
                let r = run_seed(&sp, &vocab, plan, seed, say)?;
                say(&format!(
                    "translation seed {seed}: chrF {:.2} in {:.0} s",
                    r.chrf, r.seconds
                ));
                crate::output::atomic::write_json(
                    &p,
                    &serde_json::json!({ "plan": key, "result": r }),
                )?;
                r
            }
        };
        results.push(r);
    }
    let est = chrf_estimate(&results);
    let mut t = crate::output::table::Table::new(&["seed", "chrf", "final_train_loss"]);
    for r in &results {
        t.push(vec![
            r.seed.to_string(),
            format!("{:.4}", r.chrf),
            format!("{:.4}", r.final_train_loss),
        ]);
    }
    t.write(&dir.join("chrf.csv"))?;
    let mut s = String::from("seed\tenglish\treference\tgreedy\n");
    for r in &results {
        for (en, es, h) in &r.samples {
            s.push_str(&format!("{}\t{en}\t{es}\t{h}\n", r.seed));
        }
    }
    crate::output::atomic::write(&dir.join("samples.tsv"), s.as_bytes())?;
    let res = TranslationResult {
        mode: "real",
        task: "KJV → Reina-Valera 1909, verse pairs, shared BPE".into(),
        model: format!(
            "encoder–decoder, d_model {}, {} heads, {}+{} layers, d_ff {}, batch {}, {} steps",
            plan.d_model, plan.heads, plan.layers, plan.layers, plan.d_ff, plan.batch, plan.steps
        ),
        metric: "corpus chrF (character 6-grams, β = 2) of greedy decoding on held-out verses",
        chrf: est,
        vocab: vocab.len(),
        train_pairs: sp.train.len(),
        test_verses: sp.test.len(),
        plan,
        seeds: &results,
    };
    crate::output::atomic::write_json(&dir.join("verdict.json"), &res)?;
    Ok(est)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String, String)> {
        let en = [
            "the king is here",
            "the queen is there",
            "a house is big",
            "the dog runs",
        ];
        let es = [
            "el rey está aquí",
            "la reina está allí",
            "una casa es grande",
            "el perro corre",
        ];
        (0..200)
            .map(|i| {
                (
                    format!("c{}", i / 5),
                    en[i % 4].to_string(),
                    es[i % 4].to_string(),
                )
            })
            .collect()
    }

    /// The generated pairs and a vocabulary learned on both sides of them.
    fn pairs_and_vocab() -> (Vec<(String, String, String)>, Vocab) {
        let p = pairs();
        let texts: Vec<&str> = p
            .iter()
            .flat_map(|x| [x.1.as_str(), x.2.as_str()])
            .collect();
        let v = Vocab::train(&texts, 40);
        (p, v)
    }

    #[test]
    fn vocabulary_round_trips_and_split_holds_out_chapters() {
        let (p, v) = pairs_and_vocab();
        assert_eq!(v.decode(&v.encode("el rey está aquí")), "el rey está aquí");
        assert_eq!(v.decode(&v.encode("the  dog\truns")), "the dog runs");
        let plan = TranslatePlan::tiny();
        let s = split(&p, &v, &plan);
        assert_eq!(s.test.len(), 3);
        assert!(s.train.len() > 100);
    }

    #[test]
    fn a_tiny_model_trains_decodes_and_scores() {
        let (p, v) = pairs_and_vocab();
        let plan = TranslatePlan::tiny();
        let s = split(&p, &v, &plan);
        let r = run_seed(&s, &v, &plan, 0, &|_| {}).unwrap();
        assert!(r.chrf.is_finite() && (0.0..=100.0).contains(&r.chrf));
        assert!(r.final_train_loss.is_finite());
        assert_eq!(r.samples.len(), 3);
    }
}
