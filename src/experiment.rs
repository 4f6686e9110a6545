//! The context an experiment runs in: its mode, seed and output folder, and the
//! calls that write its tables, charts, config and claims.
//!
//! Everything is written into a staging folder beside the results and moved into
//! `OUT/<experiment>/` only when the run finishes, so an interrupted run leaves the
//! previous results untouched.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::claim::{self, ClaimResult, ClaimSpec, Evidence};
use crate::output::atomic;
use crate::output::chart::{self, ChartSpec};
use crate::output::table::Table;
use crate::registry::Question;
use crate::verdict::{Answer, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// CI size: seconds.
    Quick,
    /// The size behind committed results: minutes.
    Full,
}

impl Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Full => "full",
        }
    }
}

/// verdict.json: read by `harness check`, the report and the tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerdictFile {
    pub experiment: String,
    pub question: u32,
    pub seed: u64,
    pub mode: Mode,
    pub answer: Answer,
    pub claims: Vec<ClaimResult>,
    /// The answer the data support, where the seed's is wrong, incomplete or off-topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_answer: Option<String>,
    /// Published figures set beside ours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub literature: Vec<String>,
    /// Two or three sentences a candidate could say, with the key number (≤ 80 words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_short: Option<String>,
    /// The chart that shows the decided quantity (file name), shown first in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_chart: Option<String>,
    /// Further sections the question asks for (a derivation, pros and cons, an applied
    /// example), as (title, GitHub Markdown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<(String, String)>,
    /// Seconds the run took.
    pub seconds: f64,
}

pub struct Ctx {
    pub question: &'static Question,
    pub mode: Mode,
    pub seed: u64,
    /// Final results folder (OUT/<experiment>).
    pub dir: PathBuf,
    /// Where files go during the run.
    stage: PathBuf,
    charts: Vec<ChartSpec>,
    claims: Vec<ClaimResult>,
    answer: Option<Answer>,
    corrected: Option<String>,
    literature: Vec<String>,
    in_short: Option<String>,
    key_chart: Option<String>,
    sections: Vec<(String, String)>,
    quiet: bool,
}

