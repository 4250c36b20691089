//! Accounts (a company, a fleet): name, key prefix, key limit, resources and
//! the shared secret integrations sign requests with.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;

use crate::access::DEFAULT_RESOURCES;
use crate::audit::NewEntry;
use crate::key_format::{validate_prefix, DEFAULT_PREFIX};
use crate::model::{from_millis, to_millis, Account};
use crate::secret::SecretString;
use crate::vault::Vault;
use crate::{validate, Error, Result};

/// Options for a new account; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub prefix: Option<String>,
    pub key_limit: Option<u32>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub rename: Option<String>,
    pub prefix: Option<String>,
    pub key_limit: Option<u32>,
}

/// The columns commands need to act within an account.
#[derive(Debug, Clone)]
pub(crate) struct AccountRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_limit: u32,
}

/// `key_count` is what counts toward the key limit: keys a roll replaced do not.
const ACCOUNT_COLUMNS: &str =
    "a.id, a.name, a.prefix, a.key_limit, a.resources, a.created_at, a.updated_at,
     a.key_count - (SELECT count(*) FROM key_rolls r WHERE r.account_id = a.id)";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        key_limit: row.get(3)?,
        resources: row
            .get::<_, String>(4)?
            .split(',')
            .map(str::to_string)
            .collect(),
        created_at: from_millis(row.get(5)?),
        updated_at: from_millis(row.get(6)?),
        key_count: row.get::<_, i64>(7)? as u64,
    })
}

/// Finds the account a command acts on: the one named, or the only one.
pub(crate) fn resolve(conn: &Connection, name: Option<&str>) -> Result<AccountRow> {
    let from_row = |row: &Row<'_>| {
        Ok(AccountRow {
            id: row.get(0)?,
            name: row.get(1)?,
            prefix: row.get(2)?,
            key_limit: row.get(3)?,
        })
    };
    if let Some(name) = name {
        return conn
            .prepare_cached(
                "SELECT id, name, prefix, key_limit FROM accounts WHERE name_fold = ?1",
            )?
            .query_row([validate::fold(name.trim())], from_row)
            .optional()?
            .ok_or_else(|| {
                Error::not_found_hint("account", name, "check the name in the list of accounts")
            });
    }
    let mut statement =
        conn.prepare_cached("SELECT id, name, prefix, key_limit FROM accounts LIMIT 2")?;
    let accounts = statement
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match accounts.len() {
        1 => Ok(accounts.into_iter().next().expect("one account")),
        0 => Err(Error::not_found_hint(
            "account",
            "(any)",
            "create an account first",
        )),
        _ => Err(Error::AccountNeeded),
    }
}

fn random_secret() -> Result<SecretString> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    crate::random::fill(bytes.as_mut())?;
    Ok(SecretString::new(hex::encode(bytes.as_ref())))
}

