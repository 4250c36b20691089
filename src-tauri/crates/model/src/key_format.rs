//! The API key format: `<prefix>_<body><checksum>`.
//!
//! The body is 32 bytes from the OS CSPRNG in base62 (43 characters); the
//! checksum is the CRC32 of `prefix_body` in 6 base62 characters, so a typo or
//! a look-alike string is rejected offline and a scanner can recognise a
//! leaked key. A key is stored only as its verifier, SHA-256 of the full key.

use sha2::{Digest, Sha256};

use crate::Result;
use crate::SecretString;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BODY_BYTES: usize = 32;
/// ceil(256 / log2(62)) characters hold any 32-byte body.
pub const BODY_LEN: usize = 43;
pub const CHECKSUM_LEN: usize = 6;
pub const DEFAULT_PREFIX: &str = "kw";

/// SHA-256 of the full key: what the vault stores and looks keys up by.
pub type Verifier = [u8; 32];

/// Encodes `bytes` (big-endian) as exactly `width` base62 digits.
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        // Long division of the big-endian number by 62.
        let mut remainder: u32 = 0;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        *slot = ALPHABET[remainder as usize];
    }
    number.iter_mut().for_each(|b| *b = 0);
    String::from_utf8(digits).expect("the alphabet is ASCII")
}

fn is_base62(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn checksum(prefix_and_body: &str) -> String {
    let crc = crc32fast::hash(prefix_and_body.as_bytes());
    base62_fixed(&crc.to_be_bytes(), CHECKSUM_LEN)
}

/// Checks a prefix: 2–12 characters of `[a-z0-9]`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let ok = (2..=12).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(crate::Error::invalid(format!(
            "invalid key prefix {prefix:?}: use 2 to 12 lowercase letters or digits, like \"kw\""
        )))
    }
}

/// A freshly generated key: shown once, then only its verifier and hint are kept.
pub struct GeneratedKey {
    pub secret: SecretString,
    pub verifier: Verifier,
    pub hint: String,
}

pub fn generate(prefix: &str) -> Result<GeneratedKey> {
    let mut body_bytes = zeroize::Zeroizing::new([0u8; BODY_BYTES]);
    crate::random::fill(body_bytes.as_mut())?;
    let mut key = zeroize::Zeroizing::new(String::with_capacity(
        prefix.len() + 1 + BODY_LEN + CHECKSUM_LEN,
    ));
    key.push_str(prefix);
    key.push('_');
    key.push_str(&zeroize::Zeroizing::new(base62_fixed(
        body_bytes.as_ref(),
        BODY_LEN,
    )));
    let sum = checksum(&key);
    key.push_str(&sum);
    let secret = SecretString::new(key.to_string());
    Ok(GeneratedKey {
        verifier: verifier(secret.expose()),
        hint: hint(secret.expose()),
        secret,
    })
}

pub fn verifier(full_key: &str) -> Verifier {
    Sha256::digest(full_key.as_bytes()).into()
}

/// `kw_AbCd…wXyZ`: the prefix, the first four and the last four characters.
pub fn hint(full_key: &str) -> String {
    let (prefix, rest) = full_key.split_once('_').unwrap_or(("", full_key));
    let head = &rest[..rest.len().min(4)];
    let tail = &rest[rest.len().saturating_sub(4)..];
    format!("{prefix}_{head}…{tail}")
}

/// Why a presented string is not a well-formed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatProblem {
    /// Not `<prefix>_<49 base62 characters>`.
    Shape,
    /// Well shaped, but the checksum does not match: a typo or a look-alike.
    Checksum,
}

/// Checks the format and the checksum of a presented key, offline.
pub fn check(presented: &str) -> Result<(), FormatProblem> {
    let Some((prefix, rest)) = presented.split_once('_') else {
        return Err(FormatProblem::Shape);
    };
    if validate_prefix(prefix).is_err()
        || rest.len() != BODY_LEN + CHECKSUM_LEN
        || !rest.bytes().all(is_base62)
    {
        return Err(FormatProblem::Shape);
    }
    let (without_sum, sum) = presented.split_at(presented.len() - CHECKSUM_LEN);
    if checksum(without_sum) != sum {
        return Err(FormatProblem::Checksum);
    }
    Ok(())
}

/// Where `text` holds something shaped like a key of any prefix — 2 to 12
/// of `[a-z0-9]`, `_`, then at least `min_body` base62 characters — as byte
/// ranges. Shape only: a key with a typo still gives most of it away.
fn key_shaped_spans(text: &str, min_body: usize) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let is_prefix_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut spans = Vec::new();
    let mut index = 0;
    while let Some(offset) = bytes[index..].iter().position(|&b| b == b'_') {
        let underscore = index + offset;
        let prefix = bytes[..underscore]
            .iter()
            .rev()
            .take_while(|&&b| is_prefix_byte(b))
            .count();
        let body = bytes[underscore + 1..]
            .iter()
            .take_while(|&&b| is_base62(b))
            .count();
        if prefix >= 2 && body >= min_body {
            spans.push(underscore - prefix.min(12)..underscore + 1 + body);
            index = underscore + 1 + body;
        } else {
            index = underscore + 1;
        }
    }
    spans
}

