//! Validation after each epoch: the queries ranked against every target, as served, at the
//! popularity prior's best weight.

use tch::{Device, Kind};

use super::settings::Monitor;
use crate::encoder::SentenceEncoder;
use crate::error::Result;
use crate::head::ClassifierHead;
use crate::task::TrainingTask;

/// Multiples of the task's prior weight tried on the validation step: the trained weight
/// first (it wins ties), 0 (the cosine alone) and heavier ones down to popularity with the
/// cosine breaking its ties. Menon et al. (2021) tune their logit adjustment the same way.
const PRIOR_MULTIPLES: [f32; 9] = [1.0, 0.0, 0.25, 0.5, 2.0, 4.0, 8.0, 16.0, 64.0];

/// Validation figures of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Validation {
    pub ndcg10: f64,
    pub recall10: f64,
    /// The popularity prior's weight the figures were scored with (0 without a prior).
    pub prior_weight: f32,
}

/// NDCG@10 and Recall@10 of the validation queries, ranked against all targets. With a
/// prior, the products are scored `cosine + w x prior` as served, with the `w` among
/// [`PRIOR_MULTIPLES`] of the task's weight that scores best by `monitor`.
pub(crate) fn validate(
    encoder: &SentenceEncoder,
    head: Option<&ClassifierHead>,
    task: &TrainingTask,
    monitor: Monitor,
) -> Result<Validation> {
    let trained = task.prior_weight();
    if task.validation.is_empty() {
        return Ok(Validation {
            ndcg10: f64::NAN,
            recall10: f64::NAN,
            prior_weight: trained,
        });
    }
    let _guard = tch::no_grad_guard();
    let texts: Vec<&str> = task.validation.iter().map(|q| q.text.as_str()).collect();
    let queries = encoder.embed(&texts)?;
    let scores = match head {
        Some(h) => h.forward(&queries.f_to_device(encoder.device())?, false)?,
        None => {
            let targets = encoder.embed(&task.targets)?;
            queries.f_matmul(&targets.f_transpose(0, 1)?)?
        }
    };
    let scores = scores.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
    let n_targets = scores.size()[1];
    // One copy, scored at every weight below.
    let all = Vec::<f32>::try_from(scores.f_flatten(0, -1)?)?;
    drop(scores);
    let rows: Vec<&[f32]> = all.chunks(n_targets.max(1) as usize).collect();
    // The target itself is never excluded, even when the history holds it.
    let excludes: Vec<Vec<u32>> = task
        .validation
        .iter()
        .map(|q| {
            q.exclude
                .iter()
                .copied()
                .filter(|&x| (x as i64) < n_targets && x != q.target)
                .collect()
        })
        .collect();
    let measure = |weight: f32| {
        let mut ndcg = 0.0;
        let mut recall = 0.0;
        let mut row = vec![0f32; n_targets as usize];
        for (qi, q) in task.validation.iter().enumerate() {
            row.copy_from_slice(rows[qi]);
            if let (Some(prior), true) = (&task.prior, weight > 0.0) {
                row.iter_mut()
                    .zip(prior)
                    .for_each(|(s, p)| *s += weight * p);
            }
            let ranked: Vec<u32> = affinity_rank::top_k(&row, 10, &excludes[qi])
                .into_iter()
                .map(|s| s.item)
                .collect();
            ndcg += affinity_data::metrics::ndcg_at(&ranked, &[q.target], 10);
            recall += affinity_data::metrics::recall_at(&ranked, &[q.target], 10);
        }
        let n = task.validation.len() as f64;
        Validation {
            ndcg10: ndcg / n,
            recall10: recall / n,
            prior_weight: weight,
        }
    };
    if task.prior.is_none() {
        return Ok(measure(0.0));
    }
    Ok(best_prior_weight(trained, monitor, measure))
}

/// The figures of the best of [`PRIOR_MULTIPLES`] of `trained`, by `monitor`; the trained
/// weight wins ties, then the earlier multiple.
fn best_prior_weight(
    trained: f32,
    monitor: Monitor,
    measure: impl Fn(f32) -> Validation,
) -> Validation {
    let key = |v: &Validation| monitor.pick(v.ndcg10, v.recall10);
    let mut best = measure(trained);
    for multiple in &PRIOR_MULTIPLES[1..] {
        let v = measure(trained * multiple);
        if key(&v) > key(&best) {
            best = v;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prior_weight_is_the_best_multiple_and_the_trained_one_wins_ties() {
        // Figures that peak at `peak` (NDCG) and are flat in Recall.
        let peaked = |peak: f32| {
            move |w: f32| Validation {
                ndcg10: 1.0 - (w - peak).abs() as f64,
                recall10: 0.5,
                prior_weight: w,
            }
        };
        let pick = |peak, monitor| best_prior_weight(0.2, monitor, peaked(peak)).prior_weight;
        assert_eq!(pick(0.8, Monitor::Ndcg10), 0.8);
        assert_eq!(pick(0.0, Monitor::Ndcg10), 0.0);
        assert_eq!(pick(100.0, Monitor::Ndcg10), 0.2 * 64.0);
        assert_eq!(pick(0.2, Monitor::Ndcg10), 0.2);
        // Every weight ties on Recall: the trained one is kept.
        assert_eq!(pick(0.8, Monitor::Recall10), 0.2);
    }
}
