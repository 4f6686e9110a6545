//! Files are written to a temporary name beside their target and renamed into place,
//! so an interrupted run never leaves a half-written file or destroys the old one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A temporary sibling of `path` (same folder, so the rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp{}.{name}", std::process::id()))
}

/// Write `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create folder {}", dir.display()))?;
        }
    }
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// Pretty JSON, written atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write(path, s.as_bytes())
}

/// Let `produce` write a file at a temporary path, then rename it to `path`.
pub fn write_with(path: &Path, produce: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let r = produce(&tmp);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return r;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// Replace folder `dst` by folder `src` (both on one filesystem): the old folder is
/// moved aside first and removed only after the new one is in place.
pub fn replace_dir(src: &Path, dst: &Path) -> Result<()> {
    let old = dst.with_file_name(format!(
        ".{}.old{}",
        dst.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = dst.exists();
    if had_old {
        std::fs::rename(dst, &old)
            .with_context(|| format!("cannot move old results {} aside", dst.display()))?;
    }
    if let Err(e) = std::fs::rename(src, dst) {
        if had_old {
            let _ = std::fs::rename(&old, dst);
        }
        return Err(e).with_context(|| format!("cannot move new results into {}", dst.display()));
    }
    if had_old {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_then_replace_dir() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a/b.txt");
        super::write(&f, b"one").unwrap();
        super::write(&f, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "two");
        let new = d.path().join("new");
        super::write(&new.join("x.txt"), b"x").unwrap();
        super::replace_dir(&new, &d.path().join("a")).unwrap();
        assert!(d.path().join("a/x.txt").exists() && !d.path().join("a/b.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
