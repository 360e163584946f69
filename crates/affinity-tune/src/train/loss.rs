//! The losses a batch is trained on: InfoNCE (with the popularity prior over a full
//! catalogue), cross-entropy for a classification head, and the uniformity term.

use std::collections::HashMap;

use tch::{Kind, Tensor};

use crate::encoder::SentenceEncoder;
use crate::error::Result;
use crate::head::ClassifierHead;
use crate::task::{Objective, TrainingTask};

/// The mean loss of the examples `chunk` of `task`.
pub(super) fn batch_loss(
    encoder: &SentenceEncoder,
    head: Option<&ClassifierHead>,
    task: &TrainingTask,
    chunk: &[usize],
    cached: Option<&Tensor>,
    uniformity: f64,
) -> Result<Tensor> {
    let texts: Vec<&str> = chunk
        .iter()
        .map(|&i| task.examples[i].text.as_str())
        .collect();
    let queries = encoder.forward(&encoder.tokenize(&texts), true)?;
    let mut spread = None;
    let (logits, labels) = match (task.objective, head) {
        (Objective::Contrastive { scale }, _) => {
            // Each distinct target (and hard negative) is encoded once.
            let mut slot: HashMap<u32, i64> = HashMap::new();
            let mut distinct: Vec<u32> = Vec::new();
            let mut labels = Vec::with_capacity(chunk.len());
            if task.full_catalog {
                distinct.extend(0..task.targets.len() as u32);
                slot.extend(distinct.iter().map(|&t| (t, t as i64)));
            }
            for &i in chunk {
                let e = &task.examples[i];
                for (t, is_label) in
                    std::iter::once((e.target, true)).chain(e.negative.map(|n| (n, false)))
                {
                    let s = *slot.entry(t).or_insert_with(|| {
                        distinct.push(t);
                        distinct.len() as i64 - 1
                    });
                    if is_label {
                        labels.push(s);
                    }
                }
            }
            let targets = match cached {
                Some(all) => {
                    let rows: Vec<i64> = distinct.iter().map(|&t| t as i64).collect();
                    let rows = Tensor::from_slice(&rows).f_to_device(all.device())?;
                    all.f_index_select(0, &rows)?
                }
                None => {
                    let target_texts: Vec<&str> = distinct
                        .iter()
                        .map(|&t| task.targets[t as usize].as_str())
                        .collect();
                    encoder.forward(&encoder.tokenize(&target_texts), true)?
                }
            };
            if uniformity > 0.0 && cached.is_none() && distinct.len() >= 2 {
                spread = Some(uniformity_loss(&targets)?.f_mul_scalar(uniformity)?);
            }
            let mut logits = queries
                .f_matmul(&targets.f_transpose(0, 1)?)?
                .f_mul_scalar(scale)?;
            if let (Some(prior), true) = (&task.prior, task.full_catalog) {
                let row: Vec<f32> = distinct.iter().map(|&t| prior[t as usize]).collect();
                let row = Tensor::from_slice(&row)
                    .f_to_device(logits.device())?
                    .f_to_kind(logits.kind())?;
                logits = logits.f_add(&row)?;
            }
            (logits, labels)
        }
        (Objective::Classification { .. }, Some(head)) => {
            let logits = head.forward(&queries, true)?;
            let labels: Vec<i64> = chunk
                .iter()
                .map(|&i| task.examples[i].target as i64)
                .collect();
            (logits, labels)
        }
        (Objective::Classification { .. }, None) => {
            unreachable!("a head exists for classification")
        }
    };
    let labels = Tensor::from_slice(&labels).f_to_device(encoder.device())?;
    let loss =
        logits.f_cross_entropy_loss::<Tensor>(&labels, None, tch::Reduction::Mean, -100, 0.0)?;
    match spread {
        Some(term) => Ok(loss.f_add(&term)?),
        None => Ok(loss),
    }
}

/// Whether a uniformity weight is set for a task without target vectors to spread.
pub(super) fn uniformity_without_targets(uniformity: f64, task: &TrainingTask) -> bool {
    uniformity > 0.0 && !matches!(task.objective, Objective::Contrastive { .. })
}

/// Wang & Isola's uniformity of the rows of `vectors` (normalised here): the log of the mean
/// `exp(-2 |a - b|^2)` over pairs of distinct rows. Lower is more spread out; for unit
/// vectors `|a - b|^2 = 2 - 2 cos`.
fn uniformity_loss(vectors: &Tensor) -> Result<Tensor> {
    let v = vectors.f_to_kind(Kind::Float)?;
    let norm = v
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    let v = v.f_div(&norm)?;
    let n = v.size()[0];
    let potential = v
        .f_matmul(&v.f_transpose(0, 1)?)?
        .f_mul_scalar(4.0)?
        .f_sub_scalar(4.0)?
        .f_exp()?;
    // The diagonal (a row with itself) is exp(0) = 1 each.
    let pairs = potential
        .f_sum(Kind::Float)?
        .f_sub_scalar(n as f64)?
        .f_div_scalar((n * (n - 1)) as f64)?;
    Ok(pairs.f_clamp_min(1e-30)?.f_log()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniformity_is_lower_for_spread_vectors() {
        let spread = Tensor::from_slice(&[1f32, 0., 0., 1., -1., 0., 0., -1.]).view([4, 2]);
        let gathered =
            Tensor::from_slice(&[1f32, 0., 0.99, 0.1, 0.98, -0.1, 1., 0.05]).view([4, 2]);
        let value = |t: &Tensor| f64::try_from(uniformity_loss(t).unwrap()).unwrap();
        // Spread square: pairs at distance^2 2 (four) and 4 (two).
        let expected = ((4.0 * (-4f64).exp() + 2.0 * (-8f64).exp()) / 6.0).ln();
        assert!(
            (value(&spread) - expected).abs() < 1e-5,
            "{}",
            value(&spread)
        );
        assert!(value(&gathered) > -0.1, "{}", value(&gathered));
        // Scaled rows give the same figure: the rows are normalised first.
        assert!((value(&(spread.shallow_clone() * 3.0)) - expected).abs() < 1e-5);
    }
}
