//! Q19. WordPiece and BPE.
//!
//! Claims (CLAIMS.md, Q19):
//! - Q19.1 Subword units fix the out-of-vocabulary problem of word vocabularies and
//!   capture affixes.
//! - Q19.2 BPE repeatedly merges the most frequent adjacent pair.
//! - Q19.3 It trades vocabulary size against sequence length.
//! - Q19.4 It is greedy and deterministic: it cannot give several segmentations with
//!   probabilities.
//!
//! Setup: a generated corpus with known morphology (`tokenize::corpus`: prefix? stem
//! suffix? suffix?, Zipf-distributed stems, split into training and held-out text);
//! BPE and WordPiece trained on it by the project's trainers (`tokenize::bpe`,
//! `tokenize::wordpiece`, incremental pair counts). One training run each serves every
//! vocabulary size (the k-merge model is the first k merges). Held-out text is scored
//! for OOV rate (against word vocabularies of the same size and the complete training
//! word list), tokens per word, and morpheme-boundary precision and recall (against the
//! precision of the same number of boundaries placed at random). Q19.2 replays the
//! merges on a smaller table with a naive recount of every pair at every step. Q19.4
//! segments every held-out word repeatedly, retrains on the table in another order, and
//! samples segmentations under BPE-dropout (Provilkov et al. 2020).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use transformer_claims::prelude::*;
use transformer_claims::row;
use transformer_claims::tokenize::{
    bpe, corpus::MorphCorpus, word_counts, wordpiece, Bpe, MergeStep, MorphConfig, WordPiece,
};
use transformer_claims::verdict::all_of;

#[derive(Serialize)]
struct Config {
    corpus: MorphConfig,
    /// Merges learned by each trainer (the largest vocabulary is alphabet + this).
    max_merges: usize,
    /// Merge counts at which the vocabularies are evaluated (0 = characters only).
    merge_grid: Vec<usize>,
    /// Pairs seen fewer times than this are never merged.
    min_pair_count: u64,
    /// Merges of the vocabulary used for morpheme boundaries and dropout.
    eval_merges: usize,
    /// Q19.1: word vocabularies of every grid size, and the complete training word
    /// list, leave at least this share of held-out tokens out of vocabulary …
    min_word_oov: f64,
    /// … while BPE and WordPiece leave at most this share, at every grid size …
    max_subword_oov: f64,
    /// … and at `eval_merges` BPE's morpheme-boundary precision is at least this
    /// multiple of chance (the same number of boundaries placed at random). The seed
    /// answer's subword method is BPE; WordPiece's precision is reported beside it.
    min_precision_lift: f64,
    /// Q19.2: the naive replay uses the most frequent training types and this many merges.
    check_types: usize,
    check_merges: usize,
    /// Q19.3: tokens per held-out word must fall at every step of the grid (both
    /// tokenizers), and BPE's by at least this factor from characters to the largest
    /// vocabulary.
    min_length_ratio: f64,
    /// Q19.4: segmentations drawn per held-out type, held-out types sampled for
    /// dropout (most frequent first), dropout probabilities.
    samples: usize,
    dropout_types: usize,
    dropout_ps: Vec<f64>,
}

impl Config {
    fn new(ctx: &Ctx) -> Self {
        Config {
            corpus: MorphConfig {
                stems: ctx.pick(1500, 3000),
                stem_syllables: (1, 3),
                prefixes: 6,
                derivational: 6,
                inflectional: 5,
                zipf: 1.0,
                affix_zipf: 0.8,
                p_prefix: 0.3,
                p_derivational: 0.4,
                p_inflectional: 0.6,
                train_words: ctx.pick(60_000, 150_000),
                heldout_words: ctx.pick(15_000, 40_000),
            },
            max_merges: ctx.pick(4000, 8000),
            merge_grid: ctx.pick(
                vec![0, 100, 250, 500, 1000, 2000, 4000],
                vec![0, 100, 250, 500, 1000, 2000, 4000, 8000],
            ),
            min_pair_count: 2,
            eval_merges: 1000,
            min_word_oov: 0.01,
            max_subword_oov: 0.001,
            min_precision_lift: 1.5,
            check_types: ctx.pick(1500, 3000),
            check_merges: ctx.pick(200, 400),
            min_length_ratio: 2.0,
            samples: ctx.pick(20, 50),
            dropout_types: ctx.pick(300, 1000),
            dropout_ps: vec![0.0, 0.05, 0.1, 0.2, 0.3],
        }
    }
}

