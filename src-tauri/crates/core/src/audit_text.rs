//! The audit log as people read it. The details of each entry become one line per field —
//! "status: active → inactive", "expires: 3 Dec 2026", "groups: gates, readers" — never raw
//! JSON, epoch milliseconds or internal ids. This is the one rule for both front ends: the
//! CLI's `audit list` prints the lines (`Display`, times in UTC like the rest of its output),
//! and the desktop's audit page shows the same lines with their times in the administrator's
//! locale. `audit list --json` keeps the details exactly as they are stored.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime, Time};

use crate::model::{from_millis, AuditEntry};
use crate::vault::Vault;
use crate::Result;

/// One field of an audit entry: what changed, from what (when recorded), to what.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditLine {
    /// The field in words: "status", "expires", "groups", "allow unbind".
    pub field: String,
    /// The value before the change, when the entry records one.
    pub from: Option<AuditValue>,
    /// The value after the change; for a field with no "before", its value.
    pub to: AuditValue,
}

/// A value of an [`AuditLine`]: text, or a time each front end writes its own way.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditValue {
    /// Shown as it is; "—" stands for none.
    Text { text: String },
    /// A calendar day (`YYYY-MM-DD`), such as the last day of an expiry given as a date.
    Day { day: String },
    /// A moment.
    Time {
        #[serde(with = "time::serde::rfc3339")]
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        at: OffsetDateTime,
    },
}

/// What stands for "no value".
pub const NONE: &str = "—";

impl AuditValue {
    fn text(text: impl Into<String>) -> AuditValue {
        AuditValue::Text { text: text.into() }
    }
}

impl fmt::Display for AuditValue {
    /// As the CLI prints it: times in UTC, to the minute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditValue::Text { text } => f.write_str(text),
            AuditValue::Day { day } => f.write_str(day),
            AuditValue::Time { at } => {
                let format =
                    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
                f.write_str(&at.format(&format).unwrap_or_default())
            }
        }
    }
}

impl fmt::Display for AuditLine {
    /// "status: active → inactive", or "hint: kw_AbCd…wXyZ" for a field with no "before".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) => write!(f, "{}: {from} → {}", self.field, self.to),
            None => write!(f, "{}: {}", self.field, self.to),
        }
    }
}

/// The lines of one entry. `group_name` names a group by its id (changes pulled by a sync
/// record a key's groups by id); a group it cannot name reads "a deleted group".
pub fn describe(entry: &AuditEntry, group_name: &dyn Fn(&str) -> Option<String>) -> Vec<AuditLine> {
    let details = match &entry.details {
        Value::Object(details) => details,
        Value::Null => return Vec::new(),
        other => return vec![line("details", None, plain(other))],
    };
    match entry.action.as_str() {
        "settings.update" => settings_lines(details),
        "sync.conflict" => conflict_lines(details),
        action => {
            let groups_by_id = action.starts_with("sync.");
            // `header` of a passphrase change is the digest by which an open that
            // finishes a cut change knows it was audited: nothing for a reader.
            let mut fields: Vec<(&String, &Value)> = details
                .iter()
                .filter(|(field, _)| !(action == "passphrase.change" && *field == "header"))
                .collect();
            fields.sort_by_key(|(field, _)| rank(field));
            let mut lines = Vec::new();
            for (field, value) in fields {
                field_lines(&mut lines, field, value, groups_by_id, group_name);
            }
            lines
        }
    }
}

fn line(field: &str, from: Option<AuditValue>, to: AuditValue) -> AuditLine {
    AuditLine {
        field: field.to_string(),
        from,
        to,
    }
}

/// Fields in the order people look for them; others alphabetically, the reason last.
fn rank(field: &str) -> (usize, String) {
    const ORDER: &[&str] = &[
        "name",
        "status",
        "access",
        "allow_unbind",
        "groups",
        "scopes",
        "description",
        "hint",
        "expires_at",
        "last_used_at",
        "prefix",
        "key_limit",
        "url",
        "token",
        "insecure",
        "new_remote",
        "dropped_changes",
        "keys_affected",
        "kdf",
    ];
    let position = match ORDER.iter().position(|known| *known == field) {
        Some(position) => position,
        None if field == "reason" => ORDER.len() + 1,
        None => ORDER.len(),
    };
    (position, field.to_string())
}

/// A stored field name in words.
fn label(field: &str) -> String {
    match field {
        "expires_at" => "expires".into(),
        "last_used_at" => "last used".into(),
        "kdf" => "key derivation".into(),
        "dropped_changes" => "changes dropped".into(),
        "token" => "sync token".into(),
        other => other.strip_suffix("_at").unwrap_or(other).replace('_', " "),
    }
}

