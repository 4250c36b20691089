//! Rules for what administrators type: names, descriptions, passphrases,
//! key limits and expiry dates. Each failure says what to type instead.

use time::{Date, Duration, OffsetDateTime, Time};

use crate::{key_format, Error, Result, SecretString};

pub const NAME_MAX_CHARS: usize = 64;
pub const DESCRIPTION_MAX_CHARS: usize = 500;
pub const PASSPHRASE_MIN_CHARS: usize = 8;
pub const PASSPHRASE_MAX_CHARS: usize = 1024;
pub const KEY_LIMIT_MAX: u32 = 1_000_000;
pub const DEFAULT_KEY_LIMIT: u32 = 10;
/// The furthest a relative expiry may reach: 100 years.
pub const EXPIRY_MAX_DAYS: i64 = 100 * 366;

/// Trims a name and checks it: 1–64 characters, no control characters.
/// `what` names the thing ("key", "group", "account") in the message.
pub fn name(what: &str, raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!(
            "the {what} name is empty: give it a name"
        )));
    }
    let chars = trimmed.chars().count();
    if chars > NAME_MAX_CHARS {
        return Err(Error::invalid(format!(
            "the {what} name is {chars} characters long: use at most {NAME_MAX_CHARS}"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "the {what} name contains a control character (such as a tab or a newline): remove it"
        )));
    }
    refuse_keys(&format!("the {what} name"), trimmed)?;
    Ok(trimmed.to_string())
}

/// Refuses text that holds something shaped like a full key or sync token
/// ([`key_format::holds_full_key`]): a key is shown once and kept nowhere,
/// least of all in a name that every table, log and desktop repeats.
pub fn refuse_keys(what: &str, text: &str) -> Result<()> {
    if key_format::holds_full_key(text) {
        return Err(Error::invalid(format!(
            "{what} holds something shaped like a full key: a key is never kept in a name or a description — remove it"
        )));
    }
    Ok(())
}

/// A name that breaks no rule, made from `raw` by dropping what the rules
/// refuse: control characters, key-shaped text (as `[key removed]`), and
/// characters beyond the limit. For names that arrive from elsewhere (a pull)
/// and must be stored rather than refused; `None` when nothing is left.
pub fn repaired_name(raw: &str) -> Option<String> {
    let mut text: String = raw.chars().filter(|c| !c.is_control()).collect();
    if key_format::holds_full_key(&text) {
        text = key_format::redact(&text).replace("<redacted>", "[key removed]");
    }
    let text: String = text.trim().chars().take(NAME_MAX_CHARS).collect();
    let text = text.trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

/// "NAME (n)": the name a record gets when another holds `name`, cut so it
/// stays within [`NAME_MAX_CHARS`] (the server and a pull derive names alike).
pub fn numbered_name(name: &str, n: u64) -> String {
    let suffix = format!(" ({n})");
    let room = NAME_MAX_CHARS.saturating_sub(suffix.chars().count());
    let base: String = name.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end())
}

/// The form names are compared in: case-insensitive, Unicode-aware.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Trims a description; an empty one becomes none.
pub fn description(raw: Option<&str>) -> Result<Option<String>> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(Error::invalid(format!(
            "the description is too long: use at most {DESCRIPTION_MAX_CHARS} characters"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "the description contains a control character: remove it",
        ));
    }
    refuse_keys("the description", text)?;
    Ok(Some(text.to_string()))
}

pub fn passphrase(passphrase: &SecretString) -> Result<()> {
    let chars = passphrase.expose().chars().count();
    if chars < PASSPHRASE_MIN_CHARS {
        return Err(Error::invalid(format!(
            "the passphrase is too short: use at least {PASSPHRASE_MIN_CHARS} characters"
        )));
    }
    if chars > PASSPHRASE_MAX_CHARS {
        return Err(Error::invalid(format!(
            "the passphrase is too long: use at most {PASSPHRASE_MAX_CHARS} characters"
        )));
    }
    if passphrase.expose().trim().is_empty() {
        return Err(Error::invalid(
            "the passphrase is only spaces: choose a real one",
        ));
    }
    Ok(())
}

pub fn key_limit(limit: u32) -> Result<u32> {
    if limit == 0 || limit > KEY_LIMIT_MAX {
        return Err(Error::invalid(format!(
            "invalid key limit {limit}: use a number from 1 to {KEY_LIMIT_MAX}"
        )));
    }
    Ok(limit)
}