impl Vault {
    pub fn create_account(&mut self, name: &str, options: NewAccount) -> Result<Account> {
        let name = validate::name("account", name)?;
        let prefix = options.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        validate_prefix(&prefix)?;
        let key_limit =
            validate::key_limit(options.key_limit.unwrap_or(validate::DEFAULT_KEY_LIMIT))?;
        let secret = random_secret()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|change| {
            let fold = validate::fold(&name);
            let taken: bool = change.tx.query_row("SELECT EXISTS (SELECT 1 FROM accounts WHERE name_fold = ?1)", [&fold], |r| r.get(0))?;
            if taken {
                return Err(Error::Conflict(format!("an account named {name:?} already exists: choose another name")));
            }
            let at = to_millis(change.now);
            change.tx.execute(
                "INSERT INTO accounts (id, name, name_fold, prefix, key_limit, resources, shared_secret, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![id, name, fold, prefix, key_limit, DEFAULT_RESOURCES.join(","), secret.expose(), at],
            )?;
            change.audit(NewEntry::target("account.create", &name, &id, &name, json!({
                "prefix": prefix, "key_limit": key_limit
            })))
        })?;
        self.account(&name)
    }

    pub fn account(&self, name: &str) -> Result<Account> {
        let row = resolve(&self.conn, Some(name))?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ?1");
        Ok(self.conn.query_row(&sql, [&row.id], account_from_row)?)
    }

    pub fn list_accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.name_fold");
        let mut statement = self.conn.prepare(&sql)?;
        let accounts = statement
            .query_map([], account_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(accounts)
    }

    pub fn update_account(&mut self, name: &str, changes: AccountChanges) -> Result<Account> {
        let rename = changes
            .rename
            .as_deref()
            .map(|n| validate::name("account", n))
            .transpose()?;
        if let Some(prefix) = &changes.prefix {
            validate_prefix(prefix)?;
        }
        if let Some(limit) = changes.key_limit {
            validate::key_limit(limit)?;
        }
        let final_name = self.write(|change| {
            let account = resolve(change.tx, Some(name))?;
            let mut details = serde_json::Map::new();
            let at = to_millis(change.now);
            if let Some(new_name) = &rename {
                let fold = validate::fold(new_name);
                let taken: bool = change.tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM accounts WHERE name_fold = ?1 AND id <> ?2)",
                    params![fold, account.id],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(Error::Conflict(format!(
                        "an account named {new_name:?} already exists: choose another name"
                    )));
                }
                change.tx.execute(
                    "UPDATE accounts SET name = ?1, name_fold = ?2, updated_at = ?3 WHERE id = ?4",
                    params![new_name, fold, at, account.id],
                )?;
                details.insert(
                    "name".into(),
                    json!({ "from": account.name, "to": new_name }),
                );
            }
            if let Some(prefix) = &changes.prefix {
                change.tx.execute(
                    "UPDATE accounts SET prefix = ?1, updated_at = ?2 WHERE id = ?3",
                    params![prefix, at, account.id],
                )?;
                details.insert(
                    "prefix".into(),
                    json!({ "from": account.prefix, "to": prefix }),
                );
            }
            if let Some(limit) = changes.key_limit {
                change.tx.execute(
                    "UPDATE accounts SET key_limit = ?1, updated_at = ?2 WHERE id = ?3",
                    params![limit, at, account.id],
                )?;
                details.insert(
                    "key_limit".into(),
                    json!({ "from": account.key_limit, "to": limit }),
                );
            }
            if details.is_empty() {
                return Err(Error::invalid(
                    "nothing to change: give a new name, prefix or key limit",
                ));
            }
            let final_name = rename.clone().unwrap_or(account.name.clone());
            change.audit(NewEntry::target(
                "account.update",
                &final_name,
                &account.id,
                &final_name,
                details.into(),
            ))?;
            Ok(final_name)
        })?;
        self.account(&final_name)
    }

    /// The account's shared secret, after the passphrase is entered again.
    pub fn reveal_shared_secret(
        &self,
        account: Option<&str>,
        passphrase: &SecretString,
    ) -> Result<SecretString> {
        self.check_passphrase(passphrase)?;
        let account = resolve(&self.conn, account)?;
        let secret: String = self.conn.query_row(
            "SELECT shared_secret FROM accounts WHERE id = ?1",
            [&account.id],
            |r| r.get(0),
        )?;
        Ok(SecretString::new(secret))
    }

    /// Replaces the account's shared secret with a new random one.
    pub fn rotate_shared_secret(&mut self, account: Option<&str>) -> Result<()> {
        let secret = random_secret()?;
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            change.tx.execute(
                "UPDATE accounts SET shared_secret = ?1, updated_at = ?2 WHERE id = ?3",
                params![secret.expose(), to_millis(change.now), account.id],
            )?;
            change.audit(NewEntry::target(
                "secret.rotate",
                &account.name,
                &account.id,
                &account.name,
                json!({}),
            ))
        })
    }
}
