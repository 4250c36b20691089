//! Sync's side of the vault: an account's remote (URL, token, cursor), what
//! the sync client reads and records through it, and the audit head the
//! remote last recorded. The outbox is `outbox.rs`; applying a pull, `pull.rs`.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::accounts::resolve;
use crate::audit::NewEntry;
use crate::model::{from_millis, to_millis};
use crate::outbox::{self, OutboxEntry, RefusedChange};
use crate::pull::Applier;
use crate::secret::SecretString;
use crate::vault::Vault;
use crate::wire::{AuditHead, ChangeResult, Conflict, PulledChange};
use crate::{Error, Result};

/// An account's remote as the UI and `keyward remote show` describe it: never the token.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RemoteInfo {
    pub url: String,
    /// The last four characters of the sync token.
    pub token_hint: String,
    /// Plain HTTP to a non-loopback host was allowed explicitly.
    pub insecure: bool,
}

/// What the sync client needs to talk to an account's remote.
pub struct RemoteSession {
    pub account: String,
    pub url: String,
    pub token: SecretString,
    /// This vault's id towards the remote (a change's `origin`).
    pub client_id: String,
    /// Where the next pull starts.
    pub cursor: u64,
}

/// An account's sync state, for the UI and `keyward remote show`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncState {
    pub remote: Option<RemoteInfo>,
    pub pending_changes: u64,
    /// Changes the remote refused, kept aside with its reasons.
    pub refused: Vec<RefusedChange>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync_at: Option<OffsetDateTime>,
    /// The last sync's report as the sync client wrote it (JSON).
    pub last_report: Option<String>,
    pub last_error: Option<String>,
}

fn token_hint(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// Whether `host` (as in a URL, IPv6 in brackets) is this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a remote's URL: `https://` anywhere, `http://` only to this machine
/// unless `insecure` (the token would cross the network in clear).
pub fn check_remote_url(url: &str, insecure: bool) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let bad = |why: &str| Error::invalid(format!("invalid remote URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("write it as https://HOST[:PORT]"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad(
            "the scheme must be https:// (or http:// on this machine)",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(
            "leave credentials out of the URL; the token is given separately",
        ));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("a remote URL has no query, fragment or spaces"));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(host, _)| host).unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    if let Some(port) = authority.rsplit_once(']').map_or_else(
        || authority.split_once(':').map(|(_, port)| port),
        |(_, after)| after.strip_prefix(':'),
    ) {
        if port.parse::<u16>().map_or(true, |port| port == 0) {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
    }
    if scheme == "http" && !insecure && !is_loopback(host) {
        return Err(Error::PlainHttpRefused {
            host: host.to_string(),
        });
    }
    Ok(format!("{scheme}://{rest}"))
}

fn check_token(token: &SecretString) -> Result<()> {
    let text = token.expose();
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "the sync token is empty: paste the token keyward-server printed",
        ));
    }
    if text.len() > 512 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "that is not a sync token (printable characters without spaces, at most 512)",
        ));
    }
    Ok(())
}

/// An account's row in `remotes`.
struct RemoteRow {
    url: String,
    token: SecretString,
    insecure: bool,
    client_id: String,
    cursor: i64,
}

fn remote_of(conn: &Connection, account_id: &str) -> Result<Option<RemoteRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT url, token, insecure, client_id, cursor FROM remotes WHERE account_id = ?1",
        )?
        .query_row([account_id], |row| {
            Ok(RemoteRow {
                url: row.get(0)?,
                token: SecretString::new(row.get(1)?),
                insecure: row.get(2)?,
                client_id: row.get(3)?,
                cursor: row.get(4)?,
            })
        })
        .optional()?)
}

