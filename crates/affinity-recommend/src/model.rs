//! The language model as the rest of the facade sees it. With the `model` feature (on by
//! default) [`Encoder`] is affinity-tune's sentence encoder on libtorch; without it, it is a
//! type with no values, so every path that would use one still compiles and is never taken,
//! and nothing links libtorch.

use affinity_core::Progress;
use ndarray::Array2;

use crate::pipeline::Result;

#[cfg(feature = "model")]
pub use affinity_tune::SentenceEncoder as Encoder;

/// No language model in this build (the `model` feature is off): no value of this type exists,
/// so an `Option<Encoder>` is always `None`.
#[cfg(not(feature = "model"))]
#[derive(Debug)]
pub enum Encoder {}

/// Whether this build has the language model (the `model` feature).
pub const AVAILABLE: bool = cfg!(feature = "model");

/// [`embed`] as a step of `progress` named `what`.
pub(crate) fn embed_observed<S: AsRef<str>>(
    encoder: &Encoder,
    texts: &[S],
    what: &str,
    progress: &dyn Progress,
) -> Result<Array2<f32>> {
    #[cfg(feature = "model")]
    {
        progress.start(what, Some(texts.len() as u64));
        let vectors = encoder.embed_observed(texts, progress);
        progress.finish();
        to_array(vectors?)
    }
    #[cfg(not(feature = "model"))]
    {
        let _ = (texts, what, progress);
        match *encoder {}
    }
}

/// Unit vectors of `texts`, one row each.
pub(crate) fn embed<S: AsRef<str>>(encoder: &Encoder, texts: &[S]) -> Result<Array2<f32>> {
    #[cfg(feature = "model")]
    {
        to_array(encoder.embed(texts)?)
    }
    #[cfg(not(feature = "model"))]
    {
        let _ = texts;
        match *encoder {}
    }
}

/// Width of the vectors `encoder` gives.
pub(crate) fn dim(encoder: &Encoder) -> usize {
    #[cfg(feature = "model")]
    {
        encoder.dim()
    }
    #[cfg(not(feature = "model"))]
    {
        match *encoder {}
    }
}

/// The popularity prior `encoder` was trained with (0: none).
pub(crate) fn popularity_prior(encoder: &Encoder) -> f32 {
    #[cfg(feature = "model")]
    {
        encoder.popularity_prior()
    }
    #[cfg(not(feature = "model"))]
    {
        match *encoder {}
    }
}

/// An array as a `[rows, cols]` float tensor.
#[cfg(feature = "model")]
pub(crate) fn to_tensor(a: ndarray::ArrayView2<'_, f32>) -> Result<affinity_tune::tch::Tensor> {
    let flat: Vec<f32> = a.iter().copied().collect();
    let t = affinity_tune::tch::Tensor::from_slice(&flat)
        .f_view([a.nrows() as i64, a.ncols() as i64])
        .map_err(affinity_tune::TuneError::from)?;
    Ok(t)
}

/// A `[rows, dim]` tensor as an array.
#[cfg(feature = "model")]
pub(crate) fn to_array(t: affinity_tune::tch::Tensor) -> Result<Array2<f32>> {
    let size = t.size();
    let (rows, cols) = (size[0] as usize, size.get(1).copied().unwrap_or(0) as usize);
    let flat = Vec::<f32>::try_from(t.flatten(0, -1)).map_err(affinity_tune::TuneError::from)?;
    Ok(Array2::from_shape_vec((rows, cols), flat).expect("shape matches the tensor"))
}