fn field_lines(
    lines: &mut Vec<AuditLine>,
    field: &str,
    value: &Value,
    groups_by_id: bool,
    group_name: &dyn Fn(&str) -> Option<String>,
) {
    let value_of = |value: &Value| -> AuditValue {
        match (field, value) {
            ("groups", Value::Array(items)) if groups_by_id => {
                names(
                    items
                        .iter()
                        .map(|id| match id.as_str().and_then(group_name) {
                            Some(name) => name,
                            None => "a deleted group".to_string(),
                        }),
                )
            }
            (_, Value::Number(number)) if field.ends_with("_at") => match number.as_i64() {
                Some(ms) if field == "expires_at" => expiry(from_millis(ms)),
                Some(ms) => AuditValue::Time {
                    at: from_millis(ms),
                },
                None => plain(value),
            },
            _ => plain(value),
        }
    };
    match value {
        Value::Object(object) if object.contains_key("from") || object.contains_key("to") => {
            let side = |name: &str| object.get(name).unwrap_or(&Value::Null);
            lines.push(line(
                &label(field),
                Some(value_of(side("from"))),
                value_of(side("to")),
            ));
        }
        Value::Object(object) if field == "kdf" => {
            let number = |name: &str| object.get(name).and_then(Value::as_u64).unwrap_or(0);
            let (passes, lanes) = (number("passes"), number("lanes"));
            lines.push(line(
                &label(field),
                None,
                AuditValue::text(format!(
                    "argon2id, {} MiB, {passes} {}, {lanes} {}",
                    number("memory_kib") / 1024,
                    if passes == 1 { "pass" } else { "passes" },
                    if lanes == 1 { "lane" } else { "lanes" },
                )),
            ));
        }
        // A group of fields recorded together (a pulled key's access type and unbind flag):
        // a line each.
        Value::Object(object) => {
            for (sub, value) in object {
                field_lines(lines, sub, value, groups_by_id, group_name);
            }
        }
        _ => lines.push(line(&label(field), None, value_of(value))),
    }
}

/// Any value as text, without JSON's quotes and braces.
fn plain(value: &Value) -> AuditValue {
    match value {
        Value::Null => AuditValue::text(NONE),
        Value::Bool(true) => AuditValue::text("yes"),
        Value::Bool(false) => AuditValue::text("no"),
        Value::String(text) if text.is_empty() => AuditValue::text(NONE),
        Value::String(text) => AuditValue::text(without_ids(text)),
        Value::Number(number) => AuditValue::text(number.to_string()),
        Value::Array(items) => names(items.iter().map(|item| plain(item).to_string())),
        Value::Object(object) => AuditValue::text(
            object
                .iter()
                .map(|(field, value)| format!("{} {}", label(field), plain(value)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

fn names(items: impl Iterator<Item = String>) -> AuditValue {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        AuditValue::text("none")
    } else {
        AuditValue::text(items.join(", "))
    }
}

/// An expiry given as a date is stored as the midnight (UTC) that ends that day: it reads
/// as that day, as it was typed. Any other expiry is a moment.
fn expiry(at: OffsetDateTime) -> AuditValue {
    let at = at.to_offset(time::UtcOffset::UTC);
    if at.time() == Time::MIDNIGHT {
        if let Some(day) = at.date().previous_day() {
            return AuditValue::Day { day: day_text(day) };
        }
    }
    AuditValue::Time { at }
}

fn day_text(day: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap_or_default()
}

/// The remote's permission texts name a group it no longer knows by its id: never shown.
fn without_ids(text: &str) -> String {
    const MARK: &str = "deleted group ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + MARK.len()..];
        let id_len = after
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .unwrap_or(after.len());
        if id_len == 36 {
            out.push_str("a deleted group");
            rest = &after[id_len..];
        } else {
            out.push_str(MARK);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `settings.update` records the settings before and after: a line for each that changed.
fn settings_lines(details: &Map<String, Value>) -> Vec<AuditLine> {
    let (Some(Value::Object(from)), Some(Value::Object(to))) =
        (details.get("from"), details.get("to"))
    else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for (field, after) in to {
        let before = from.get(field).unwrap_or(&Value::Null);
        if before == after {
            continue;
        }
        let (name, unit) = match field.as_str() {
            "clipboard_clear_seconds" => ("clipboard cleared after", " s"),
            "auto_lock_minutes" => ("locks when idle after", " min"),
            other => (other, ""),
        };
        let value = |value: &Value| match value {
            Value::Number(number) => AuditValue::text(format!("{number}{unit}")),
            other => plain(other),
        };
        lines.push(line(&label(name), Some(value(before)), value(after)));
    }
    lines
}

/// `sync.conflict`: the value this desktop asked for, the one the remote kept, and why.
fn conflict_lines(details: &Map<String, Value>) -> Vec<AuditLine> {
    let text = |name: &str| {
        details
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let field = text("field");
    let value = |given: &str| {
        if field == "expires_at" {
            if let Ok(at) =
                OffsetDateTime::parse(given, &time::format_description::well_known::Rfc3339)
            {
                return expiry(at);
            }
        }
        plain(&Value::String(given.to_string()))
    };
    vec![
        line(
            &format!("{} (yours → kept)", label(field)),
            Some(value(text("yours"))),
            value(text("kept")),
        ),
        line("why", None, plain(&Value::String(text("rule").to_string()))),
    ]
}

impl Vault {
    /// The lines of each entry, in order (see [`describe`]); groups recorded by id are named
    /// as this vault knows them now, or as the audit log last named them.
    pub fn describe_audit(&self, entries: &[AuditEntry]) -> Result<Vec<Vec<AuditLine>>> {
        let needs_names = entries.iter().any(|entry| {
            entry.action.starts_with("sync.") && entry.details.get("groups").is_some()
        });
        let mut names: HashMap<String, String> = HashMap::new();
        if needs_names {
            let mut statement = self.conn.prepare(
                "SELECT target_id, target_name FROM audit_log
                 WHERE (action LIKE 'group.%' OR action LIKE 'sync.group.%') AND target_id IS NOT NULL
                 ORDER BY seq",
            )?;
            let recorded = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            for pair in recorded {
                let (id, name): (String, Option<String>) = pair?;
                if let Some(name) = name {
                    names.insert(id, name);
                }
            }
            let mut statement = self.conn.prepare("SELECT id, name FROM groups")?;
            let current = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            for pair in current {
                let (id, name) = pair?;
                names.insert(id, name);
            }
        }
        let group_name = |id: &str| names.get(id).cloned();
        Ok(entries
            .iter()
            .map(|entry| describe(entry, &group_name))
            .collect())
    }
}
