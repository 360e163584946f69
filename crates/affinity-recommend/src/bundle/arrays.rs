//! Numeric arrays in safetensors files (the format the model weights use too), with typed
//! errors that name the file and the tensor.

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::pipeline::error::corrupt;
use crate::pipeline::Result;

/// One named array to write.
pub struct Array {
    name: &'static str,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

macro_rules! constructor {
    ($fn:ident, $ty:ty, $dtype:ident) => {
        /// A 1-D array.
        pub fn $fn(name: &'static str, values: &[$ty]) -> Array {
            Array {
                name,
                dtype: Dtype::$dtype,
                shape: vec![values.len()],
                data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }
        }
    };
}

impl Array {
    constructor!(u8s, u8, U8);
    constructor!(u32s, u32, U32);
    constructor!(u64s, u64, U64);
    constructor!(i64s, i64, I64);
    constructor!(f32s, f32, F32);

    /// A matrix of f32 values, stored as f32 or rounded to bf16.
    pub fn matrix(
        name: &'static str,
        rows: usize,
        cols: usize,
        values: &[f32],
        bf16: bool,
    ) -> Array {
        debug_assert_eq!(values.len(), rows * cols);
        let (dtype, data) = if bf16 {
            let data = values
                .iter()
                .flat_map(|&v| to_bf16(v).to_le_bytes())
                .collect();
            (Dtype::BF16, data)
        } else {
            (
                Dtype::F32,
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        };
        Array {
            name,
            dtype,
            shape: vec![rows, cols],
            data,
        }
    }
}

/// bfloat16 by round-to-nearest-even (NaN stays NaN).
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = ((bits >> 16) & 1) + 0x7fff;
    ((bits + round) >> 16) as u16
}

fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// The safetensors bytes of `arrays`.
pub fn serialize(arrays: &[Array]) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> = arrays
        .iter()
        .map(|a| {
            let view = TensorView::new(a.dtype, a.shape.clone(), &a.data)
                .expect("shape and data agree by construction");
            (a.name, view)
        })
        .collect();
    safetensors::tensor::serialize(views, &None).expect("in-memory serialization")
}

/// A parsed safetensors file that remembers its path for errors.
pub struct Arrays<'a> {
    path: &'a Path,
    tensors: SafeTensors<'a>,
}

impl<'a> Arrays<'a> {
    /// Parses `bytes` read from `path` (a truncated or malformed file is an error naming it).
    pub fn parse(path: &'a Path, bytes: &'a [u8]) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| corrupt(path, format!("not a valid safetensors file: {e:?}")))?;
        Ok(Arrays { path, tensors })
    }

    fn view(&self, name: &str, dtypes: &[Dtype], rank: usize) -> Result<TensorView<'_>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| corrupt(self.path, format!("no tensor {name:?}")))?;
        if !dtypes.contains(&view.dtype()) || view.shape().len() != rank {
            return Err(corrupt(
                self.path,
                format!(
                    "tensor {name:?} is {:?} {:?}, expected {dtypes:?} of rank {rank}",
                    view.dtype(),
                    view.shape()
                ),
            ));
        }
        Ok(view)
    }

    fn column<const N: usize, T>(
        &self,
        name: &str,
        dtype: Dtype,
        from: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        let view = self.view(name, &[dtype], 1)?;
        Ok(view
            .data()
            .chunks_exact(N)
            .map(|c| from(c.try_into().expect("chunk of N bytes")))
            .collect())
    }

    /// A 1-D u8 array.
    pub fn u8s(&self, name: &str) -> Result<Vec<u8>> {
        self.column(name, Dtype::U8, |b: [u8; 1]| b[0])
    }

    /// A 1-D u32 array.
    pub fn u32s(&self, name: &str) -> Result<Vec<u32>> {
        self.column(name, Dtype::U32, u32::from_le_bytes)
    }

    /// A 1-D u64 array.
    pub fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        self.column(name, Dtype::U64, u64::from_le_bytes)
    }

    /// A 1-D i64 array.
    pub fn i64s(&self, name: &str) -> Result<Vec<i64>> {
        self.column(name, Dtype::I64, i64::from_le_bytes)
    }

    /// A 1-D f32 array.
    pub fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        self.column(name, Dtype::F32, f32::from_le_bytes)
    }

    /// A matrix stored as f32 or bf16, as f32 values with its shape.
    pub fn matrix(&self, name: &str) -> Result<(usize, usize, Vec<f32>)> {
        let view = self.view(name, &[Dtype::F32, Dtype::BF16], 2)?;
        let (rows, cols) = (view.shape()[0], view.shape()[1]);
        let values = if view.dtype() == Dtype::F32 {
            view.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        } else {
            view.data()
                .chunks_exact(2)
                .map(|c| from_bf16(u16::from_le_bytes(c.try_into().expect("2 bytes"))))
                .collect()
        };
        Ok((rows, cols, values))
    }

    /// Fails unless every named array has `len` entries.
    pub fn same_len(&self, names: &[&str], len: usize) -> Result<()> {
        for name in names {
            let found = self
                .tensors
                .tensor(name)
                .map_err(|_| corrupt(self.path, format!("no tensor {name:?}")))?
                .shape()
                .iter()
                .product::<usize>();
            if found != len {
                return Err(corrupt(
                    self.path,
                    format!("tensor {name:?} has {found} entries, expected {len}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        for x in [0.0f32, 1.0, -2.5, 0.1, 1e-30, 3.0e38] {
            let back = from_bf16(to_bf16(x));
            assert!((back - x).abs() <= x.abs() / 128.0, "{x} -> {back}");
        }
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: even mantissa (1) wins.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    #[test]
    fn round_trip_and_typed_errors() {
        let bytes = serialize(&[
            Array::u32s("a", &[1, 2, 3]),
            Array::i64s("b", &[-5]),
            Array::matrix("m", 2, 2, &[1.0, 0.5, -0.25, 2.0], true),
        ]);
        let path = Path::new("x.safetensors");
        let arrays = Arrays::parse(path, &bytes).unwrap();
        assert_eq!(arrays.u32s("a").unwrap(), [1, 2, 3]);
        assert_eq!(arrays.i64s("b").unwrap(), [-5]);
        assert_eq!(
            arrays.matrix("m").unwrap(),
            (2, 2, vec![1.0, 0.5, -0.25, 2.0])
        );
        assert!(arrays.u64s("a").is_err(), "wrong dtype");
        assert!(arrays.u32s("zzz").is_err(), "missing");
        assert!(arrays.same_len(&["a"], 4).is_err());
        let truncated = &bytes[..bytes.len() - 3];
        let err = Arrays::parse(path, truncated).err().unwrap();
        assert!(err.to_string().contains("x.safetensors"), "{err}");
    }
}
