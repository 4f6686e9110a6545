//! Every experiment binary, run in quick mode into a temporary folder: it exits 0,
//! writes every file it promises, each locked claim gets its locked verdict (timing claims are never locked), and a second
//! run with the same seed on two threads instead of one writes byte-identical CSV
//! (wall-clock `timing*.csv` aside): the fused kernels split work in fixed chunks, so
//! results do not depend on the thread count.

mod common;

use transformer_claims::experiment::read_verdict;
use transformer_claims::output::chart::ChartSpec;
use transformer_claims::registry;

fn check_experiment(name: &str) {
    let _guard = common::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let q = registry::by_name(name).expect("in the registry");
    assert!(
        q.implemented,
        "{name} is tested but not marked implemented in the registry"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a");
    let o = common::run_threads(name, &["--quick", "--out", out.to_str().unwrap()], 1);
    assert!(o.status.success(), "{name} failed: {}", common::stderr(&o));
    let dir = out.join(name);
    let v = read_verdict(&dir).unwrap();
    assert_eq!(v.experiment, name);
    assert_eq!(v.question, q.number);
    assert_eq!(v.mode.as_str(), "quick");
    assert!(!v.claims.is_empty());
    assert!(dir.join("config.json").exists(), "{name}: no config.json");
    let specs: Vec<ChartSpec> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("charts.json")).unwrap()).unwrap();
    assert!(!specs.is_empty(), "{name}: no charts");
    for s in &specs {
        assert!(dir.join(&s.csv).exists(), "{name}: missing {}", s.csv);
        let png = std::fs::read(dir.join(&s.file))
            .unwrap_or_else(|_| panic!("{name}: missing {}", s.file));
        assert!(
            png.starts_with(b"\x89PNG"),
            "{name}: {} is not a PNG",
            s.file
        );
    }
    for c in &v.claims {
        if let Some(l) = c.locked {
            assert_eq!(
                c.verdict, l,
                "{name}: claim {} measured {} but is locked {} (estimate {}, interval {:?})",
                c.id, c.verdict, l, c.estimate, c.interval
            );
        }
    }
    // Same seed, same bytes, on two threads.
    let out2 = tmp.path().join("b");
    let o = common::run_threads(name, &["--quick", "--out", out2.to_str().unwrap()], 2);
    assert!(
        o.status.success(),
        "{name} (second run) failed: {}",
        common::stderr(&o)
    );
    let csvs = common::deterministic_csvs(&dir);
    assert!(!csvs.is_empty(), "{name}: no deterministic CSV");
    for f in csvs {
        let other = out2.join(name).join(f.file_name().unwrap());
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(&other).unwrap(),
            "{name}: {} differs between two runs with the same seed (one and two threads)",
            f.display()
        );
    }
}

macro_rules! experiments {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { check_experiment(stringify!($name)); })*
        /// The list above is the registry's list of implemented experiments.
        #[test]
        fn every_implemented_experiment_is_tested() {
            let tested = [$(stringify!($name)),*];
            let implemented: Vec<&str> = registry::implemented().map(|q| q.experiment).collect();
            assert_eq!(tested.to_vec(), implemented);
        }
    };
}

experiments!(
    q01_multi_head,
    q02_qk_projections,
    q03_additive_vs_dot,
    q04_softmax_scaling,
    q05_padding_mask,
    q06_head_dim,
    q07_encoder_structure,
    q08_embedding_scale,
    q09_sinusoidal_pe,
    q10_relative_pe,
    q11_residual,
    q12_layernorm_vs_batchnorm,
    q13_batchnorm,
    q14_ffn_activation,
    q15_cross_attention,
    q16_decoder_self_attention,
    q17_parallelism,
    q18_decoder_parallel,
    q19_subword_tokenizers,
    q20_lr_warmup_dropout,
    q21_bert_mask,
);