impl Vault {
    /// Sets the account's remote. A new remote (or a new URL) starts afresh:
    /// every delete this vault remembers, then every group and key of the
    /// account, is queued, so the first sync sends them all. The same URL
    /// again only replaces the token.
    pub fn set_remote(
        &mut self,
        account: Option<&str>,
        url: &str,
        token: &SecretString,
        insecure: bool,
    ) -> Result<RemoteInfo> {
        let url = check_remote_url(url, insecure)?;
        // A pasted token often brings a space or a line break along.
        let token = &token.trimmed();
        check_token(token)?;
        let hint = token_hint(token.expose());
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let before = remote_of(change.tx, &account.id)?;
            let same_remote = before.as_ref().is_some_and(|old| old.url == url);
            if same_remote {
                change.tx.execute(
                    "UPDATE remotes SET token = ?1, insecure = ?2 WHERE account_id = ?3",
                    params![token.expose(), insecure, account.id],
                )?;
            } else {
                change.tx.execute("DELETE FROM remotes WHERE account_id = ?1", [&account.id])?;
                outbox::forget(change, &account.id)?;
                change.tx.execute(
                    "INSERT INTO remotes (account_id, url, token, insecure, client_id, cursor) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                    params![account.id, url, token.expose(), insecure, uuid::Uuid::now_v7().to_string()],
                )?;
                outbox::queue_tombstones(change, &account.id)?;
                for id in ids_of(change.tx, "SELECT id FROM groups WHERE account_id = ?1 ORDER BY id", &account.id)? {
                    let fields = outbox::group_fields(change.tx, &id)?;
                    outbox::queue_group(change, &account.id, &id, fields, false)?;
                }
                for id in ids_of(change.tx, "SELECT id FROM api_keys WHERE account_id = ?1 ORDER BY id", &account.id)? {
                    let fields = outbox::key_fields(change.tx, &id)?;
                    outbox::queue_key(change, &account.id, &id, fields, false)?;
                }
            }
            change.audit(NewEntry {
                action: "remote.set",
                account: Some(&account.name),
                target_id: None,
                target_name: None,
                details: json!({ "url": url, "token": hint, "insecure": insecure, "new_remote": !same_remote }),
            })?;
            Ok(RemoteInfo { url: url.clone(), token_hint: hint.clone(), insecure })
        })
    }

    /// Stops syncing the account: forgets its remote, its outbox and the
    /// revisions last pulled; its groups and keys stay as they are, and so do
    /// the tombstones of what it deleted. Refused while changes wait for the
    /// remote, unless `force`. Returns how many queued changes were dropped;
    /// an account with no remote is not found.
    pub fn remove_remote(&mut self, account: Option<&str>, force: bool) -> Result<u64> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let remote = remote_of(change.tx, &account.id)?.ok_or_else(|| {
                Error::not_found_hint("remote of account", &account.name, "it does not sync")
            })?;
            let pending = pending_count(change.tx, &account.id)?;
            if pending > 0 && !force {
                return Err(Error::Refused(format!(
                    "{pending} changes have not reached the remote yet: sync first, or turn sync off anyway (they stay in this vault, only the remote will not get them)"
                )));
            }
            outbox::forget(change, &account.id)?;
            change.tx.execute("DELETE FROM remotes WHERE account_id = ?1", [&account.id])?;
            change.audit(NewEntry {
                action: "remote.remove",
                account: Some(&account.name),
                target_id: None,
                target_name: None,
                details: json!({ "url": remote.url, "dropped_changes": pending }),
            })?;
            Ok(pending)
        })
    }

    /// The account's remote, if it has one.
    pub fn remote(&self, account: Option<&str>) -> Result<Option<RemoteInfo>> {
        let account = resolve(&self.conn, account)?;
        Ok(remote_of(&self.conn, &account.id)?.map(|row| RemoteInfo {
            token_hint: token_hint(row.token.expose()),
            url: row.url,
            insecure: row.insecure,
        }))
    }

    /// What sync needs to talk to the account's remote.
    pub fn remote_session(&self, account: Option<&str>) -> Result<RemoteSession> {
        let account = resolve(&self.conn, account)?;
        let row = remote_of(&self.conn, &account.id)?.ok_or_else(|| {
            Error::not_found_hint("remote of account", &account.name, "it does not sync")
        })?;
        Ok(RemoteSession {
            account: account.name,
            url: row.url,
            token: row.token,
            client_id: row.client_id,
            cursor: row.cursor as u64,
        })
    }

    pub fn sync_state(&self, account: Option<&str>) -> Result<SyncState> {
        let account = resolve(&self.conn, account)?;
        let remote = self.remote(Some(&account.name))?;
        let (last_sync_at, last_report, last_error) = self
            .conn
            .query_row(
                "SELECT last_sync_at, last_report, last_error FROM remotes WHERE account_id = ?1",
                [&account.id],
                |row| Ok((row.get::<_, Option<i64>>(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?
            .unwrap_or((None, None, None));
        Ok(SyncState {
            remote,
            pending_changes: pending_count(&self.conn, &account.id)?,
            refused: outbox::refused(&self.conn, &account.id)?,
            last_sync_at: last_sync_at.map(from_millis),
            last_report,
            last_error,
        })
    }

    /// The account's outbox in the order it is sent: what may have been sent
    /// already, then what narrows, then the rest.
    pub fn outbox(&self, account: Option<&str>) -> Result<Vec<OutboxEntry>> {
        let account = resolve(&self.conn, account)?;
        outbox::entries(&self.conn, &account.id)
    }

    /// Marks outbox entries as sent, before the push that carries them: they
    /// are never changed again, so a resent one is the same change.
    pub fn mark_in_flight(&mut self, seqs: &[i64]) -> Result<()> {
        self.write(|change| outbox::mark_in_flight(change.tx, seqs))
    }

    /// Takes back `mark_in_flight` for entries whose push never left this machine.
    pub fn unmark_in_flight(&mut self, seqs: &[i64]) -> Result<()> {
        self.write(|change| outbox::unmark_in_flight(change.tx, seqs))
    }

    /// Takes the remote's answers to pushed entries (in order) out of the
    /// outbox: applied ones are gone, refused ones are kept aside with their
    /// reason (what of them narrows is queued again on its own), and each
    /// merge that overrode one of this vault's changes (`overridden`) goes to
    /// the audit log. Returns the refused changes.
    pub fn acknowledge(
        &mut self,
        account: Option<&str>,
        entries: &[OutboxEntry],
        results: &[ChangeResult],
        overridden: &[Conflict],
    ) -> Result<Vec<RefusedChange>> {
        if entries.len() != results.len() {
            return Err(Error::invalid("one answer per pushed change is needed"));
        }
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            crate::pull::audit_conflicts(change, &account, overridden)?;
            outbox::settle(change, &account.id, entries, results)
        })
    }

    /// Applies a pull in one transaction and moves the cursor (see `pull.rs`).
    /// `conflicts`: the merges the remote reports overrode this desktop's
    /// changes, audited in the same transaction (so once per cursor move).
    /// Returns how many records changed here.
    pub fn apply_pull(
        &mut self,
        account: Option<&str>,
        pulled: &[PulledChange],
        cursor: u64,
        conflicts: &[Conflict],
    ) -> Result<u64> {
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            let changed = Applier::new(change, &account).apply(pulled, conflicts)?;
            change.tx.execute(
                "UPDATE remotes SET cursor = max(cursor, ?1) WHERE account_id = ?2",
                params![cursor as i64, account.id],
            )?;
            Ok(changed)
        })
    }

    /// Records how the last sync ended: its report (JSON) or its error.
    pub fn record_sync_outcome(
        &mut self,
        account: Option<&str>,
        report: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let account = resolve(&self.conn, account)?;
        let now = to_millis(crate::model::now());
        if let Some(report) = report {
            self.conn.execute(
                "UPDATE remotes SET last_sync_at = ?1, last_report = ?2, last_error = NULL WHERE account_id = ?3",
                params![now, report, account.id],
            )?;
        } else {
            self.conn.execute(
                "UPDATE remotes SET last_error = ?1 WHERE account_id = ?2",
                params![error, account.id],
            )?;
        }
        Ok(())
    }

    /// Keeps the audit head the account's remote has recorded for this
    /// desktop, so `verify_audit` can tell a log cut short or rewritten since.
    pub fn record_remote_audit_head(
        &mut self,
        account: Option<&str>,
        head: &AuditHead,
    ) -> Result<()> {
        head.check().map_err(Error::invalid)?;
        let account = resolve(&self.conn, account)?;
        self.conn.execute(
            "UPDATE remotes SET audit_seq = ?1, audit_hash = ?2 WHERE account_id = ?3",
            params![head.seq as i64, head.hash, account.id],
        )?;
        Ok(())
    }
}

