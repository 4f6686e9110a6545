//! Helpers shared by the integration tests: run a built binary, read its results.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// Experiment runs are serialized: several measure wall-clock ratios, which two
/// concurrent runs on a 2-core machine would distort.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// The folder holding the built binaries (target/release when testing with --release).
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn command(name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin(name));
    c.args(args).env("HARNESS_NO_BUILD", "1");
    c
}

fn output(mut c: Command, name: &str) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
}

pub fn run(name: &str, args: &[&str]) -> Output {
    output(command(name, args), name)
}

/// `run` with candle (and gemm) on `threads` threads.
pub fn run_threads(name: &str, args: &[&str], threads: usize) -> Output {
    let mut c = command(name, args);
    c.env("RAYON_NUM_THREADS", threads.to_string());
    output(c, name)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// CSV files in a results folder, except wall-clock `timing*.csv`.
pub fn deterministic_csvs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().map(|e| e == "csv").unwrap_or(false))
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("timing")
        })
        .collect();
    v.sort();
    v
}