/// The longest overlap a roll may give the key it replaces: 30 days. A longer
/// one is no rotation (both keys would work for over a month).
pub const ROLL_GRACE_MAX_DAYS: i64 = 30;
/// The longest window `--expiring`/`--unused-for` may look: 10 years.
pub const REVIEW_WINDOW_MAX_DAYS: i64 = 3660;

/// Parses a duration such as `0`, `45s`, `30m`, `24h`, `14d` or `2w`, up to
/// `max`. `what` names it in the message ("the grace").
pub fn duration(what: &str, text: &str, max: Duration) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid {what} {text:?}: write 0, or a whole number and a unit, like 30s, 15m, 24h, 14d or 2w"
        ))
    };
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let amount: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    let duration = amount
        .checked_mul(seconds)
        .map(Duration::seconds)
        .ok_or_else(bad)?;
    if duration > max {
        return Err(Error::invalid(format!(
            "{what} {text:?} is too long: at most {} days",
            max.whole_days()
        )));
    }
    Ok(duration)
}

/// The grace of a roll: how long the replaced key keeps working ([`duration`], at most
/// [`ROLL_GRACE_MAX_DAYS`]; `0` ends it at once).
pub fn roll_grace(text: &str) -> Result<Duration> {
    duration("grace", text, Duration::days(ROLL_GRACE_MAX_DAYS))
}

/// The window of a review filter (`--expiring 14d`, `--unused-for 90d`): more than zero.
pub fn review_window(what: &str, text: &str) -> Result<Duration> {
    let window = duration(what, text, Duration::days(REVIEW_WINDOW_MAX_DAYS))?;
    if window.is_zero() {
        return Err(Error::invalid(format!(
            "{what} {text:?} is empty: give a length such as 14d or 90d"
        )));
    }
    Ok(window)
}