/// Whether `text` holds something shaped like a full key or sync token: the
/// rule by which the vault and the server refuse a name or a description, so
/// a key pasted into one by mistake is never stored, shown or synced.
pub fn holds_full_key(text: &str) -> bool {
    !key_shaped_spans(text, BODY_LEN + CHECKSUM_LEN).is_empty()
}

/// `text` with everything shaped like a key — even a partial one of 16
/// characters or more after its prefix — replaced by `<redacted>`: for
/// messages that repeat what somebody typed.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in key_shaped_spans(text, 16) {
        out.push_str(&text[last..span.start]);
        out.push_str("<redacted>");
        last = span.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate("kw").unwrap();
        let text = key.secret.expose();
        assert!(text.starts_with("kw_"));
        assert_eq!(text.len(), 3 + BODY_LEN + CHECKSUM_LEN);
        assert_eq!(check(text), Ok(()));
        assert_eq!(key.verifier, verifier(text));
        assert!(key.hint.starts_with(&text[..7]));
        assert!(key.hint.ends_with(&text[text.len() - 4..]));
        assert_eq!(key.hint.chars().count(), 3 + 4 + 1 + 4);
    }

    #[test]
    fn two_keys_differ() {
        let a = generate("kw").unwrap();
        let b = generate("kw").unwrap();
        assert_ne!(a.secret.expose(), b.secret.expose());
    }

    #[test]
    fn base62_is_fixed_width_and_ordered() {
        assert_eq!(base62_fixed(&[0; 32], BODY_LEN), "0".repeat(BODY_LEN));
        assert_eq!(base62_fixed(&[0xff; 32], BODY_LEN).len(), BODY_LEN);
        assert_eq!(base62_fixed(&61u32.to_be_bytes(), 6), "00000z");
        assert_eq!(base62_fixed(&62u32.to_be_bytes(), 6), "000010");
        assert_eq!(base62_fixed(&u32::MAX.to_be_bytes(), 6), "4gfFC3");
    }

    #[test]
    fn malformed_strings_are_rejected_by_shape() {
        for bad in [
            "", "kw", "kw_", "kw_short", "KW_", "k_abc", "kw-abc", "kw_ä",
        ] {
            assert_eq!(check(bad), Err(FormatProblem::Shape), "{bad:?}");
        }
        let key = generate("kw").unwrap();
        let long = format!("{}x", key.secret.expose());
        assert_eq!(check(&long), Err(FormatProblem::Shape));
    }

    #[test]
    fn full_keys_of_any_prefix_are_found_in_text() {
        let key = generate("kw").unwrap();
        let token = generate("kwsync").unwrap();
        for text in [
            key.secret.expose().to_string(),
            format!("copy of {}", key.secret.expose()),
            format!("gate({})", token.secret.expose()),
            format!("x{}y", key.secret.expose()),
            // A typo does not make it safe to keep.
            format!("{}Z", &key.secret.expose()[..key.secret.expose().len() - 1]),
        ] {
            assert!(holds_full_key(&text), "{text}");
            assert!(
                !redact(&text).contains(&key.secret.expose()[3..20]),
                "{text}"
            );
        }
        for text in [
            "gate north",
            "kw_short",
            "KW_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklm",
            "kw_AbCd…wXyZ",
            "",
        ] {
            assert!(!holds_full_key(text), "{text}");
        }
        assert_eq!(
            redact("key kw_abcdefghijklmnopq not found"),
            "key <redacted> not found"
        );
        assert_eq!(redact("plain text, kw_ok"), "plain text, kw_ok");
    }

    proptest! {
        #[test]
        fn any_single_character_typo_fails_the_checksum(position in 3usize..52, replacement in 0usize..62) {
            let key = generate("kw").unwrap();
            let mut bytes = key.secret.expose().as_bytes().to_vec();
            let new = ALPHABET[replacement];
            prop_assume!(bytes[position] != new);
            bytes[position] = new;
            let typo = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(check(&typo), Err(FormatProblem::Checksum));
        }

        #[test]
        fn any_valid_prefix_round_trips(prefix in "[a-z0-9]{2,12}") {
            let key = generate(&prefix).unwrap();
            prop_assert_eq!(check(key.secret.expose()), Ok(()));
        }
    }
}
