//! The vault key in memory: redacted in `Debug`, never serialized, zeroed on
//! drop, like [`SecretString`] (keyward-model), which this module re-exports.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use keyward_model::SecretString;

/// The 256-bit key that opens the SQLCipher database.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct VaultKey([u8; 32]);

impl VaultKey {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        VaultKey(bytes)
    }

    pub(crate) fn random() -> crate::Result<Self> {
        let mut bytes = [0u8; 32];
        crate::random::fill(&mut bytes)?;
        Ok(VaultKey(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SQLCipher `PRAGMA key` literal for a raw key: `x'<64 hex>'`.
    pub(crate) fn pragma_literal(&self) -> Zeroizing<String> {
        let mut literal = Zeroizing::new(String::with_capacity(67));
        literal.push_str("x'");
        literal.push_str(&hex::encode(self.0));
        literal.push('\'');
        literal
    }

    pub(crate) fn to_hex(&self) -> SecretString {
        SecretString::new(hex::encode(self.0))
    }

    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).ok()?);
        let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(VaultKey(array))
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = VaultKey::from_bytes([7u8; 32]);
        assert!(!format!("{key:?}").contains("0707"));
    }

    #[test]
    fn pragma_literal_is_a_raw_hex_key() {
        let key = VaultKey::from_bytes([0xab; 32]);
        let literal = key.pragma_literal();
        assert_eq!(literal.len(), 67);
        assert!(literal.starts_with("x'abab") && literal.ends_with("ab'"));
        assert_eq!(VaultKey::from_hex(key.to_hex().expose()), Some(key));
    }
}
