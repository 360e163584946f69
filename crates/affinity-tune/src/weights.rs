//! Reading and writing safetensors files under Hugging Face's tensor names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tch::Tensor;

use crate::error::{Result, TuneError};

/// What loading a checkpoint found besides the tensors it used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
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
) -> Result<(LoadReport, BTreeMap<String, Tensor>)> {
    let tensors = read(path)?;
    let had_prefix = tensors.iter().any(|(n, _)| n.starts_with("bert."))
        && !tensors.iter().any(|(n, _)| n.starts_with("embeddings."));
    let mut report = LoadReport {
        had_prefix,
        ..LoadReport::default()
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

pub(crate) fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    if !path.is_file() {
        return Err(TuneError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Tensor::read_safetensors(path).map_err(|e| TuneError::BadConfig {
        path: path.to_path_buf(),
        detail: format!("not a readable safetensors file: {e}"),
    })
}

/// Writes named tensors (moved to the CPU, contiguous) to `path` through a temporary file, so
/// that an existing file is replaced whole or not at all.
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
    let tmp = tmp_path(path);
    Tensor::write_safetensors(&cpu, &tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TuneError::from(e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| TuneError::io(path, e))
}

/// Writes bytes through a temporary file next to `path`, then renames it into place.
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| TuneError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| TuneError::io(path, e))
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