fn ids_of(conn: &Connection, sql: &str, account_id: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare(sql)?
        .query_map([account_id], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn pending_count(conn: &Connection, account_id: &str) -> Result<u64> {
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE account_id = ?1",
        [account_id],
        |row| row.get(0),
    )?;
    Ok(pending as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_refuse_plain_http_off_this_machine() {
        assert_eq!(
            check_remote_url("https://keys.example.com/", false).unwrap(),
            "https://keys.example.com"
        );
        assert!(check_remote_url("http://127.0.0.1:8420", false).is_ok());
        assert!(check_remote_url("http://localhost:8420", false).is_ok());
        assert!(check_remote_url("http://[::1]:8420", false).is_ok());
        let refused = check_remote_url("http://keys.example.com", false).unwrap_err();
        assert!(
            matches!(refused, Error::PlainHttpRefused { .. }),
            "{refused}"
        );
        assert!(
            !refused.to_string().contains("--"),
            "no front end's flag: {refused}"
        );
        assert!(check_remote_url("http://keys.example.com", true).is_ok());
        assert!(check_remote_url("http://127.0.0.2.example.com", false).is_err());
        for bad in [
            "keys.example.com",
            "ftp://keys.example.com",
            "https://",
            "https://user:pw@keys.example.com",
            "https://keys.example.com:99999",
            "https://keys.example.com:0",
            "https://keys.example.com/?token=x",
            "https://keys example.com",
        ] {
            assert!(check_remote_url(bad, true).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_token_hint_shows_only_its_last_four_characters() {
        assert_eq!(token_hint("kws_abcdefgh1234"), "…1234");
        assert_eq!(token_hint("ab"), "…ab");
    }
}
