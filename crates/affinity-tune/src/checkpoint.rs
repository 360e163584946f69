//! The checkpoint directory of a run: `trainer_state.json`, the latest `checkpoint-epoch-N/`
//! (weights, optimizer moments, state) and `best/` (an exported model).
//!
//! Resuming reads these names and formats, also as older runs wrote them: keep them.

use affinity_core::files::StagedDir;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::encoder::SentenceEncoder;
use crate::error::{Result, TuneError};
use crate::export::write_json;
use crate::head::ClassifierHead;
use crate::optim::AdamW;
use crate::train::{nan_from_null, TrainParams, TrainReport};
use crate::weights;

const STATE_FILE: &str = "trainer_state.json";
const CHECKPOINT_PREFIX: &str = "checkpoint-epoch-";
const WEIGHTS_FILE: &str = "weights.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const BEST_DIR: &str = "best";

/// Where a run stands after an epoch: the contents of `trainer_state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    /// The last epoch trained (0: none).
    pub(crate) epoch: usize,
    pub(crate) optimizer_step: usize,
    pub(crate) best_epoch: usize,
    #[serde(deserialize_with = "nan_from_null")]
    pub(crate) best_metric: f64,
    /// Epochs since the best one.
    pub(crate) bad_epochs: usize,
    pub(crate) report: TrainReport,
    /// The run's settings. Older runs also wrote `progress`, which reading ignores.
    pub(crate) params: TrainParams,
    /// [`crate::TrainingTask::prior_digest`] of the run's task; absent in checkpoints
    /// written before it was kept (not checked then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prior_digest: Option<String>,
}

/// Reads and writes the checkpoints of one run in one directory.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    pub(crate) fn new(dir: &Path) -> Self {
        CheckpointStore {
            dir: dir.to_path_buf(),
        }
    }

    /// `trainer_state.json`, which names the latest checkpoint.
    pub(crate) fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Whether a run left a checkpoint to resume from.
    pub(crate) fn has_state(&self) -> bool {
        self.state_path().is_file()
    }

    /// The state of the latest checkpoint.
    pub(crate) fn read_state(&self) -> Result<TrainerState> {
        let path = self.state_path();
        if !path.is_file() {
            return Err(TuneError::NothingToResume {
                dir: self.dir.clone(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| TuneError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| TuneError::BadConfig {
            path,
            detail: e.to_string(),
        })
    }

    /// Loads the weights and optimizer moments of the checkpoint `state` names.
    pub(crate) fn load(
        &self,
        state: &TrainerState,
        vars: &BTreeMap<String, Tensor>,
        optimizer: &mut AdamW,
    ) -> Result<()> {
        let ckpt = self.checkpoint_dir(state.epoch);
        let vars: HashMap<String, Tensor> = vars
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        weights::load_into(&vars, &ckpt.join(WEIGHTS_FILE))?;
        optimizer.load_state(
            &weights::read(&ckpt.join(OPTIMIZER_FILE))?,
            state.optimizer_step,
        )
    }

    /// Writes `checkpoint-epoch-N/` (weights, optimizer moments, state) into a temporary
    /// folder, renames it into place, then points `trainer_state.json` at it and removes the
    /// older ones. An interruption at any point leaves a checkpoint that resumes.
    pub(crate) fn save(
        &self,
        state: &TrainerState,
        vars: &BTreeMap<String, Tensor>,
        optimizer: &AdamW,
    ) -> Result<()> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir).map_err(|e| TuneError::io(dir, e))?;
        let name = checkpoint_name(state.epoch);
        let staged = StagedDir::new(&dir.join(&name))?;
        weights::write_atomic(vars, &staged.path().join(WEIGHTS_FILE))?;
        weights::write_atomic(&optimizer.state(), &staged.path().join(OPTIMIZER_FILE))?;
        write_json(&staged.path().join(STATE_FILE), state)?;
        staged.commit()?;
        write_json(&self.state_path(), state)?;
        self.remove_all_but(&name)
    }

    /// Removes every checkpoint but `keep`; one that will not go is left for the next time.
    fn remove_all_but(&self, keep: &str) -> Result<()> {
        let dir = &self.dir;
        for entry in std::fs::read_dir(dir)
            .map_err(|e| TuneError::io(dir, e))?
            .flatten()
        {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(CHECKPOINT_PREFIX) && n != keep {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
    }

    /// Whether `best/` exists.
    pub(crate) fn has_best(&self) -> bool {
        self.dir.join(BEST_DIR).exists()
    }

    /// Exports the encoder's current weights to `best/` as a Hugging Face directory (or LoRA
    /// adapters), with the classification head if any, swapping it in only once complete.
    pub(crate) fn save_best(
        &self,
        encoder: &SentenceEncoder,
        head: Option<&ClassifierHead>,
    ) -> Result<()> {
        let staged = StagedDir::new(&self.dir.join(BEST_DIR))?;
        match encoder.lora() {
            Some(_) => encoder.save_adapter(staged.path(), encoder.base_dir())?,
            None => encoder.save_pretrained(staged.path())?,
        }
        if let Some(h) = head {
            h.save(staged.path())?;
        }
        staged.commit()?;
        Ok(())
    }

    fn checkpoint_dir(&self, epoch: usize) -> PathBuf {
        self.dir.join(checkpoint_name(epoch))
    }
}

fn checkpoint_name(epoch: usize) -> String {
    format!("{CHECKPOINT_PREFIX}{epoch}")
}
