//! Printing: JSON for machines, aligned tables for people.

use serde::Serialize;

use keyward_core::{ApiKey, AuditEntry, Group};

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

/// Prints rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
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
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn time(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    at.format(&format).unwrap_or_default()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

pub fn keys_table(keys: &[ApiKey]) {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.name.clone(),
                k.status.as_str().into(),
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
        ("status", key.status.as_str().into()),
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

pub fn audit_table(entries: &[AuditEntry]) {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                time(&e.at),
                e.actor.clone(),
                e.action.clone(),
                e.target_name.clone().unwrap_or_else(|| "-".into()),
                e.details.to_string(),
            ]
        })
        .collect();
    table(
        &["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"],
        &rows,
    );
}
