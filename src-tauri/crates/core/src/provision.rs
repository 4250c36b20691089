//! Handing new keys to devices: creating (or rolling) keys can write one file
//! per new key into a folder — `{name, key, verify_url, account, key_id}` as
//! JSON, the form a device's setup reads — so forty readers each get their own
//! file instead of a pasted list.
//!
//! A key still leaves Keyward only when it is created: the files are written
//! inside the creating transaction, before it commits, so either every key
//! exists and has its file or none does (a commit that fails afterwards takes
//! the files away again). The folder must be new: Keyward creates it readable
//! by its owner only and each file with `create_new`, owner-only too, so it
//! never overwrites anything.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use time::Duration;
use zeroize::Zeroizing;

use crate::accounts::AccountRow;
use crate::model::CreatedKey;
use crate::roll::{KeySelection, RollOutcome};
use crate::vault::Vault;
use crate::{fsutil, wire, Error, NewKey, NewKeyRow, Result};

/// A file written for one new key.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFile {
    pub key_id: String,
    pub name: String,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub path: PathBuf,
}

/// Checks an export folder before anything is created: it must not exist
/// yet, and its parent must be a folder.
pub fn check_export_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(Error::invalid("no export folder given: name a new folder"));
    }
    if fs::symlink_metadata(dir).is_ok() {
        return Err(Error::invalid(format!(
            "{} already exists: name a new folder — Keyward creates it, readable by you only, and never writes into one that exists",
            dir.display()
        )));
    }
    let parent = match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent,
        None => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::invalid(format!(
            "cannot create {}: {} is not a folder",
            dir.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// A file name from a key name: letters, digits, `.`, `-` and `_` kept, the
/// rest `_`, and `-2`, `-3`, … when two names come out alike.
fn file_name(name: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = base.trim_start_matches('.');
    let base = if base.is_empty() { "key" } else { base };
    let mut candidate = base.to_string();
    let mut n = 2;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    format!("{candidate}.json")
}

/// The remote's verification URL, when the account syncs.
fn verify_url(conn: &Connection, account: &AccountRow) -> Result<Option<String>> {
    let url: Option<String> = conn
        .prepare_cached("SELECT url FROM remotes WHERE account_id = ?1")?
        .query_row([&account.id], |row| row.get(0))
        .optional()?;
    Ok(url.map(|url| format!("{}{}", url.trim_end_matches('/'), wire::paths::VERIFY)))
}

fn json_text(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Creates `dir` (owner-only) and writes one owner-only file per key, each
/// flushed to disk. On any failure the folder is taken away again.
fn write_files(
    conn: &Connection,
    account: &AccountRow,
    dir: &Path,
    keys: &[&CreatedKey],
) -> Result<Vec<KeyFile>> {
    let cannot = |err: std::io::Error| {
        Error::invalid(format!(
            "cannot write the key files to {}: {err}",
            dir.display()
        ))
    };
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(cannot)?;
    let url = verify_url(conn, account)?;
    let written = (|| {
        let mut taken = std::collections::HashSet::new();
        let mut files = Vec::with_capacity(keys.len());
        for created in keys {
            let path = dir.join(file_name(&created.key.name, &mut taken));
            // The key's characters need no escaping (base62 and `_`).
            let text = Zeroizing::new(format!(
                "{{\n  \"name\": {},\n  \"key\": \"{}\",\n  \"verify_url\": {},\n  \"account\": {},\n  \"key_id\": {}\n}}\n",
                json_text(&created.key.name),
                created.secret.expose(),
                url.as_deref().map_or("null".into(), json_text),
                json_text(&account.name),
                json_text(&created.key.id),
            ));
            let mut file = fsutil::create_private(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            files.push(KeyFile {
                key_id: created.key.id.clone(),
                name: created.key.name.clone(),
                path,
            });
        }
        fs::File::open(dir)?.sync_all()?;
        Ok(files)
    })();
    written.map_err(|err| {
        let _ = fs::remove_dir_all(dir);
        cannot(err)
    })
}

impl Vault {
    /// [`Vault::create_keys`], each new key also written to its own file in the
    /// new folder `dir`: every key with its file, or none.
    pub fn create_keys_exported(
        &mut self,
        account: Option<&str>,
        names: &[String],
        new: &NewKey,
        dir: &Path,
    ) -> Result<(Vec<CreatedKey>, Vec<KeyFile>)> {
        check_export_dir(dir)?;
        let mut files = Vec::new();
        let created = self.create_keys_then(account, names, new, |change, account, keys| {
            files = write_files(change.tx, account, dir, keys)?;
            Ok(())
        });
        settle(dir, created, files)
    }

    /// [`Vault::create_key_rows`], each new key also written to its own file in
    /// the new folder `dir`: every key with its file, or none.
    pub fn create_key_rows_exported(
        &mut self,
        account: Option<&str>,
        rows: &[NewKeyRow],
        settings: &NewKey,
        dir: &Path,
    ) -> Result<(Vec<CreatedKey>, Vec<KeyFile>)> {
        check_export_dir(dir)?;
        let mut files = Vec::new();
        let created =
            self.create_key_rows_then(account, rows, settings, |change, account, keys| {
                files = write_files(change.tx, account, dir, keys)?;
                Ok(())
            });
        settle(dir, created, files)
    }

    /// [`Vault::roll_keys`], each successor also written to its own file in
    /// the new folder `dir`: every successor with its file, or no roll.
    pub fn roll_keys_exported(
        &mut self,
        account: Option<&str>,
        selection: &KeySelection,
        grace: Duration,
        dir: &Path,
    ) -> Result<(RollOutcome, Vec<KeyFile>)> {
        check_export_dir(dir)?;
        let mut files = Vec::new();
        let rolled = self.roll_keys_then(account, selection, grace, |change, account, keys| {
            files = write_files(change.tx, account, dir, keys)?;
            Ok(())
        });
        settle(dir, rolled, files)
    }
}

/// The outcome with its files; when the transaction failed after the files
/// were written (its commit), the files go too.
fn settle<T>(dir: &Path, outcome: Result<T>, files: Vec<KeyFile>) -> Result<(T, Vec<KeyFile>)> {
    match outcome {
        Ok(outcome) => Ok((outcome, files)),
        Err(err) => {
            if !files.is_empty() {
                let _ = fs::remove_dir_all(dir);
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_are_plain_and_distinct() {
        let mut taken = Default::default();
        assert_eq!(file_name("gate-1", &mut taken), "gate-1.json");
        assert_eq!(file_name("Gate 1/north", &mut taken), "Gate_1_north.json");
        assert_eq!(file_name("gate_1_NORTH", &mut taken), "gate_1_NORTH-2.json");
        assert_eq!(file_name("../..", &mut taken), "_...json");
        assert_eq!(file_name("Zeitnahme 東京", &mut taken), "Zeitnahme___.json");
        assert_eq!(file_name("...", &mut taken), "key.json");
    }
}