/// Parses a relative expiry such as `90d`, `12h` or `2w`.
pub fn expires_in(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let bad = || {
        Error::invalid(format!(
            "invalid expiry {text:?}: write a number and a unit, like 90d (days), 12h (hours) or 2w (weeks)"
        ))
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let amount: i64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "h" => Duration::checked_seconds_f64(amount as f64 * 3600.0),
        "d" => Duration::checked_seconds_f64(amount as f64 * 86_400.0),
        "w" => Duration::checked_seconds_f64(amount as f64 * 604_800.0),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if amount == 0 {
        return Err(bad());
    }
    if duration > Duration::days(EXPIRY_MAX_DAYS) {
        return Err(Error::invalid(format!(
            "the expiry {text:?} is too far away: a key expires within 100 years"
        )));
    }
    now.checked_add(duration).ok_or_else(bad)
}

/// Parses an absolute expiry: a date (the key works through that day, UTC) or an RFC 3339 time.
pub fn expires_at(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let text = text.trim();
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let at = if let Ok(date) = Date::parse(text, &date_format) {
        date.next_day()
            .map(|next| next.with_time(Time::MIDNIGHT).assume_utc())
            .ok_or_else(|| Error::invalid(format!("invalid expiry date {text:?}")))?
    } else {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| {
            Error::invalid(format!(
                "invalid expiry date {text:?}: write YYYY-MM-DD or an RFC 3339 time like 2027-01-31T12:00:00Z"
            ))
        })?
    };
    if at <= now {
        return Err(Error::invalid(format!(
            "the expiry {text} is in the past: choose a later date"
        )));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("key", "  kiosk 1 ").unwrap(), "kiosk 1");
        assert!(name("key", "").is_err());
        assert!(name("key", "   ").is_err());
        assert!(name("key", &"a".repeat(64)).is_ok());
        assert!(name("key", &"a".repeat(65)).is_err());
        assert!(
            name("key", &"é".repeat(64)).is_ok(),
            "the limit counts characters, not bytes"
        );
        assert!(name("key", "Zeitnahme 東京 🏁").is_ok());
        assert!(name("key", "tab\there").is_err());
        let key = key_format::generate("kw").unwrap();
        let pasted = format!("copy of {}", key.secret.expose());
        let refused = name("key", &pasted).unwrap_err().to_string();
        assert!(refused.contains("shaped like a full key"), "{refused}");
        assert!(
            !refused.contains(&key.secret.expose()[3..]),
            "the message never repeats it"
        );
        assert!(description(Some(&pasted)).is_err());
        let repaired = repaired_name(&pasted).unwrap();
        assert_eq!(repaired, "copy of [key removed]");
        assert!(name("key", &repaired).is_ok());
        assert_eq!(
            repaired_name(&"n".repeat(70)).unwrap().chars().count(),
            NAME_MAX_CHARS
        );
        assert_eq!(repaired_name("a\tb").unwrap(), "ab");
        assert_eq!(repaired_name(" \u{7} "), None);
        assert!(name("key", "bell\u{7}").is_err());
    }

    #[test]
    fn numbered_names_stay_within_the_rules() {
        assert_eq!(numbered_name("gate", 2), "gate (2)");
        let long = "g".repeat(NAME_MAX_CHARS);
        for n in [2, 10, 12345] {
            let numbered = numbered_name(&long, n);
            assert!(name("key", &numbered).is_ok(), "{numbered}");
            assert!(numbered.ends_with(&format!(" ({n})")));
        }
    }

    #[test]
    fn folding_ignores_case_beyond_ascii() {
        assert_eq!(fold("ÄRGER"), fold("ärger"));
        assert_eq!(fold("Kiosk"), fold("KIOSK"));
    }

    #[test]
    fn expiry_parsing() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(expires_in("90d", now).unwrap(), now + Duration::days(90));
        assert_eq!(expires_in("12h", now).unwrap(), now + Duration::hours(12));
        for bad in [
            "",
            "d",
            "90",
            "90x",
            "-1d",
            "0d",
            "1.5d",
            "500000w",
            "99999999999999999999h",
            "36700d",
        ] {
            assert!(expires_in(bad, now).is_err(), "{bad}");
        }
        let end = expires_at("2030-01-31", now).unwrap();
        assert_eq!(end.to_string(), "2030-02-01 0:00:00.0 +00:00:00");
        assert!(expires_at("2020-01-01", now).is_err());
        assert!(expires_at("tomorrow", now).is_err());
        assert!(expires_at("2030-01-31T12:00:00Z", now).is_ok());
    }

    #[test]
    fn durations_take_a_unit_and_stay_within_their_bounds() {
        assert_eq!(roll_grace("0").unwrap(), Duration::ZERO);
        assert_eq!(roll_grace("5s").unwrap(), Duration::seconds(5));
        assert_eq!(roll_grace("90m").unwrap(), Duration::minutes(90));
        assert_eq!(roll_grace(" 24h ").unwrap(), Duration::hours(24));
        assert_eq!(roll_grace("30d").unwrap(), Duration::days(30));
        for bad in [
            "",
            "-1h",
            "-5s",
            "24",
            "1.5h",
            "24 h",
            "h",
            "31d",
            "5w",
            "9999999999999999w",
        ] {
            assert!(roll_grace(bad).is_err(), "{bad}");
        }
        let too_long = roll_grace("31d").unwrap_err().to_string();
        assert!(too_long.contains("at most 30 days"), "{too_long}");
        assert_eq!(
            review_window("--expiring", "14d").unwrap(),
            Duration::days(14)
        );
        assert!(review_window("--expiring", "0").is_err());
        assert!(review_window("--unused-for", "100000d").is_err());
    }

    #[test]
    fn passphrase_rules() {
        assert!(passphrase(&"short".into()).is_err());
        assert!(passphrase(&"        ".into()).is_err());
        assert!(passphrase(&"long enough".into()).is_ok());
    }

    proptest! {
        #[test]
        fn a_valid_name_is_trimmed_nonempty_short_and_printable(raw in "\\PC{0,80}") {
            match name("key", &raw) {
                Ok(n) => {
                    prop_assert_eq!(n.as_str(), raw.trim());
                    prop_assert!(!n.is_empty() && n.chars().count() <= NAME_MAX_CHARS);
                    prop_assert!(!n.chars().any(char::is_control));
                    // Validating again changes nothing.
                    prop_assert_eq!(name("key", &n).unwrap(), n);
                }
                Err(_) => {
                    let t = raw.trim();
                    prop_assert!(t.is_empty() || t.chars().count() > NAME_MAX_CHARS || t.chars().any(char::is_control));
                }
            }
        }

        #[test]
        fn control_characters_are_always_refused(prefix in "[a-z]{1,10}", c in prop::char::range('\u{0}', '\u{1f}'), suffix in "[a-z]{1,10}") {
            let raw = format!("{prefix}{c}{suffix}");
            prop_assert!(name("key", &raw).is_err());
        }
    }
}
