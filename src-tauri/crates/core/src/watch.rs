//! Noticing what other processes commit to the vault — the CLI, another window of
//! the app, a sync run elsewhere — so a long-lived holder of a `Vault` (the desktop
//! app) can show them. SQLite's `data_version` moves on this connection whenever
//! another connection has committed a change, and never for this connection's own
//! commits; reading it touches no page of the database, so polling it is cheap.

use crate::vault::Vault;
use crate::Result;

impl Vault {
    /// A number that differs from the one the previous call returned when, in between,
    /// another connection (another process) committed a change to this vault. This
    /// vault's own changes leave it as it is, and so do other processes that only read.
    pub fn outside_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// A stamp of the vault's content: two stamps are equal only if nothing was written
    /// in between, by this vault (any row it inserted, updated or deleted) or by another
    /// process. Lets a holder keep something it read and know whether it is still true.
    pub fn content_version(&self) -> Result<ContentVersion> {
        Ok(ContentVersion {
            outside: self.outside_version()?,
            own: self.conn.total_changes(),
        })
    }
}

/// See [`Vault::content_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentVersion {
    outside: i64,
    own: u64,
}

#[cfg(test)]
mod tests {
    use crate::{KdfParams, NewAccount, NewKey, SecretString, Vault};

    const FAST: KdfParams = KdfParams::WEAKEST;

    #[test]
    fn the_version_moves_for_other_processes_commits_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let passphrase = SecretString::from("correct horse");
        let mut app = Vault::create(&path, &passphrase, FAST).unwrap();
        app.create_account("Fleet", NewAccount::default()).unwrap();
        let start = app.outside_version().unwrap();

        // Its own changes: no news.
        app.create_key(None, "gate 1", &NewKey::default()).unwrap();
        assert_eq!(app.outside_version().unwrap(), start, "its own commit");

        // Another process that opens the vault and only reads (as `keyward key list` does).
        let mut cli = Vault::open(&path, &passphrase).unwrap();
        cli.list_keys(None, &Default::default()).unwrap();
        assert_eq!(app.outside_version().unwrap(), start, "an outside read");

        // Another process that commits a change.
        cli.create_key(None, "made by cli", &NewKey::default())
            .unwrap();
        let moved = app.outside_version().unwrap();
        assert_ne!(moved, start, "an outside commit");
        assert_eq!(app.outside_version().unwrap(), moved, "read twice, no news");

        cli.delete_key(None, "gate 1").unwrap();
        assert_ne!(
            app.outside_version().unwrap(),
            moved,
            "another outside commit"
        );
        drop(cli);
        // What the app now reads is what the other process wrote.
        let names: Vec<String> = app
            .list_keys(None, &Default::default())
            .unwrap()
            .into_iter()
            .map(|key| key.name)
            .collect();
        assert_eq!(names, ["made by cli"]);
    }

    #[test]
    fn the_content_version_moves_for_every_write_and_for_no_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let passphrase = SecretString::from("correct horse");
        let mut app = Vault::create(&path, &passphrase, FAST).unwrap();
        app.create_account("Fleet", NewAccount::default()).unwrap();
        app.create_key(None, "gate 1", &NewKey::default()).unwrap();
        let start = app.content_version().unwrap();

        app.list_keys(None, &Default::default()).unwrap();
        app.list_accounts().unwrap();
        assert_eq!(app.content_version().unwrap(), start, "its own reads");

        app.rename_key(None, "gate 1", "gate one").unwrap();
        let renamed = app.content_version().unwrap();
        assert_ne!(renamed, start, "its own write");

        let mut cli = Vault::open(&path, &passphrase).unwrap();
        cli.list_keys(None, &Default::default()).unwrap();
        assert_eq!(app.content_version().unwrap(), renamed, "an outside read");
        cli.delete_key(None, "gate one").unwrap();
        assert_ne!(app.content_version().unwrap(), renamed, "an outside write");
    }
}
