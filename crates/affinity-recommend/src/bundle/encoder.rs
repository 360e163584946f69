//! The language model inside a bundle: written as a Hugging Face directory or as LoRA adapters
//! over a pinned base, read back with its files checked. Without the `model` feature a bundle's
//! encoder is left unread, and no encoder exists to be written.

use super::store::{DirReader, DirWriter};
#[cfg(feature = "model")]
use super::{digest_file, EncoderStorage};
use super::{BundleLoadOptions, BundleSaveOptions, EncodedIn, EncoderEntry};
use crate::model::Encoder;
#[cfg(feature = "model")]
use crate::pipeline::PipelineError;
use crate::pipeline::Result;
#[cfg(feature = "model")]
use affinity_tune::{EncoderOptions, Precision};

/// The encoder's directory inside a bundle.
#[cfg(feature = "model")]
const ENCODER: &str = "encoder";

#[cfg(feature = "model")]
pub(super) fn save(
    encoder: &Encoder,
    writer: &mut DirWriter,
    options: &BundleSaveOptions,
) -> Result<EncoderEntry> {
    let staging = writer.staging_path(ENCODER);
    let storage = if encoder.lora().is_some() && !options.merge_lora {
        let base = std::fs::canonicalize(encoder.base_dir())
            .map_err(|e| crate::pipeline::error::io(encoder.base_dir(), e))?;
        encoder.save_adapter(&staging, &base)?;
        EncoderStorage::Adapter {
            base_weights_blake3: digest_file(&base.join("model.safetensors"))?.1,
            base,
        }
    } else {
        encoder.save_pretrained(&staging)?;
        EncoderStorage::Full
    };
    writer.record_dir(ENCODER)?;
    Ok(EncoderEntry {
        dir: ENCODER.into(),
        storage,
        max_len: encoder.tokenizer().max_len(),
        precision: match encoder.precision().resolve(encoder.device()) {
            Precision::Bf16 => EncodedIn::Bf16,
            Precision::Int8 => EncodedIn::Int8,
            _ => EncodedIn::F32,
        },
        dim: encoder.dim(),
    })
}

#[cfg(feature = "model")]
pub(super) fn load(
    reader: &DirReader,
    entry: &EncoderEntry,
    options: &BundleLoadOptions,
) -> Result<Encoder> {
    if let EncoderStorage::Adapter {
        base,
        base_weights_blake3,
    } = &entry.storage
    {
        let weights = base.join("model.safetensors");
        let found = match digest_file(&weights) {
            Ok((_, digest)) => digest,
            Err(PipelineError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(PipelineError::BundleMissing { path: weights });
            }
            Err(e) => return Err(e),
        };
        if &found != base_weights_blake3 {
            return Err(PipelineError::BundleDigest {
                path: weights,
                expected: base_weights_blake3.clone(),
                found,
            });
        }
    }
    let encoder_options = EncoderOptions {
        device: options.device,
        precision: options.precision.unwrap_or(match entry.precision {
            EncodedIn::F32 => Precision::F32,
            EncodedIn::Bf16 => Precision::Bf16,
            // Int8 runs on the CPU; on a GPU the same weights encode in fp32.
            EncodedIn::Int8 if options.device.try_resolve()? != affinity_tune::tch::Device::Cpu => {
                Precision::F32
            }
            EncodedIn::Int8 => Precision::Int8,
        }),
        max_len: Some(entry.max_len),
        batch_size: options.batch_size,
        ..EncoderOptions::default()
    };
    // What libtorch will open is checked first for what it is (regular files the manifest
    // lists, no links): a FIFO would block it, a link lead it out of the bundle. Their
    // contents are checked while libtorch reads them; a failed check wins over whatever the
    // load made of a damaged file.
    reader.check_dir(&entry.dir)?;
    std::thread::scope(|s| {
        let check = s.spawn(|| reader.verify_dir(&entry.dir));
        let encoder = Encoder::from_dir(&reader.path(&entry.dir), &encoder_options);
        check.join().expect("checking the encoder files panicked")?;
        Ok(encoder?)
    })
}

#[cfg(not(feature = "model"))]
pub(super) fn save(
    encoder: &Encoder,
    _writer: &mut DirWriter,
    _options: &BundleSaveOptions,
) -> Result<EncoderEntry> {
    match *encoder {}
}

#[cfg(not(feature = "model"))]
pub(super) fn load(
    _reader: &DirReader,
    _entry: &EncoderEntry,
    _options: &BundleLoadOptions,
) -> Result<Encoder> {
    let _ = EncodedIn::F32;
    Err(affinity_core::InvalidSetting::new(
        "encoder",
        "this build has no language model (the `model` feature is off)",
    )
    .into())
}
