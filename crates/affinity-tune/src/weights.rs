//! Reading and writing safetensors files under Hugging Face's tensor names.

use affinity_core::files;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::error::{Result, TuneError};

/// What loading a checkpoint found besides the tensors it used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightsReport {
    /// Tensors copied into the model.
    pub loaded: usize,
    /// Whether the names carried a `bert.` prefix (as in `BertFor...` checkpoints).
    pub had_prefix: bool,
    /// Tensors the model has no place for (names as in the file).
    pub unexpected: Vec<String>,
    /// Tensors skipped on purpose: the pooler (we pool ourselves) and buffers like `position_ids`.
    pub ignored: Vec<String>,
}

fn is_ignorable(name: &str) -> bool {
    name.starts_with("pooler.") || name.ends_with("position_ids")
}

/// Copies the tensors of `path` into `vars` (model names), accepting a `bert.` prefix.
/// Every model tensor must be present with its shape; extra ones are reported.
/// Pooler tensors are returned so that an export can carry them through unchanged.
pub(crate) fn load_into(
    vars: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(WeightsReport, BTreeMap<String, Tensor>)> {
    let tensors = read(path)?;
    let had_prefix = tensors.iter().any(|(n, _)| n.starts_with("bert."))
        && !tensors.iter().any(|(n, _)| n.starts_with("embeddings."));
    let mut report = WeightsReport {
        had_prefix,
        ..WeightsReport::default()
    };
    let mut seen = std::collections::HashSet::new();
    let mut pooler = BTreeMap::new();
    tch::no_grad(|| -> Result<()> {
        for (name, tensor) in &tensors {
            let key = if had_prefix {
                name.strip_prefix("bert.").unwrap_or(name)
            } else {
                name.as_str()
            };
            match vars.get(key) {
                Some(var) => {
                    if var.size() != tensor.size() {
                        return Err(TuneError::ShapeMismatch {
                            path: path.to_path_buf(),
                            name: name.clone(),
                            expected: var.size(),
                            found: tensor.size(),
                        });
                    }
                    let mut var = var.shallow_clone();
                    var.f_copy_(&tensor.f_to_kind(var.kind())?.f_to_device(var.device())?)?;
                    seen.insert(key.to_string());
                    report.loaded += 1;
                }
                None if is_ignorable(key) => {
                    report.ignored.push(name.clone());
                    if key.starts_with("pooler.") {
                        pooler.insert(key.to_string(), tensor.shallow_clone());
                    }
                }
                None => report.unexpected.push(name.clone()),
            }
        }
        Ok(())
    })?;
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(TuneError::MissingTensors {
            path: path.to_path_buf(),
            names: missing,
        });
    }
    report.unexpected.sort();
    report.ignored.sort();
    Ok((report, pooler))
}

/// A checkpoint whose tensors become the model's variables as the model is built (no random
/// draws, no zero fill, no copy into a second buffer), with the same checks as [`load_into`]:
/// a missing tensor or a wrong shape is an error naming it, extra tensors are reported.
pub(crate) struct Preloaded {
    path: PathBuf,
    /// Tensors by model name (a `bert.` prefix removed), with the name in the file.
    tensors: HashMap<String, (String, Tensor)>,
    had_prefix: bool,
    taken: usize,
    missing: Vec<String>,
    mismatch: Option<TuneError>,
}

impl Preloaded {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let tensors = read(path)?;
        let had_prefix = tensors.iter().any(|(n, _)| n.starts_with("bert."))
            && !tensors.iter().any(|(n, _)| n.starts_with("embeddings."));
        let tensors = tensors
            .into_iter()
            .map(|(name, t)| {
                let key = match had_prefix {
                    true => name.strip_prefix("bert.").unwrap_or(&name).to_string(),
                    false => name.clone(),
                };
                (key, (name, t))
            })
            .collect();
        Ok(Preloaded {
            path: path.to_path_buf(),
            tensors,
            had_prefix,
            taken: 0,
            missing: Vec::new(),
            mismatch: None,
        })
    }

    /// The variable `name` under `p`: the checkpoint's tensor in fp32 on `p`'s device. A
    /// missing or misshapen tensor gives zeros for now and an error from [`Preloaded::finish`].
    pub fn take(&mut self, p: &tch::nn::Path, name: &str, dims: &[i64]) -> Tensor {
        let key = p.path(name);
        let zeros = |p: &tch::nn::Path| p.var(name, dims, tch::nn::Init::Const(0.0));
        let Some((file_name, tensor)) = self.tensors.remove(&key) else {
            self.missing.push(key);
            return zeros(p);
        };
        if tensor.size() != dims {
            self.mismatch.get_or_insert(TuneError::ShapeMismatch {
                path: self.path.clone(),
                name: file_name,
                expected: dims.to_vec(),
                found: tensor.size(),
            });
            return zeros(p);
        }
        let converted = tensor
            .f_to_kind(tch::Kind::Float)
            .and_then(|t| t.f_to_device(p.device()));
        match converted {
            Ok(t) => {
                self.taken += 1;
                p.add(name, t, true)
            }
            Err(e) => {
                self.mismatch.get_or_insert(e.into());
                zeros(p)
            }
        }
    }

    /// What was loaded, and the pooler tensors (kept for export); an error for the first
    /// misshapen tensor, else for the missing ones.
    pub fn finish(self) -> Result<(WeightsReport, BTreeMap<String, Tensor>)> {
        if let Some(e) = self.mismatch {
            return Err(e);
        }
        if !self.missing.is_empty() {
            let mut names = self.missing;
            names.sort();
            return Err(TuneError::MissingTensors {
                path: self.path,
                names,
            });
        }
        let mut report = WeightsReport {
            loaded: self.taken,
            had_prefix: self.had_prefix,
            ..WeightsReport::default()
        };
        let mut pooler = BTreeMap::new();
        for (key, (name, tensor)) in self.tensors {
            if is_ignorable(&key) {
                report.ignored.push(name);
                if key.starts_with("pooler.") {
                    pooler.insert(key, tensor);
                }
            } else {
                report.unexpected.push(name);
            }
        }
        report.unexpected.sort();
        report.ignored.sort();
        Ok((report, pooler))
    }
}

