//! Printing: JSON for machines, aligned tables for people.

use serde::Serialize;

use keyward_core::{ApiKey, AuditEntry, AuditLine, Group};

pub fn json<T: Serialize + ?Sized>(value: &T) {
    // Serializing our own records cannot fail.
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn json_line<T: Serialize + ?Sized>(value: &T) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

/// Prints rows under a header, each column as wide as its widest cell. A cell of several
/// lines (`\n`) takes as many printed lines; the row's other cells are blank below their first.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            for part in cell.lines() {
                *width = (*width).max(part.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        let parts: Vec<Vec<&str>> = row.iter().map(|cell| cell.lines().collect()).collect();
        let height = parts.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for index in 0..height {
            line(
                parts
                    .iter()
                    .map(|cell| cell.get(index).copied().unwrap_or(""))
                    .collect(),
            );
        }
    }
}

pub fn time(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    at.format(&format).unwrap_or_default()
}

/// A time to the second, for moments such as the end of a short grace.
pub fn seconds(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// A key's status as the table shows it: a key a roll replaced is "rolling
/// out" until its expiry, then "replaced".
fn status(key: &ApiKey) -> String {
    match &key.replaced_by {
        None => key.status.as_str().into(),
        Some(_) if key.expires_at.is_some_and(|at| at > keyward_core::now()) => {
            "rolling out".into()
        }
        Some(_) => "replaced".into(),
    }
}

pub fn keys_table(keys: &[ApiKey]) {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.name.clone(),
                status(k),
                k.hint.clone(),
                k.access.to_string(),
                if k.allow_unbind {
                    "yes".into()
                } else {
                    "no".into()
                },
                list(&k.groups),
                time(&k.created_at),
                k.created_by.clone(),
                k.last_used_at
                    .as_ref()
                    .map(time)
                    .unwrap_or_else(|| "Never".into()),
                k.expires_at
                    .as_ref()
                    .map(time)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "STATUS",
            "KEY",
            "ACCESS",
            "UNBIND",
            "GROUPS",
            "CREATED",
            "CREATED BY",
            "LAST USED",
            "EXPIRES",
        ],
        &rows,
    );
}

pub fn key_details(key: &ApiKey) {
    let rows = [
        ("id", key.id.clone()),
        ("account", key.account.clone()),
        ("name", key.name.clone()),
        (
            "description",
            key.description.clone().unwrap_or_else(|| "-".into()),
        ),
        ("status", status(key)),
        ("key", key.hint.clone()),
        ("access", key.access.to_string()),
        (
            "allow unbind",
            if key.allow_unbind {
                "yes".into()
            } else {
                "no".into()
            },
        ),
        ("groups", list(&key.groups)),
        (
            "created",
            format!("{} by {}", time(&key.created_at), key.created_by),
        ),
        ("updated", time(&key.updated_at)),
        (
            "last used",
            key.last_used_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "Never".into()),
        ),
        (
            "expires",
            key.expires_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "never".into()),
        ),
    ];
    for (label, value) in rows {
        println!("{label:<13} {value}");
    }
    if let Some(successor) = &key.replaced_by {
        println!("{:<13} {successor}", "replaced by");
    }
}

pub fn groups_table(groups: &[Group]) {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let scopes: Vec<String> = g.scopes.iter().map(ToString::to_string).collect();
            vec![
                g.name.clone(),
                list(&scopes),
                g.key_count.to_string(),
                g.description.clone(),
            ]
        })
        .collect();
    table(&["NAME", "SCOPES", "KEYS", "DESCRIPTION"], &rows);
}

/// The audit log, one printed line per changed field ("status: active → inactive").
pub fn audit_table(entries: &[AuditEntry], lines: &[Vec<AuditLine>]) {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .zip(lines)
        .map(|(e, lines)| {
            vec![
                e.seq.to_string(),
                time(&e.at),
                e.actor.clone(),
                e.action.clone(),
                e.target_name.clone().unwrap_or_else(|| "-".into()),
                lines
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ]
        })
        .collect();
    table(
        &["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"],
        &rows,
    );
}