/// Micro-averaged boundary precision and recall over held-out tokens, and the
/// precision of the same number of boundaries per word placed at random.
struct Bounds {
    precision: f64,
    recall: f64,
    chance: f64,
}

fn score_bounds(c: &MorphCorpus, held: &[(u32, u64)], seg: &dyn Fn(&str) -> Vec<String>) -> Bounds {
    let (mut tp, mut pred, mut truth, mut chance) = (0.0, 0.0, 0.0, 0.0);
    for &(id, f) in held {
        let w = &c.types[id as usize];
        let f = f as f64;
        let got = transformer_claims::tokenize::boundaries(&seg(&w.text));
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

/// Naive replay: at each merge, recount every pair of the current segmentations and
/// report whether the merged pair was a most frequent one. Returns the share of steps.
fn argmax_share(
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

fn run(ctx: &mut Ctx) -> Result<()> {
    let cfg = Config::new(ctx);
    ctx.save_config(&cfg)?;
    if !cfg.merge_grid.contains(&cfg.eval_merges)
        || cfg.merge_grid.iter().any(|&k| k > cfg.max_merges)
    {
        bail!("eval_merges must be on the grid and the grid within max_merges");
    }
    let pb = ctx.progress(6, "corpus");
    let c = MorphCorpus::generate(&cfg.corpus, &mut seeded(ctx.seed, 0));
    let train_text = c.text(&c.train);
    let mb = train_text.len() as f64 / 1e6;
    let wc = word_counts(&train_text);
    let held = c.type_counts(&c.heldout);
    let held_tokens: u64 = held.iter().map(|(_, f)| f).sum();
    let mut corpus_t = Table::new(&["quantity", "value"]);
    corpus_t.push(row!["training words", c.train.len()]);
    corpus_t.push(row!["training bytes", train_text.len()]);
    corpus_t.push(row!["training word types", wc.len()]);
    corpus_t.push(row!["held-out words", c.heldout.len()]);
    corpus_t.push(row!["held-out word types", held.len()]);
    corpus_t.push(row!["stems", c.stems.len()]);
    corpus_t.push(row!["affixes", c.affixes().len()]);
    pb.inc(1);

    // Train both (timed; the times go to timing_training.csv only).
    pb.set_message("training BPE");
    let t0 = Instant::now();
    let bpe_m = Bpe::train(&wc, cfg.max_merges, cfg.min_pair_count);
    let bpe_s = t0.elapsed().as_secs_f64();
    pb.inc(1);
    pb.set_message("training WordPiece");
    let t0 = Instant::now();
    let wp_m = WordPiece::train(&wc, cfg.max_merges, cfg.min_pair_count);
    let wp_s = t0.elapsed().as_secs_f64();
    pb.inc(1);
    let mut timing = Table::new(&["tokenizer", "merges", "seconds", "mb_per_s"]);
    timing.push(row!["BPE", bpe_m.merges.len(), bpe_s, mb / bpe_s]);
    timing.push(row!["WordPiece", wp_m.merges.len(), wp_s, mb / wp_s]);
    ctx.table("timing_training.csv", &timing)?;
    corpus_t.push(row!["BPE merges learned", bpe_m.merges.len()]);
    corpus_t.push(row!["WordPiece merges learned", wp_m.merges.len()]);
    ctx.table("corpus.csv", &corpus_t)?;
    if bpe_m.merges.len() < cfg.max_merges || wp_m.merges.len() < cfg.max_merges {
        bail!("the corpus is too small for {} merges", cfg.max_merges);
    }

    // Merge trace: the count of each merged pair.
    let mut trace = Table::new(&["step", "tokenizer", "pair_count", "score"]);
    for (name, ms) in [("BPE", &bpe_m.merges), ("WordPiece", &wp_m.merges)] {
        for (i, m) in ms.iter().enumerate() {
            trace.push(row![i + 1, name, m.count, m.score]);
        }
    }
    ctx.table("merge_trace.csv", &trace)?;

    // (1) OOV rate and tokens per word over vocabulary size; boundaries.
    pb.set_message("scoring held-out text");
    let mut by_freq: Vec<(&String, u64)> = wc.iter().map(|(w, n)| (w, *n)).collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let word_oov = |v: usize| -> f64 {
        let set: BTreeSet<&str> = by_freq.iter().take(v).map(|(w, _)| w.as_str()).collect();
        let miss: u64 = held
            .iter()
            .filter(|(id, _)| !set.contains(c.types[*id as usize].text.as_str()))
            .map(|(_, f)| f)
            .sum();
        miss as f64 / held_tokens as f64
    };
    let mut oov_t = Table::new(&["merges", "vocab_size", "vocabulary", "oov_rate"]);
    let mut len_t = Table::new(&["merges", "vocab_size", "tokenizer", "tokens_per_word"]);
    let mut bnd_t = Table::new(&[
        "merges",
        "vocab_size",
        "tokenizer",
        "precision",
        "recall",
        "f1",
        "chance_precision",
    ]);
    let (mut min_word_oov_seen, mut max_sub_oov) = (f64::INFINITY, 0f64);
    let mut lens: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut at_eval: BTreeMap<&str, Bounds> = BTreeMap::new();
    for &k in &cfg.merge_grid {
        let vb = bpe_m.vocab_size(k);
        let vw = wp_m.vocab_size(k);
        let wo = word_oov(vb);
        min_word_oov_seen = min_word_oov_seen.min(wo);
        oov_t.push(row![k, vb, "words", wo]);
        for name in ["BPE", "WordPiece"] {
            let seg = |w: &str| -> Vec<String> {
                if name == "BPE" {
                    bpe::surface(&bpe_m.encode_word(w, k))
                } else {
                    wordpiece::surface(&wp_m.encode_word(w, k))
                }
            };
            let (mut toks, mut oov) = (0u64, 0u64);
            for &(id, f) in &held {
                let w = &c.types[id as usize].text;
                if name == "BPE" {
                    let p = bpe_m.encode_word(w, k);
                    // `</w>` alone is not a token of its own in the count.
                    toks += f * p.iter().filter(|s| *s != bpe::EOW).count() as u64;
                    if !w.chars().all(|ch| bpe_m.alphabet.contains(&ch.to_string())) {
                        oov += f;
                    }
                } else {
                    let p = wp_m.encode_word(w, k);
                    toks += f * p.len() as u64;
                    if p == [wordpiece::UNK] {
                        oov += f;
                    }
                }
            }
            let v = if name == "BPE" { vb } else { vw };
            let o = oov as f64 / held_tokens as f64;
            max_sub_oov = max_sub_oov.max(o);
            oov_t.push(row![k, v, name, o]);
            let tpw = toks as f64 / held_tokens as f64;
            len_t.push(row![k, v, name, tpw]);
            lens.entry(name).or_default().push(tpw);
            let b = score_bounds(&c, &held, &seg);
            let f1 = 2.0 * b.precision * b.recall / (b.precision + b.recall).max(1e-12);
            bnd_t.push(row![k, v, name, b.precision, b.recall, f1, b.chance]);
            if k == cfg.eval_merges {
                at_eval.insert(name, b);
            }
        }
    }
    // The complete training word list.
    let full_oov = word_oov(by_freq.len());
    oov_t.push(row!["all", by_freq.len(), "all training words", full_oov]);
    ctx.table("oov.csv", &oov_t)?;
    ctx.table("tokens_per_word.csv", &len_t)?;
    ctx.table("boundaries.csv", &bnd_t)?;
    pb.inc(1);

    // Affixes that are whole units of the evaluation vocabulary.
    let bv = bpe_m.vocab(cfg.eval_merges);
    let wv = wp_m.vocab(cfg.eval_merges);
    let mut aff_t = Table::new(&["affix", "kind", "in_bpe_vocab", "in_wordpiece_vocab"]);
    let (mut in_b, mut in_w) = (0, 0);
    for (kind, list) in [
        ("prefix", &c.prefixes),
        ("derivational", &c.derivational),
        ("inflectional", &c.inflectional),
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
            aff_t.push(row![a.as_str(), kind, b, w]);
        }
    }
    ctx.table("affix_units.csv", &aff_t)?;
    let n_aff = c.affixes().len();

    // (2) Naive replay on the most frequent types.
    pb.set_message("naive replay");
    let mut top: Vec<(String, u64)> = by_freq
        .iter()
        .take(cfg.check_types)
        .map(|(w, n)| (w.to_string(), *n))
        .collect();
    top.sort();
    let small_b = Bpe::train(&top, cfg.check_merges, cfg.min_pair_count);
    let small_w = WordPiece::train(&top, cfg.check_merges, cfg.min_pair_count);
    let share_b = argmax_share(&top, &small_b.merges, bpe::initial_symbols);
    let share_w = argmax_share(&top, &small_w.merges, wordpiece::initial_symbols);
    let monotone = bpe_m.merges.windows(2).all(|m| m[1].count <= m[0].count);
    let mut arg_t = Table::new(&["tokenizer", "merges_checked", "share_most_frequent_pair"]);
    arg_t.push(row!["BPE", small_b.merges.len(), share_b]);
    arg_t.push(row!["WordPiece", small_w.merges.len(), share_w]);
    ctx.table("most_frequent_pair.csv", &arg_t)?;
    pb.inc(1);

    // (4) Determinism, greed and dropout.
    pb.set_message("segmentation sampling");
    let mut shuffled = wc.clone();
    shuffled.reverse();
    let again = Bpe::train(&shuffled, cfg.max_merges, cfg.min_pair_count);
    let same_merges = again.merges == bpe_m.merges;
    let k = cfg.eval_merges;
    let mut held_by_f = held.clone();
    held_by_f.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut rng = seeded(ctx.seed, 5);
    let mut drop_t = Table::new(&[
        "p",
        "types",
        "mean_distinct_segmentations",
        "share_with_several",
        "mean_entropy_bits",
    ]);
    let mut plain_several = 1.0;
    let mut lifted = (0.0, 0.0, 0.0);
    for &p in &cfg.dropout_ps {
        let (mut distinct, mut several, mut ent) = (0.0, 0.0, 0.0);
        let types: Vec<u32> = held_by_f
            .iter()
            .take(cfg.dropout_types)
            .map(|(id, _)| *id)
            .collect();
        for &id in &types {
            let w = &c.types[id as usize].text;
            let mut seen: BTreeMap<Vec<String>, usize> = BTreeMap::new();
            for _ in 0..cfg.samples {
                let s = if p == 0.0 {
                    bpe_m.encode_word(w, k)
                } else {
                    bpe_m.encode_word_dropout(w, k, p, &mut rng)
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
        drop_t.push(row![p, types.len(), distinct / n, several / n, ent / n]);
        if p == 0.0 {
            plain_several = several / n;
        } else if (p - 0.1).abs() < 1e-9 {
            lifted = (distinct / n, several / n, ent / n);
        }
    }
    ctx.table("dropout.csv", &drop_t)?;
    // Greedy: how often BPE's segmentation is longer than the shortest one its own
    // vocabulary allows.
    let (mut longer, mut total) = (0u64, 0u64);
    for &(id, f) in &held {
        let w = &c.types[id as usize].text;
        let g = bpe_m.encode_word(w, k).len();
        if let Some(s) = bpe_m.shortest_segmentation(w, &bv) {
            longer += f * (g > s) as u64;
            total += f;
        }
    }
    let greedy_longer = longer as f64 / total.max(1) as f64;
    let mut greedy_t = Table::new(&["merges", "share_of_tokens_longer_than_shortest"]);
    greedy_t.push(row![k, greedy_longer]);
    ctx.table("greedy.csv", &greedy_t)?;
    pb.inc(1);
    pb.finish_and_clear();

    // Charts.
    ctx.chart(
        ChartSpec::line(
            "oov.png",
            "oov.csv",
            "Held-out OOV rate at equal vocabulary size",
            "vocab_size",
            &["oov_rate"],
        )
        .series("vocabulary")
        .log_x()
        .labels(
            "vocabulary size",
            "share of held-out tokens out of vocabulary",
        ),
    )?;
    ctx.chart(
        ChartSpec::line(
            "tokens_per_word.png",
            "tokens_per_word.csv",
            "Sequence length against vocabulary size",
            "vocab_size",
            &["tokens_per_word"],
        )
        .series("tokenizer")
        .log_x()
        .labels("vocabulary size", "tokens per held-out word"),
    )?;
    for (file, col, title) in [
        (
            "boundary_precision.png",
            "precision",
            "Morpheme-boundary precision",
        ),
        ("boundary_recall.png", "recall", "Morpheme-boundary recall"),
    ] {
        let mut ys = vec![col];
        if col == "precision" {
            ys.push("chance_precision");
        }
        ctx.chart(
            ChartSpec::line(file, "boundaries.csv", title, "vocab_size", &ys)
                .series("tokenizer")
                .log_x()
                .labels("vocabulary size", col),
        )?;
    }
    ctx.chart(
        ChartSpec::line(
            "merge_counts.png",
            "merge_trace.csv",
            "Count of the merged pair at each merge",
            "step",
            &["pair_count"],
        )
        .series("tokenizer")
        .log_x()
        .log_y()
        .labels("merge step", "pair count when merged"),
    )?;
    ctx.chart(
        ChartSpec::bars(
            "most_frequent_pair.png",
            "most_frequent_pair.csv",
            "Share of merges that took the most frequent pair (naive recount)",
            "tokenizer",
            &["share_most_frequent_pair"],
        )
        .labels("tokenizer", "share of merges"),
    )?;
    ctx.chart(
        ChartSpec::line(
            "dropout.png",
            "dropout.csv",
            &format!(
                "Distinct BPE segmentations in {} draws per word",
                cfg.samples
            ),
            "p",
            &["mean_distinct_segmentations", "mean_entropy_bits"],
        )
        .labels("BPE-dropout probability p", "per held-out word"),
    )?;

    // Verdicts, by the rules declared in Config.
    let eb = &at_eval["BPE"];
    let ew = &at_eval["WordPiece"];
    let lift_b = eb.precision / eb.chance;
    let lift_w = ew.precision / ew.chance;
    let lift = lift_b;
    let v1 = all_of(&[
        Verdict::from_bool(min_word_oov_seen >= cfg.min_word_oov && full_oov >= cfg.min_word_oov),
        Verdict::from_bool(max_sub_oov <= cfg.max_subword_oov),
        Verdict::from_bool(lift >= cfg.min_precision_lift),
    ]);
    let vmax = bpe_m.vocab_size(*cfg.merge_grid.last().unwrap_or(&0));
    ctx.claim(
        Claim::with_verdict(
            "Q19.1",
            "Subword units fix the out-of-vocabulary problem of word vocabularies and capture affixes.",
            "BPE morpheme-boundary precision / chance",
            Estimate::exact(lift),
            &format!(
                "supported if word vocabularies of every grid size and the complete training word list leave ≥ {} of held-out tokens OOV, BPE and WordPiece leave ≤ {} at every size, and at {} merges BPE's morpheme-boundary precision is ≥ {}× chance; refuted otherwise",
                cfg.min_word_oov, cfg.max_subword_oov, cfg.eval_merges, cfg.min_precision_lift
            ),
            v1,
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "Held-out OOV: words {:.1}% at vocabulary {vmax}, {:.1}% with all {} training words; BPE and WordPiece {:.2}% at every size. At {} merges: BPE precision {:.2} (chance {:.2}), recall {:.2}; WordPiece precision {:.2} (chance {:.2}, {:.2}×), recall {:.2}. Affixes that are whole units: BPE {in_b}/{n_aff}, WordPiece {in_w}/{n_aff}. WordPiece's likelihood score count(ab)/(count(a)·count(b)) favours pairs of rare units, so it spends merges on spelling out rare words whole rather than on frequent affixes: subword units capture affixes when they are chosen by frequency, not automatically.",
            100.0 * word_oov(vmax),
            100.0 * full_oov,
            by_freq.len(),
            100.0 * max_sub_oov,
            cfg.eval_merges,
            eb.precision,
            eb.chance,
            eb.recall,
            ew.precision,
            ew.chance,
            lift_w,
            ew.recall
        )),
    );

    ctx.claim(
        Claim::with_verdict(
            "Q19.2",
            "BPE repeatedly merges the most frequent adjacent pair.",
            "share of BPE merges that were a most frequent pair (naive recount)",
            Estimate::exact(share_b),
            "supported if every BPE merge of the naive replay was a most frequent pair and the merged counts never rise over the full run; refuted otherwise",
            Verdict::from_bool(share_b == 1.0 && monotone),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "WordPiece, which merges by count(ab)/(count(a)·count(b)), took the most frequent pair in {:.0}% of its {} checked merges: the description fits BPE, not WordPiece.",
            100.0 * share_w,
            small_w.merges.len()
        )),
    );

    let lb = &lens["BPE"];
    let lw = &lens["WordPiece"];
    let falls = |v: &[f64]| v.windows(2).all(|x| x[1] < x[0]);
    let ratio_b = lb[0] / lb[lb.len() - 1];
    let ratio_w = lw[0] / lw[lw.len() - 1];
    let ratio = ratio_b;
    ctx.claim(
        Claim::with_verdict(
            "Q19.3",
            "BPE trades vocabulary size against sequence length.",
            "BPE tokens per word, characters / largest vocabulary",
            Estimate::exact(ratio),
            &format!(
                "supported if tokens per held-out word fall at every step of the vocabulary grid for both tokenizers, and BPE's by ≥ {}× from characters to the largest vocabulary; refuted otherwise",
                cfg.min_length_ratio
            ),
            Verdict::from_bool(falls(lb) && falls(lw) && ratio >= cfg.min_length_ratio),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "BPE: {:.2} → {:.2} tokens per word from {} to {vmax} symbols; WordPiece: {:.2} → {:.2} ({ratio_w:.2}×: its likelihood score spends merges on rare words). A word vocabulary has 1 token per word but the OOV rates of Q19.1.",
            lb[0],
            lb[lb.len() - 1],
            bpe_m.vocab_size(0),
            lw[0],
            lw[lw.len() - 1]
        )),
    );

    ctx.claim(
        Claim::with_verdict(
            "Q19.4",
            "BPE is greedy and deterministic: it cannot give several segmentations with probabilities.",
            "share of held-out words with more than one plain-BPE segmentation",
            Estimate::exact(plain_several),
            "supported if plain BPE gives every held-out word one segmentation in every draw and retraining on the word table in reverse order learns the same merges; refuted otherwise",
            Verdict::from_bool(plain_several == 0.0 && same_merges),
        )
        .expect(Verdict::Supported)
        .literature(Verdict::Supported)
        .note(format!(
            "True of plain BPE only. Greedy: for {:.1}% of held-out tokens BPE's segmentation is longer than the shortest its own vocabulary allows. BPE-dropout lifts the limitation: at p = 0.1, {:.0}% of words get several segmentations in {} draws ({:.2} distinct on average, {:.2} bits of entropy); the unigram LM (Kudo 2018) gives segmentations with explicit probabilities.",
            100.0 * greedy_longer,
            100.0 * lifted.1,
            cfg.samples,
            lifted.0,
            lifted.2
        )),
    );

    ctx.answer(Answer::Incomplete);
    ctx.literature("Sennrich et al. 2016: BPE for NMT, merges the most frequent pair of symbols, with an end-of-word marker. Schuster & Nakajima 2012, Wu et al. 2016: WordPiece picks the merge that most increases the training data's likelihood (count(ab)/(count(a)·count(b)) in the usual implementation). Kudo 2018: unigram LM with subword regularization (sampled segmentations). Provilkov et al. 2020: BPE-dropout.");
    ctx.corrected_answer(format!(
        "Right about BPE, but it never describes WordPiece. Measured on a generated corpus with known morphology: word vocabularies leave {:.1}% of held-out tokens unknown even with every training word ({}), subwords {:.2}%; BPE merges the most frequent pair every time (WordPiece only {:.0}% of the time: it merges by count(ab)/(count(a)·count(b)), the likelihood gain, so it prefers pairs whose parts rarely occur apart); tokens per word fall from {:.1} to {:.1} as the vocabulary grows to {vmax}; morpheme-boundary precision at {} merges is {:.2} (BPE) and {:.2} (WordPiece) against {:.2} by chance. Plain BPE is deterministic, but that is not a property of subword tokenization: BPE-dropout and the unigram LM sample segmentations with probabilities.",
        100.0 * full_oov,
        by_freq.len(),
        100.0 * max_sub_oov,
        100.0 * share_w,
        lb[0],
        lb[lb.len() - 1],
        cfg.eval_merges,
        eb.precision,
        ew.precision,
        eb.chance.max(ew.chance)
    ));
    Ok(())
}

fn main() {
    transformer_claims::cli::main(
        "q19_subword_tokenizers",
        "Q19: WordPiece and BPE. Trains both on a generated corpus with known morphology and measures OOV rate, tokens per word, morpheme boundaries, determinism and BPE-dropout.",
        run,
    )
}
