//! The flags every experiment binary shares, and its `main`: exit 0 when it ran
//! (whatever the verdicts), 2 for a usage error, 1 for a runtime error, always with
//! one clear line on stderr.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use crate::experiment::{Ctx, Mode, VerdictFile};
use crate::registry;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 0;

/// Where quick-mode output goes when no `--out` is given: a scratch folder that git
/// ignores, so a quick run never overwrites the committed full-mode results.
pub const QUICK_OUT: &str = "target/quick-results";

/// Where full-mode output goes when no `--out` is given.
pub const FULL_OUT: &str = "results";

/// The results root for a run: `--out` if given, else by mode.
pub fn out_dir(out: &Option<PathBuf>, quick: bool) -> PathBuf {
    out.clone()
        .unwrap_or_else(|| PathBuf::from(if quick { QUICK_OUT } else { FULL_OUT }))
}

#[derive(Parser, Debug)]
#[command(version)]
pub struct ExpArgs {
    /// CI size: seconds instead of minutes (same claims, smaller budgets).
    #[arg(long)]
    pub quick: bool,
    /// Seed for every random number (data, weights, probes).
    #[arg(long, default_value_t = DEFAULT_SEED, value_name = "N")]
    pub seed: u64,
    /// Results root; files go to OUT/<experiment>/ [default: results, or
    /// target/quick-results with --quick, so quick runs never overwrite committed results]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Print a clap error as one line (help and usage requests print in full, exit 0).
pub fn parse_or_exit<P: Parser>(about: &str) -> P {
    let cmd = P::command().about(about.to_string());
    let matches = cmd.try_get_matches();
    match matches.and_then(|m| <P as clap::FromArgMatches>::from_arg_matches(&m)) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(
                e.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                std::process::exit(if e.kind() == DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                });
            }
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("usage error")
                .trim();
            eprintln!("{first} (see --help)");
            std::process::exit(2);
        }
    }
}

/// Report an internal panic as one line instead of a backtrace.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // Output piped into a program that stopped reading (`harness list | head`): not an error.
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {}{at}", msg.replace('\n', " "));
    }));
}

/// The experiments' models are tiny: candle's worker threads cost more CPU than they
/// save (measured: the quick suite took 91.6 s with candle's default threads, 74.6 s
/// with one; one experiment used 4x the CPU time), and one thread steadies the
/// timings. An explicit RAYON_NUM_THREADS still wins (Q17 sets it per child process).
pub fn single_thread_by_default() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// How long candle's barrier-pool workers (which run the fused kernels) spin after each
/// op before parking. candle's default, 25,000 spins, keeps an idle worker busy while
/// gemm's rayon threads run the next matrix product, so at 2 threads the two pools fight
/// over the cores. Measured on the base reference step at 2 threads (`examples/step`,
/// median of 40 steps, three runs each): 62–77 ms at 25,000; 76–82 ms at 0; 53–62 ms at
/// 1,000 to 5,000. Scheduling only: every chunk runs exactly once whatever the thread
/// count, so results do not change. An explicit CANDLE_BARRIER_POOL_SPIN_LIMIT wins.
pub const BARRIER_SPIN_LIMIT: &str = "2000";

/// Set [`BARRIER_SPIN_LIMIT`] unless the environment sets it; call before any tensor op
/// (candle reads it once, when its pool starts).
pub fn tune_thread_pool() {
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", BARRIER_SPIN_LIMIT);
    }
}

/// Print the claims as a short table: measured verdict beside the lock.
pub fn print_summary(v: &VerdictFile, dir: &std::path::Path) {
    println!(
        "{} (Q{}, {} mode, seed {}): seed answer {}",
        v.experiment,
        v.question,
        v.mode.as_str(),
        v.seed,
        v.answer.as_str()
    );
    for c in &v.claims {
        let lock = match c.locked {
            None => "(not locked)".to_string(),
            Some(l) if l == c.verdict => format!("locked {l}"),
            Some(l) => format!("locked {l}  ⚠ differs"),
        };
        let iv = match c.interval_kind {
            crate::stats::IntervalKind::Exact => "exact".to_string(),
            k => format!(
                "{} {}",
                crate::fmt::interval(c.interval[0], c.interval[1]),
                k
            ),
        };
        println!(
            "  {:<7} {:<12} {:<13} {:<24} {:<40} = {} {iv}",
            c.id,
            c.kind.as_str(),
            c.verdict.as_str(),
            lock,
            truncate(&c.metric, 40),
            crate::fmt::num(c.estimate),
        );
    }
    println!("results in {}", dir.display());
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// Run one experiment as a program. `name` must be in the registry.
pub fn main(name: &str, about: &str, run: fn(&mut Ctx) -> Result<()>) -> ! {
    one_line_panics();
    single_thread_by_default();
    tune_thread_pool();
    crate::alloc::keep_freed_memory();
    let args: ExpArgs = parse_or_exit(about);
    let code = match run_once(name, &args, run) {
        Ok(v) => {
            print_summary(&v, &out_dir(&args.out, args.quick).join(name));
            0
        }
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            1
        }
    };
    std::process::exit(code)
}

fn run_once(name: &str, args: &ExpArgs, run: fn(&mut Ctx) -> Result<()>) -> Result<VerdictFile> {
    let q = registry::by_name(name).with_context(|| format!("{name} is not in the registry"))?;
    let mode = if args.quick { Mode::Quick } else { Mode::Full };
    let mut ctx = Ctx::new(q, mode, args.seed, &out_dir(&args.out, args.quick))?;
    let t0 = Instant::now();
    match run(&mut ctx) {
        Ok(()) => ctx.finish(t0.elapsed().as_secs_f64()),
        Err(e) => {
            ctx.abandon();
            Err(e)
        }
    }
}