/// One entry of a safetensors header.
#[derive(serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<i64>,
    data_offsets: (u64, u64),
}

/// The tensors of a safetensors file, read tensor by tensor through one reused buffer (a
/// whole-file read would fault in a second model-sized allocation).
pub(crate) fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |detail: String| TuneError::BadConfig {
        path: path.to_path_buf(),
        detail: format!("not a readable safetensors file: {detail}"),
    };
    let mut file = std::fs::File::open(path).map_err(|e| TuneError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| TuneError::io(path, e))?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|e| bad(e.to_string()))?;
    let n = u64::from_le_bytes(n);
    if n > file_len.saturating_sub(8) || n > 100 << 20 {
        return Err(bad(format!(
            "a header of {n} bytes in a file of {file_len}"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(e.to_string()))?;
    let header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
    let mut entries: Vec<(String, Entry)> = header
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, v)| {
            serde_json::from_value(v)
                .map(|e| (name.clone(), e))
                .map_err(|e| bad(format!("{name}: {e}")))
        })
        .collect::<Result<_>>()?;
    entries.sort_by_key(|(_, e)| e.data_offsets.0);
    let data_start = 8 + n;
    let mut buffer = Vec::new();
    let mut out = Vec::with_capacity(entries.len());
    for (name, e) in entries {
        let kind = match e.dtype.as_str() {
            "F32" => tch::Kind::Float,
            "F16" => tch::Kind::Half,
            "BF16" => tch::Kind::BFloat16,
            "F64" => tch::Kind::Double,
            "I64" => tch::Kind::Int64,
            "I32" => tch::Kind::Int,
            "I16" => tch::Kind::Int16,
            "I8" => tch::Kind::Int8,
            "U8" => tch::Kind::Uint8,
            "BOOL" => tch::Kind::Bool,
            other => return Err(bad(format!("{name}: unsupported dtype {other}"))),
        };
        let (from, to) = e.data_offsets;
        // Checked: a header is untrusted input, and a wrapped product or offset would pass
        // the bounds test and read the wrong bytes.
        let bytes = e
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))
            .and_then(|n| n.checked_mul(kind.elt_size_in_bytes() as u64));
        let end = data_start.checked_add(to);
        if to < from || bytes != Some(to - from) || end.is_none_or(|end| end > file_len) {
            return Err(bad(format!(
                "{name}: bytes {from}..{to} do not hold {:?} {:?} within {file_len} bytes",
                e.dtype, e.shape
            )));
        }
        buffer.resize((to - from) as usize, 0);
        file.seek(SeekFrom::Start(data_start + from))
            .and_then(|_| file.read_exact(&mut buffer))
            .map_err(|err| bad(format!("{name}: {err}")))?;
        let tensor = Tensor::f_from_data_size(&buffer, &e.shape, kind)?;
        out.push((name, tensor));
    }
    Ok(out)
}

/// Writes named tensors (moved to the CPU, contiguous) to `path` through a synced temporary
/// file, so that an existing file is replaced whole or not at all.
pub(crate) fn write_atomic(tensors: &BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| {
            Ok((
                n.clone(),
                t.f_detach()?
                    .f_to_device(tch::Device::Cpu)?
                    .f_contiguous()?,
            ))
        })
        .collect::<Result<_>>()?;
    files::write_file_at(path, |tmp| -> Result<()> {
        Ok(Tensor::write_safetensors(&cpu, tmp)?)
    })
}

/// Writes bytes to `path` through a synced temporary file.
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(files::write_bytes(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file with `header` and `data` bytes after it.
    fn file(dir: &Path, header: &str, data: &[u8]) -> std::path::PathBuf {
        let path = dir.join("w.safetensors");
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn headers_that_overflow_or_lie_are_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = file(
            dir.path(),
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert_eq!(read(&good).unwrap()[0].1.size(), [2]);
        let max = u64::MAX;
        for header in [
            // The element count overflows (and wraps to a small number).
            r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#
                .to_string(),
            // Negative dimensions whose product looks right.
            r#"{"a":{"dtype":"F32","shape":[-1,-2],"data_offsets":[0,8]}}"#.to_string(),
            // Offsets near the end of u64: the end wraps around to inside the file.
            format!(
                r#"{{"a":{{"dtype":"F32","shape":[1],"data_offsets":[{},{max}]}}}}"#,
                max - 4
            ),
            // Bytes beyond the file.
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#.to_string(),
        ] {
            let path = file(dir.path(), &header, &[0; 8]);
            match read(&path) {
                Err(TuneError::BadConfig { detail, .. }) => {
                    assert!(detail.contains("safetensors"), "{detail}")
                }
                other => panic!("{header}: {other:?}"),
            }
        }
    }
}
