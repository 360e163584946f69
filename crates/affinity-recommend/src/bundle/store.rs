//! Bundle directories on disk: written into a temporary directory and renamed into place (a
//! failed or killed write never leaves a bundle that loads), read back with every file's size
//! and digest checked against the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use affinity_core::files::{is_confined, open_regular_in, StagedDir};

use super::manifest::{FileEntry, Manifest, FORMAT, FORMAT_VERSION};
use crate::pipeline::error::{corrupt, io};
use crate::pipeline::{PipelineError, Result};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// Size and BLAKE3 (hex) of a file, read in one pass.
pub fn digest_file(path: &Path) -> Result<(u64, String)> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    digest_reader(path, file)
}

/// Size and BLAKE3 (hex) of what `file` (at `path`) holds.
fn digest_reader(path: &Path, file: std::fs::File) -> Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    let bytes = std::io::copy(
        &mut std::io::BufReader::with_capacity(1 << 20, file),
        &mut hasher,
    )
    .map_err(|e| io(path, e))?;
    Ok((bytes, hasher.finalize().to_hex().to_string()))
}

/// Now, as RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = affinity_data::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes files into a staged directory beside the target ([`StagedDir`]), recording each
/// one's size and digest; [`DirWriter::finish`] writes the manifest last and swaps the
/// directory into place. Dropped unfinished, it removes what it wrote.
pub struct DirWriter {
    staged: StagedDir,
    files: BTreeMap<String, FileEntry>,
}

/// Fails unless `target` is absent, an empty directory, or a bundle (its manifest says so:
/// a directory that merely holds some `manifest.json` is never replaced).
fn replaceable(target: &Path) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    let is_empty = std::fs::read_dir(target)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    let is_bundle = std::fs::read(target.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(FORMAT));
    if is_empty || is_bundle {
        Ok(())
    } else {
        Err(corrupt(
            target,
            "exists and is not a bundle; refusing to replace it",
        ))
    }
}

impl DirWriter {
    /// Starts a bundle that will appear at `target`. An existing `target` must be a bundle
    /// (or empty): it is replaced only when the new one is complete.
    pub fn create(target: &Path) -> Result<Self> {
        if target.file_name().is_none() {
            return Err(corrupt(
                target,
                "a bundle path needs a final directory name",
            ));
        }
        replaceable(target)?;
        Ok(DirWriter {
            staged: StagedDir::new(target)?,
            files: BTreeMap::new(),
        })
    }

    /// Where `name` goes while the bundle is being written (for writers that want a path).
    #[cfg_attr(not(feature = "model"), allow(dead_code))] // the encoder's files
    pub fn staging_path(&self, name: &str) -> PathBuf {
        self.staged.path().join(name)
    }

    /// Writes one file.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staging_path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        self.files.insert(
            name.to_string(),
            FileEntry {
                bytes: bytes.len() as u64,
                blake3: blake3::hash(bytes).to_hex().to_string(),
            },
        );
        Ok(())
    }

    /// Records every file under `dir` (relative to the bundle) that something else wrote
    /// into the staging directory.
    #[cfg_attr(not(feature = "model"), allow(dead_code))] // the encoder's files
    pub fn record_dir(&mut self, dir: &str) -> Result<()> {
        let root = self.staged.path().to_path_buf();
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
                let path = entry.map_err(|e| io(&d, e))?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let (bytes, blake3) = digest_file(&path)?;
                let name = path
                    .strip_prefix(&root)
                    .expect("under the staging directory")
                    .to_string_lossy()
                    .replace('\\', "/");
                self.files.insert(name, FileEntry { bytes, blake3 });
            }
        }
        Ok(())
    }

    /// Writes the manifest (with the files recorded), checks that it reads back, and swaps
    /// the bundle into place, every file synced first.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Manifest> {
        manifest.files = std::mem::take(&mut self.files);
        super::manifest::seal(&mut manifest);
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let target = self.staged.target().to_path_buf();
        // What cannot be read back (a NaN written as null, say) must not replace anything.
        match serde_json::from_slice::<Manifest>(&json) {
            Ok(back) if back == manifest => {}
            Ok(_) => {
                return Err(corrupt(
                    &target,
                    "the manifest does not read back as written",
                ))
            }
            Err(e) => {
                return Err(corrupt(
                    &target,
                    format!("the manifest does not read back: {e}"),
                ))
            }
        }
        replaceable(&target)?;
        let path = self.staging_path(MANIFEST);
        std::fs::write(&path, &json).map_err(|e| io(&path, e))?;
        self.staged.commit()?;
        Ok(manifest)
    }
}

/// A bundle directory opened for reading: the manifest parsed and its version checked.
#[derive(Debug)]
pub struct DirReader {
    dir: PathBuf,
    manifest: Manifest,
}

