//! The hash-chained audit log. Each entry's hash covers the previous entry's
//! hash and every field of its own; the head (last sequence number and hash)
//! is kept in `meta`, so `verify` detects an edited, removed or appended-out-
//! of-band entry anywhere in the chain, the last one included.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::model::{from_millis, to_millis, AuditEntry, AuditReport};
use crate::vault::Vault;
use crate::Result;

const GENESIS: [u8; 32] = [0u8; 32];

/// What a change records; never a secret.
pub(crate) struct NewEntry<'a> {
    pub action: &'a str,
    pub account: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_name: Option<&'a str>,
    pub details: serde_json::Value,
}

impl<'a> NewEntry<'a> {
    pub fn vault(action: &'a str, details: serde_json::Value) -> Self {
        NewEntry {
            action,
            account: None,
            target_id: None,
            target_name: None,
            details,
        }
    }

    pub fn target(
        action: &'a str,
        account: &'a str,
        id: &'a str,
        name: &'a str,
        details: serde_json::Value,
    ) -> Self {
        NewEntry {
            action,
            account: Some(account),
            target_id: Some(id),
            target_name: Some(name),
            details,
        }
    }
}

fn field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update([0u8]),
        Some(text) => {
            hasher.update([1u8]);
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
    }
}

/// Every stored field of one entry, as hashed into the chain.
struct Hashed<'a> {
    seq: i64,
    at: i64,
    actor: &'a str,
    action: &'a str,
    account: Option<&'a str>,
    target_id: Option<&'a str>,
    target_name: Option<&'a str>,
    details: &'a str,
}

impl Hashed<'_> {
    fn hash(&self, prev: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"keyward-audit-v1");
        hasher.update(prev);
        hasher.update(self.seq.to_be_bytes());
        hasher.update(self.at.to_be_bytes());
        for value in [
            Some(self.actor),
            Some(self.action),
            self.account,
            self.target_id,
            self.target_name,
            Some(self.details),
        ] {
            field(&mut hasher, value);
        }
        hasher.finalize().into()
    }
}

fn head(conn: &Connection) -> Result<(i64, Vec<u8>)> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE name = 'audit_head'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let Some(text) = stored else {
        return Ok((0, GENESIS.to_vec()));
    };
    let damaged = || crate::Error::VaultDamaged("the audit log's head record is unreadable".into());
    let (seq, hash) = text.split_once(':').ok_or_else(damaged)?;
    Ok((
        seq.parse().map_err(|_| damaged())?,
        hex::decode(hash).map_err(|_| damaged())?,
    ))
}

pub(crate) fn append(
    conn: &Connection,
    actor: &str,
    now: OffsetDateTime,
    entry: NewEntry<'_>,
) -> Result<()> {
    let (last_seq, prev) = head(conn)?;
    let seq = last_seq + 1;
    let at = to_millis(now);
    let details = entry.details.to_string();
    let hash = Hashed {
        seq,
        at,
        actor,
        action: entry.action,
        account: entry.account,
        target_id: entry.target_id,
        target_name: entry.target_name,
        details: &details,
    }
    .hash(&prev);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor, action, account, target_id, target_name, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![seq, at, actor, entry.action, entry.account, entry.target_id, entry.target_name, details, prev, hash.to_vec()])?;
    conn.prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES ('audit_head', ?1)")?
        .execute([format!("{seq}:{}", hex::encode(hash))])?;
    Ok(())
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    /// A key (or other target) id or name.
    pub target: Option<String>,
    pub limit: Option<usize>,
    /// Only entries by this actor (ignoring case).
    pub actor: Option<String>,
    /// Only entries made at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only entries made before this time.
    pub until: Option<OffsetDateTime>,
}

impl Vault {
    /// The last entry's sequence number and chain hash.
    pub fn audit_head(&self) -> Result<keyward_model::wire::AuditHead> {
        let (seq, hash) = head(&self.conn)?;
        Ok(keyward_model::wire::AuditHead {
            seq: seq as u64,
            hash: hex::encode(hash),
        })
    }

