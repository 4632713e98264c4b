//! `web precompress DIR`: write `.br` and `.gz` twins of the built frontend's text and wasm
//! files, so the server sends the smallest encoding without compressing on every request.
//!
//! Compression happens once, at build time, at the strongest settings (brotli 11, gzip 9),
//! which would be far too slow per request.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Extensions worth compressing: text and WebAssembly. Images and fonts are compressed already.
const COMPRESSIBLE: &[&str] = &[
    "html",
    "js",
    "mjs",
    "css",
    "wasm",
    "svg",
    "json",
    "txt",
    "xml",
    "map",
    "webmanifest",
    "ico",
];

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files that got at least one twin.
    pub files: usize,
    /// Their total size.
    pub raw_bytes: u64,
    /// The total size of their `.gz` twins (or of the file where gzip did not help).
    pub gzip_bytes: u64,
    /// The total size of their `.br` twins (or of the file where brotli did not help).
    pub brotli_bytes: u64,
}

/// Writes `NAME.br` and `NAME.gz` next to every compressible file under `dir` (recursively),
/// each only when it is smaller than the file.
pub fn precompress_dir(dir: &Path) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for path in files(dir)? {
        let compressible = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| COMPRESSIBLE.contains(&ext));
        if !compressible {
            continue;
        }
        let raw = fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let gzip = write_twin(&path, "gz", &raw, gzip(&raw)?)?;
        let brotli = write_twin(&path, "br", &raw, brotli(&raw)?)?;
        if gzip.is_some() || brotli.is_some() {
            summary.files += 1;
            summary.raw_bytes += len(&raw);
            summary.gzip_bytes += gzip.unwrap_or(len(&raw));
            summary.brotli_bytes += brotli.unwrap_or(len(&raw));
        }
    }
    Ok(summary)
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// Every regular file under `dir`, in a stable order.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries =
            fs::read_dir(&folder).with_context(|| format!("list {}", folder.display()))?;
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes `PATH.EXT` when `compressed` is smaller than `raw` (removing a stale twin otherwise,
/// so the server never prefers a larger file); answers the size written.
fn write_twin(
    path: &Path,
    ext: &str,
    raw: &[u8],
    compressed: Vec<u8>,
) -> anyhow::Result<Option<u64>> {
    let mut twin = path.as_os_str().to_owned();
    twin.push(".");
    twin.push(ext);
    let twin = PathBuf::from(twin);
    if compressed.len() >= raw.len() {
        if twin.exists() {
            fs::remove_file(&twin).with_context(|| format!("remove {}", twin.display()))?;
        }
        return Ok(None);
    }
    fs::write(&twin, &compressed).with_context(|| format!("write {}", twin.display()))?;
    Ok(Some(len(&compressed)))
}

/// Gzip at the strongest level.
pub fn gzip(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(raw)?;
    Ok(encoder.finish()?)
}

/// Brotli at the strongest quality, with a 4 MiB window (what browsers accept).
pub fn brotli(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, 22);
        writer.write_all(raw)?;
        writer.flush()?;
    }
    Ok(out)
}