impl DirReader {
    /// Reads and checks `dir/manifest.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PipelineError::BundleMissing { path });
            }
            Err(e) => return Err(io(&path, e)),
        };
        // The version first: a newer layout may not parse as this one.
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| corrupt(&path, e.to_string()))?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        let format = value.get("format").and_then(|v| v.as_str());
        match (format, version) {
            (Some(FORMAT), Some(v)) if v >= 1 && v <= u64::from(FORMAT_VERSION) => {}
            _ => {
                return Err(PipelineError::BundleVersion {
                    path,
                    found: format!(
                        "{} {}",
                        format.unwrap_or("(no format)"),
                        version.map_or("(no version)".into(), |v| v.to_string())
                    ),
                    supported: FORMAT_VERSION,
                })
            }
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| corrupt(&path, e.to_string()))?;
        if let Some((expected, found)) = super::manifest::check_seal(&text, &manifest) {
            return Err(PipelineError::BundleDigest {
                path,
                expected,
                found,
            });
        }
        confine(&path, &manifest)?;
        Ok(DirReader {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where `name` is in the bundle.
    #[cfg_attr(not(feature = "model"), allow(dead_code))] // the encoder's files
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn entry(&self, name: &str) -> Result<&FileEntry> {
        self.manifest.files.get(name).ok_or_else(|| {
            corrupt(
                &self.dir.join(MANIFEST),
                format!("the manifest does not list {name}"),
            )
        })
    }

    fn check(&self, name: &str, bytes: u64, digest: impl FnOnce() -> String) -> Result<()> {
        let entry = self.entry(name)?;
        let path = self.dir.join(name);
        if bytes != entry.bytes {
            return Err(PipelineError::BundleSize {
                path,
                expected: entry.bytes,
                found: bytes,
            });
        }
        let found = digest();
        if found != entry.blake3 {
            return Err(PipelineError::BundleDigest {
                path,
                expected: entry.blake3.clone(),
                found,
            });
        }
        Ok(())
    }

    /// `name` opened for reading: a regular file inside the bundle, reached without
    /// following a link ([`open_regular_in`]).
    fn open_file(&self, name: &str) -> Result<std::fs::File> {
        let path = self.dir.join(name);
        open_regular_in(&self.dir, name).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PipelineError::BundleMissing { path },
            std::io::ErrorKind::InvalidData => corrupt(&path, e.to_string()),
            _ => io(&path, e),
        })
    }

    /// The bytes of `name`, after checking its size and digest.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.entry(name)?;
        let path = self.dir.join(name);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut self.open_file(name)?, &mut bytes)
            .map_err(|e| io(&path, e))?;
        self.check(name, bytes.len() as u64, || {
            blake3::hash(&bytes).to_hex().to_string()
        })?;
        Ok(bytes)
    }

    /// Checks every listed file under `dir` (for files another reader opens by path) and
    /// returns the directory's path.
    #[cfg_attr(not(feature = "model"), allow(dead_code))] // the encoder's files
    pub fn verify_dir(&self, dir: &str) -> Result<PathBuf> {
        self.check_dir(dir)?;
        let prefix = format!("{dir}/");
        let names: Vec<&String> = self
            .manifest
            .files
            .keys()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        if names.is_empty() {
            return Err(PipelineError::BundleMissing {
                path: self.dir.join(dir),
            });
        }
        for name in names {
            let path = self.dir.join(name);
            let (bytes, digest) = digest_reader(&path, self.open_file(name)?)?;
            self.check(name, bytes, || digest)?;
        }
        Ok(self.dir.join(dir))
    }

    /// Checks, without opening anything, that directory `dir` of the bundle holds only
    /// regular files the manifest lists (and directories): another reader (libtorch) opens
    /// them by path, so a link out of the bundle, a FIFO that would block it, or a file
    /// nobody checks is refused first.
    #[cfg_attr(not(feature = "model"), allow(dead_code))] // the encoder's files
    pub fn check_dir(&self, dir: &str) -> Result<()> {
        let root = self.dir.join(dir);
        // The directory itself is reached as every file is: no link on the way.
        let mut path = self.dir.clone();
        for part in dir.split('/') {
            path.push(part);
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PipelineError::BundleMissing { path });
                }
                Err(e) => return Err(io(&path, e)),
                Ok(meta) if !meta.file_type().is_dir() => {
                    return Err(corrupt(&path, "not a directory (a link, or a file)"));
                }
                Ok(_) => {}
            }
        }
        let mut stack = vec![(root, dir.to_owned())];
        while let Some((path, name)) = stack.pop() {
            for entry in std::fs::read_dir(&path).map_err(|e| io(&path, e))? {
                let entry = entry.map_err(|e| io(&path, e))?;
                let child = entry.path();
                let child_name = format!("{name}/{}", entry.file_name().to_string_lossy());
                let kind = entry.file_type().map_err(|e| io(&child, e))?;
                if kind.is_dir() {
                    stack.push((child, child_name));
                } else if !kind.is_file() {
                    return Err(corrupt(
                        &child,
                        "not a regular file (a link, FIFO or device)",
                    ));
                } else if !self.manifest.files.contains_key(&child_name) {
                    return Err(corrupt(&child, "a file the manifest does not list"));
                }
            }
        }
        Ok(())
    }
}

/// Refuses a manifest that names a place outside its bundle: every file it lists and every
/// file or directory it points to must be a plain relative path (see
/// [`affinity_core::files::is_confined`]), checked before any of them is opened. The manifest's
/// digest is not a signature (anyone can reseal an edited one), so this is what keeps a
/// bundle from reading `/etc/passwd` or an encoder from elsewhere.
fn confine(manifest_path: &Path, manifest: &Manifest) -> Result<()> {
    let mut named: Vec<(&str, &str)> = manifest
        .files
        .keys()
        .map(|k| ("a file", k.as_str()))
        .collect();
    if let Some(e) = &manifest.encoder {
        named.push(("the encoder directory", &e.dir));
    }
    for v in [&manifest.vectors, &manifest.user_vectors]
        .into_iter()
        .flatten()
    {
        named.push(("a vectors file", &v.file));
    }
    if let Some(t) = &manifest.sequential {
        named.push(("the sequential tower's directory", &t.dir));
        named.push(("a vectors file", &t.vectors.file));
    }
    for (what, name) in named {
        if !is_confined(name) || name == MANIFEST {
            return Err(corrupt(
                manifest_path,
                format!("{what} {name:?} is not a path inside the bundle"),
            ));
        }
    }
    Ok(())
}
