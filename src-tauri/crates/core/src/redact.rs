//! Text that may reach a terminal or a log file with a key in it by mistake (a key pasted
//! as an argument, an error that quotes its input): every word that looks like a key is
//! replaced, so what the CLI prints and what the desktop app logs never hold one.

/// What a key-like word becomes.
pub const REDACTED: &str = "<redacted>";

/// Whether `word` has a key's shape: a short prefix, `_`, then a long alphanumeric body
/// (`kw_AbCd…`). The checksum is not checked: a mistyped key is still a secret.
pub fn looks_like_key(word: &str) -> bool {
    word.split_once('_').is_some_and(|(prefix, body)| {
        !prefix.is_empty()
            && prefix.len() <= 12
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
            && body.len() >= 16
            && body.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// `text` with every key-like word (a run of ASCII letters, digits and `_`) replaced by
/// [`REDACTED`].
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_key(word) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "kw_4Xh2mG7Zq9LbT0cVw3NrYp8sKd1FjAe6HuQoIzB5Cn2Ld8Pq";

    #[test]
    fn a_key_anywhere_in_the_text_is_replaced_and_the_rest_kept() {
        let text = format!("invalid value '{KEY}' for 'NAME': {KEY}.");
        assert_eq!(
            redact_keys(&text),
            "invalid value '<redacted>' for 'NAME': <redacted>."
        );
        assert_eq!(
            redact_keys("key kiosk_north created"),
            "key kiosk_north created"
        );
        assert_eq!(
            redact_keys("snake_case_identifier_words"),
            "snake_case_identifier_words"
        );
    }
}
