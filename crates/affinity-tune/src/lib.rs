//! Pretrained BERT encoders on libtorch, fine-tuned on shoppers and products.

mod device;

pub use device::{cuda_available, DeviceChoice};