impl Ctx {
    /// A context writing to `out/<experiment>` (staged in `out/.<experiment>.partial<pid>`).
    pub fn new(question: &'static Question, mode: Mode, seed: u64, out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out)
            .with_context(|| format!("cannot create output folder {}", out.display()))?;
        // Staging folders left by interrupted runs of this experiment are removed.
        let prefix = format!(".{}.partial", question.experiment);
        if let Ok(entries) = std::fs::read_dir(out) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let stage = out.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&stage)
            .with_context(|| format!("cannot write to output folder {}", out.display()))?;
        Ok(Self {
            question,
            mode,
            seed,
            dir: out.join(question.experiment),
            stage,
            charts: vec![],
            claims: vec![],
            answer: None,
            corrected: None,
            literature: vec![],
            in_short: None,
            key_chart: None,
            sections: vec![],
            quiet: false,
        })
    }

    /// No progress bars or table (used by tests through the library).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    pub fn quick(&self) -> bool {
        self.mode == Mode::Quick
    }

    /// `quick` in quick mode, `full` in full mode.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        match self.mode {
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    /// The folder files are being written to during the run.
    pub fn stage_dir(&self) -> &Path {
        &self.stage
    }

    /// Write the resolved config (with mode and seed) as config.json.
    pub fn save_config<C: Serialize>(&self, cfg: &C) -> Result<()> {
        #[derive(Serialize)]
        struct Saved<'a, C> {
            experiment: &'a str,
            mode: Mode,
            seed: u64,
            config: &'a C,
        }
        atomic::write_json(
            &self.stage.join("config.json"),
            &Saved {
                experiment: self.question.experiment,
                mode: self.mode,
                seed: self.seed,
                config: cfg,
            },
        )
    }

    /// Write a CSV table. Files named `timing*.csv` hold wall-clock measurements and
    /// are the only ones that differ between two runs with the same seed.
    pub fn table(&self, file: &str, t: &Table) -> Result<()> {
        t.write(&self.stage.join(file))
    }

    /// Record a chart spec and draw it from its CSV (which must be written already).
    pub fn chart(&mut self, spec: ChartSpec) -> Result<()> {
        chart::draw(&self.stage, &spec)?;
        self.charts.push(spec);
        Ok(())
    }

    /// Decide a claim of this question from the measured evidence, by the rule in
    /// its spec; the result goes to verdict.json.
    pub fn decide(&mut self, spec: &ClaimSpec, ev: Evidence) -> Result<Verdict> {
        if !self.question.claims.iter().any(|c| c.id == spec.id) {
            bail!(
                "{} is not a claim of {} (see src/spec)",
                spec.id,
                self.question.experiment
            );
        }
        if self.claims.iter().any(|c| c.id == spec.id) {
            bail!("{} decided twice", spec.id);
        }
        let r = claim::decide(spec, &ev, self.quick()).map_err(anyhow::Error::msg)?;
        let v = r.verdict;
        self.claims.push(r);
        Ok(v)
    }

    /// Attach a note (context numbers, caveats) to a decided claim.
    pub fn note(&mut self, id: &str, text: impl Into<String>) -> Result<()> {
        match self.claims.iter_mut().find(|c| c.id == id) {
            Some(c) => {
                c.note = text.into();
                Ok(())
            }
            None => bail!("note for {id}, which is not decided yet"),
        }
    }

    pub fn answer(&mut self, a: Answer) {
        self.answer = Some(a);
    }

    pub fn corrected_answer(&mut self, text: impl Into<String>) {
        self.corrected = Some(text.into());
    }

    /// The answer in short: two or three sentences a candidate could say, with the key
    /// number; at most 80 words (longer text is an error).
    pub fn in_short(&mut self, text: impl Into<String>) -> Result<()> {
        let text = text.into();
        let words = text.split_whitespace().count();
        if words > 80 {
            bail!("in-short text has {words} words (at most 80)");
        }
        self.in_short = Some(text);
        Ok(())
    }

    /// The chart (PNG file name) that shows the decided quantity; the report shows it
    /// first.
    pub fn key_chart(&mut self, file: &str) {
        self.key_chart = Some(file.into());
    }

    /// A further section the question asks for (derivation, pros and cons, applied
    /// example), in GitHub Markdown.
    pub fn section(&mut self, title: &str, markdown: impl Into<String>) {
        self.sections.push((title.into(), markdown.into()));
    }

    /// A published figure to print beside ours in the report.
    pub fn literature(&mut self, text: impl Into<String>) {
        self.literature.push(text.into());
    }

    /// A progress bar on stderr, hidden when stderr is not a terminal or in quiet mode.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        let pb = if self.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        };
        pb.set_style(
            ProgressStyle::with_template("{prefix} {msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap()
                .progress_chars("=> "),
        );
        pb.set_prefix(self.question.experiment.to_string());
        pb.set_message(what.to_string());
        pb
    }

    /// Write verdict.json and charts.json, then move the staged folder into place.
    pub fn finish(self, seconds: f64) -> Result<VerdictFile> {
        let Some(answer) = self.answer else {
            bail!(
                "{}: the experiment set no answer rating",
                self.question.experiment
            )
        };
        if self.claims.is_empty() {
            bail!(
                "{}: the experiment decided no claim",
                self.question.experiment
            );
        }
        for spec in self.question.claims {
            if !self.claims.iter().any(|c| c.id == spec.id) {
                bail!(
                    "{}: claim {} is in the spec but was not decided",
                    self.question.experiment,
                    spec.id
                );
            }
        }
        // Claims in spec order (id order).
        let order = |id: &str| {
            self.question
                .claims
                .iter()
                .position(|c| c.id == id)
                .unwrap_or(usize::MAX)
        };
        let mut claims = self.claims;
        claims.sort_by_key(|c| order(&c.id));
        let v = VerdictFile {
            experiment: self.question.experiment.into(),
            question: self.question.number,
            seed: self.seed,
            mode: self.mode,
            answer,
            claims,
            corrected_answer: self.corrected,
            literature: self.literature,
            in_short: self.in_short,
            key_chart: self.key_chart,
            sections: self.sections,
            seconds: (seconds * 10.0).round() / 10.0,
        };
        atomic::write_json(&self.stage.join("verdict.json"), &v)?;
        atomic::write_json(&self.stage.join("charts.json"), &self.charts)?;
        atomic::replace_dir(&self.stage, &self.dir)?;
        Ok(v)
    }

    /// Remove the staging folder (after a failed run).
    pub fn abandon(&self) {
        let _ = std::fs::remove_dir_all(&self.stage);
    }
}

/// Read `dir/verdict.json`.
pub fn read_verdict(dir: &Path) -> Result<VerdictFile> {
    let p = dir.join("verdict.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("missing {}", p.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid verdict file", p.display()))
}
