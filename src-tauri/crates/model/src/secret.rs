//! A secret in memory: it prints as `<redacted>`, cannot be serialized (no
//! `Serialize` impl exists), and is zeroed when dropped.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret text: a passphrase, a full API key, a shared secret, a sync token.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }

    /// The secret itself. Call sites are few and easy to audit: creation
    /// output, clipboard copy, hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A copy with surrounding whitespace removed (a pasted key often carries a newline).
    pub fn trimmed(&self) -> SecretString {
        SecretString(self.0.trim().to_string())
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        SecretString(value.to_string())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = SecretString::from("kw_supersecretvalue");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert!(!format!("{:?}", Some(&secret)).contains("supersecret"));
    }
}
