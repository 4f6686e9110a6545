//! A reader for SWORD zText Bible modules (the format of Debian's `sword-text-*`
//! packages), and OSIS markup stripping.
//!
//! A testament is three files:
//! - `.bzv`: one 10-byte record per verse slot: u32 block, u32 offset, u16 size
//!   (little-endian); slots follow the module's versification, with empty slots for
//!   the module, testament, book and chapter headings;
//! - `.bzs`: one 12-byte record per block: u32 offset, u32 compressed size,
//!   u32 uncompressed size;
//! - `.bzz`: the zlib-compressed blocks back to back.

use std::io::Read;

use anyhow::{bail, Context, Result};

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Every verse slot of one testament as raw (marked-up) text; empty where the slot
/// holds nothing.
pub fn read_ztext(bzs: &[u8], bzv: &[u8], bzz: &[u8]) -> Result<Vec<String>> {
    if !bzs.len().is_multiple_of(12) || !bzv.len().is_multiple_of(10) {
        bail!("not a zText module: .bzs must hold 12-byte and .bzv 10-byte records");
    }
    let mut blocks: Vec<Option<Vec<u8>>> = vec![None; bzs.len() / 12];
    let mut out = Vec::with_capacity(bzv.len() / 10);
    for r in bzv.chunks_exact(10) {
        let (block, off, size) = (
            u32_at(r, 0) as usize,
            u32_at(r, 4) as usize,
            u16::from_le_bytes([r[8], r[9]]) as usize,
        );
        if size == 0 {
            out.push(String::new());
            continue;
        }
        if block >= blocks.len() {
            bail!(
                "verse slot {} points at block {block} of {}",
                out.len(),
                blocks.len()
            );
        }
        if blocks[block].is_none() {
            let i = block * 12;
            let (boff, bsize) = (u32_at(bzs, i) as usize, u32_at(bzs, i + 4) as usize);
            let raw = bzz
                .get(boff..boff + bsize)
                .with_context(|| format!("block {block} lies outside the .bzz file"))?;
            let mut text = vec![];
            flate2::read::ZlibDecoder::new(raw)
                .read_to_end(&mut text)
                .with_context(|| format!("block {block} is not zlib data"))?;
            blocks[block] = Some(text);
        }
        let b = blocks[block].as_ref().expect("decompressed above");
        let bytes = b
            .get(off..off + size)
            .with_context(|| format!("verse slot {} lies outside its block", out.len()))?;
        out.push(String::from_utf8_lossy(bytes).into_owned());
    }
    Ok(out)
}

/// Plain text from OSIS markup: `<note>` and `<title>` elements are dropped with their
/// content, every other tag is removed, whitespace is collapsed.
pub fn strip_osis(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut skip_depth: Vec<String> = vec![];
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        if skip_depth.is_empty() {
            out.push_str(&rest[..lt]);
        }
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        if name == "note" || name == "title" {
            if tag.starts_with('/') {
                if skip_depth.last() == Some(&name) {
                    skip_depth.pop();
                }
            } else if !self_closing {
                skip_depth.push(name);
            }
        }
        out.push(' ');
    }
    if skip_depth.is_empty() {
        out.push_str(rest);
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // Tags removed between a word and its punctuation leave a space: "light ." → "light."
    let mut t = text;
    for p in [" ,", " .", " ;", " :", " ?", " !", " ·"] {
        t = t.replace(p, &p[1..]);
    }
    t
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Write a zText testament holding `verses` (two per block) into memory.
    pub(crate) fn make_ztext(verses: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut bzs, mut bzv, mut bzz) = (vec![], vec![], vec![]);
        for (bi, chunk) in verses.chunks(2).enumerate() {
            let mut block = vec![];
            for v in chunk {
                let off = block.len() as u32;
                block.extend_from_slice(v.as_bytes());
                bzv.extend_from_slice(&(bi as u32).to_le_bytes());
                bzv.extend_from_slice(&off.to_le_bytes());
                bzv.extend_from_slice(&(v.len() as u16).to_le_bytes());
            }
            let mut e = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::default());
            e.write_all(&block).unwrap();
            let z = e.finish().unwrap();
            bzs.extend_from_slice(&(bzz.len() as u32).to_le_bytes());
            bzs.extend_from_slice(&(z.len() as u32).to_le_bytes());
            bzs.extend_from_slice(&(block.len() as u32).to_le_bytes());
            bzz.extend_from_slice(&z);
        }
        (bzs, bzv, bzz)
    }

    #[test]
    fn reads_what_was_written() {
        let verses = [
            "",
            "In the beginning",
            "",
            "God <w lemma=\"x\">said</w>",
            "é ñ",
        ];
        let (s, v, z) = make_ztext(&verses);
        let got = read_ztext(&s, &v, &z).unwrap();
        assert_eq!(got, verses.map(String::from));
        assert!(read_ztext(&s[..5], &v, &z).is_err());
        let mut bad = v.clone();
        bad[0] = 99; // block 99 does not exist
        bad[8] = 1;
        assert!(read_ztext(&s, &bad, &z).is_err());
    }

    #[test]
    fn strips_markup() {
        let raw = "<title type=\"x\">Psalm 1</title>Blessed <note n=\"a\">a <hi>note</hi></note>is the man<note/> , that <w lemma=\"s\">walketh</w>.\n  Amen";
        assert_eq!(strip_osis(raw), "Blessed is the man, that walketh. Amen");
        assert_eq!(strip_osis("<milestone type=\"x\"/>¶ And"), "¶ And");
    }
}
