//! Keyed pseudonyms for user ids, so that raw ids reach no dataset, output, model or bundle.

use crate::error::{DataError, Result};
use std::path::Path;

/// A secret 32-byte key; a user id's pseudonym is its keyed BLAKE3 hash (128 bits, hex), the
/// same for the same key on every run and machine.
///
/// ```
/// use affinity_data::PseudonymKey;
/// let key = PseudonymKey::from_hex(&"ab".repeat(32)).unwrap();
/// let p = key.pseudonym("customer-1808");
/// assert_eq!(p.len(), 32);
/// assert_eq!(p, key.pseudonym("customer-1808"));
/// assert_ne!(p, key.pseudonym("customer-1809"));
/// assert!(PseudonymKey::from_hex("not hex").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: it would end up in logs.
        write!(f, "PseudonymKey({})", self.fingerprint())
    }
}

impl PseudonymKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PseudonymKey(bytes)
    }

    /// A key from 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(PseudonymKey(bytes))
    }

    /// Reads a key file: 64 hexadecimal digits (surrounding whitespace ignored), as
    /// [`PseudonymKey::to_hex`] writes.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |reason: &str| DataError::BadKey {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
        Self::from_hex(text.trim()).ok_or_else(|| bad("expected 64 hexadecimal digits"))
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> std::io::Result<Self> {
        use std::io::Read;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(PseudonymKey(bytes))
    }

    /// The key as 64 hexadecimal digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key's bytes (what [`crate::LoadOptions::pseudonymize_key`] takes).
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The pseudonym of one user id.
    pub fn pseudonym(&self, raw: &str) -> String {
        crate::load::user_key(raw, Some(&self.0))
    }

    /// Names the key without revealing it (16 hex digits of a hash derived from it), so that
    /// a bundle can record which key its users were pseudonymised with.
    pub fn fingerprint(&self) -> String {
        let derived = blake3::derive_key("affinity 2026 pseudonym key fingerprint", &self.0);
        derived[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}