    /// What is wrong with this vault's audit log given the head a remote
    /// recorded for it: `None` when the log still holds that entry, unchanged.
    pub fn check_remote_audit_head(
        &self,
        recorded: &keyward_model::wire::AuditHead,
    ) -> Result<Option<String>> {
        let (last, _) = head(&self.conn)?;
        if recorded.seq as i64 > last {
            return Ok(Some(format!(
                "the audit log is shorter than the remote recorded at its last sync (entry {}, this log ends at {last}): entries were removed, or an older copy of the vault was restored",
                recorded.seq
            )));
        }
        if recorded.seq == 0 {
            return Ok(None);
        }
        let stored: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT hash FROM audit_log WHERE seq = ?1",
                [recorded.seq as i64],
                |row| row.get(0),
            )
            .optional()?;
        if stored.map(hex::encode).as_deref() != Some(recorded.hash.as_str()) {
            return Ok(Some(format!(
                "the audit log differs from what the remote recorded at entry {}: it was rewritten, or an older copy of the vault was restored",
                recorded.seq
            )));
        }
        Ok(None)
    }

    /// Audit entries, newest first.
    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut statement = self.conn.prepare(
            "SELECT seq, at, actor, action, account, target_id, target_name, details FROM audit_log
             WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at < ?2)
             ORDER BY seq DESC",
        )?;
        let target = filter.target.as_deref().map(crate::validate::fold);
        let actor = filter
            .actor
            .as_deref()
            .map(str::trim)
            .filter(|actor| !actor.is_empty())
            .map(crate::validate::fold);
        let mut entries = Vec::new();
        let since = filter.since.map(to_millis);
        let until = filter.until.map(to_millis);
        let rows = statement.query_map(params![since, until], |row| {
            Ok(AuditEntry {
                seq: row.get::<_, i64>(0)? as u64,
                at: from_millis(row.get(1)?),
                actor: row.get(2)?,
                action: row.get(3)?,
                account: row.get(4)?,
                target_id: row.get(5)?,
                target_name: row.get(6)?,
                details: serde_json::from_str(&row.get::<_, String>(7)?)
                    .unwrap_or(serde_json::Value::Null),
            })
        })?;
        for row in rows {
            let entry = row?;
            if filter
                .action
                .as_deref()
                .is_some_and(|a| !entry.action.starts_with(a))
            {
                continue;
            }
            if actor
                .as_deref()
                .is_some_and(|actor| crate::validate::fold(&entry.actor) != actor)
            {
                continue;
            }
            if let Some(target) = &target {
                let matches = entry.target_id.as_deref() == Some(target.as_str())
                    || entry
                        .target_name
                        .as_deref()
                        .map(crate::validate::fold)
                        .as_deref()
                        == Some(target.as_str());
                if !matches {
                    continue;
                }
            }
            entries.push(entry);
            if filter.limit.is_some_and(|limit| entries.len() >= limit) {
                break;
            }
        }
        Ok(entries)
    }

    /// Walks the whole chain and checks every link and the recorded head.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let mut statement = self.conn.prepare(
            "SELECT seq, at, actor, action, account, target_id, target_name, details, prev_hash, hash
             FROM audit_log ORDER BY seq",
        )?;
        let mut rows = statement.query([])?;
        let mut expected_seq = 1i64;
        let mut prev = GENESIS.to_vec();
        let broken = |seq: i64, entries: i64, problem: &str| AuditReport {
            ok: false,
            entries: entries as u64,
            broken_at: Some(seq as u64),
            problem: Some(problem.to_string()),
        };
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let stored_prev: Vec<u8> = row.get(8)?;
            let stored_hash: Vec<u8> = row.get(9)?;
            if seq != expected_seq {
                return Ok(broken(
                    expected_seq,
                    seq - 1,
                    "an entry is missing before this one",
                ));
            }
            if stored_prev != prev {
                return Ok(broken(
                    seq,
                    seq,
                    "this entry does not follow the one before it",
                ));
            }
            let (actor, action, details): (String, String, String) =
                (row.get(2)?, row.get(3)?, row.get(7)?);
            let (account, target_id, target_name): (
                Option<String>,
                Option<String>,
                Option<String>,
            ) = (row.get(4)?, row.get(5)?, row.get(6)?);
            let hash = Hashed {
                seq,
                at: row.get(1)?,
                actor: &actor,
                action: &action,
                account: account.as_deref(),
                target_id: target_id.as_deref(),
                target_name: target_name.as_deref(),
                details: &details,
            }
            .hash(&prev);
            if hash.as_slice() != stored_hash.as_slice() {
                return Ok(broken(seq, seq, "this entry was altered"));
            }
            prev = stored_hash;
            expected_seq += 1;
        }
        let entries = expected_seq - 1;
        let (head_seq, head_hash) = head(&self.conn)?;
        if head_seq != entries || head_hash != prev {
            return Ok(broken(
                entries + 1,
                entries,
                "entries at the end of the log were removed or added outside Keyward",
            ));
        }
        // What the remotes recorded at their last sync reaches past this file.
        let recorded = self
            .conn
            .prepare("SELECT url, audit_seq, audit_hash FROM remotes WHERE audit_seq IS NOT NULL ORDER BY url")?
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (url, seq, hash) in recorded {
            let head = keyward_model::wire::AuditHead {
                seq: seq as u64,
                hash,
            };
            if let Some(problem) = self.check_remote_audit_head(&head)? {
                let at = (seq as u64).min(entries as u64 + 1) as i64;
                return Ok(broken(at, entries, &format!("{problem} (remote {url})")));
            }
        }
        Ok(AuditReport {
            ok: true,
            entries: entries as u64,
            broken_at: None,
            problem: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KdfParams, NewAccount, NewKey, SecretString};

    /// A vault with a few audited changes, and its path kept alive.
    fn audited_vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let params = KdfParams::WEAKEST;
        let mut vault = Vault::create(
            &dir.path().join("v.db"),
            &SecretString::from("correct horse"),
            params,
        )
        .unwrap();
        vault.create_account("Acme", NewAccount::default()).unwrap();
        for name in ["a", "b", "c"] {
            vault.create_key(None, name, &NewKey::default()).unwrap();
        }
        assert!(vault.verify_audit().unwrap().ok);
        (dir, vault)
    }

    fn tamper(vault: &Vault, sql: &str) -> AuditReport {
        vault.conn.execute_batch(sql).unwrap();
        vault.verify_audit().unwrap()
    }

    #[test]
    fn an_edited_field_is_detected() {
        for sql in [
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3",
            "UPDATE audit_log SET details = '{}' WHERE seq = 2",
            "UPDATE audit_log SET at = at + 1 WHERE seq = 4",
            "UPDATE audit_log SET target_name = 'x' WHERE seq = 5",
        ] {
            let (_dir, vault) = audited_vault();
            let report = tamper(&vault, sql);
            assert!(!report.ok, "{sql}");
            assert!(report.broken_at.is_some());
        }
    }

    #[test]
    fn a_removed_entry_is_detected_anywhere_in_the_chain() {
        for seq in [1, 3, 5] {
            let (_dir, vault) = audited_vault();
            let report = tamper(&vault, &format!("DELETE FROM audit_log WHERE seq = {seq}"));
            assert!(!report.ok, "removing entry {seq}");
            assert_eq!(report.broken_at, Some(seq));
        }
    }

    #[test]
    fn a_rehashed_forgery_is_still_caught_by_the_head() {
        // Dropping the last entry leaves a consistent chain; the head catches it.
        let (_dir, vault) = audited_vault();
        let report = tamper(
            &vault,
            "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
        );
        assert!(!report.ok);
    }

    #[test]
    fn entries_filter_by_actor_ignoring_case_and_by_time() {
        let (_dir, mut vault) = audited_vault();
        vault.set_actor("Jane").unwrap();
        // Its own millisecond, so the time range can tell it from the entry before.
        std::thread::sleep(std::time::Duration::from_millis(5));
        vault.create_key(None, "d", &NewKey::default()).unwrap();
        let by = |actor: &str| {
            vault
                .audit_entries(&AuditFilter {
                    actor: Some(actor.into()),
                    ..Default::default()
                })
                .unwrap()
                .iter()
                .map(|entry| entry.target_name.clone().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(by(" jane "), ["d"]);
        assert_eq!(by("nobody"), Vec::<String>::new());
        assert_eq!(by(""), by("  "), "a blank actor filters nothing");
        assert_eq!(by("").len(), 6);

        let all = vault.audit_entries(&AuditFilter::default()).unwrap();
        let newest = all[0].at;
        let between = |since, until| {
            vault
                .audit_entries(&AuditFilter {
                    since,
                    until,
                    ..Default::default()
                })
                .unwrap()
                .len()
        };
        assert_eq!(between(Some(newest), None), 1, "since is inclusive");
        assert_eq!(between(None, Some(newest)), 5, "until is exclusive");
        let later = newest + time::Duration::days(1);
        assert_eq!(between(Some(later), None), 0);
        assert_eq!(between(Some(later), Some(newest)), 0, "an empty range");
    }

    #[test]
    fn a_swapped_order_is_detected() {
        let (_dir, vault) = audited_vault();
        let report = tamper(
            &vault,
            "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3;
             UPDATE audit_log SET seq = 3 WHERE seq = -1;",
        );
        assert!(!report.ok);
    }
}
