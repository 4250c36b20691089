//! One action on many keys: activate, deactivate, change groups (add some,
//! remove some) or delete a selection, in one transaction with an audit entry
//! per key changed. The selection is by id, as a window holds it: a key that
//! is no longer there (deleted elsewhere, or by a sync) refuses the whole
//! change, named as the audit log last knew it — nothing changes.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::accounts::resolve;
use crate::keys::{delete_in, find, group_ids, set_groups_in, set_status_in, KeyFilter};
use crate::model::{ApiKey, KeyStatus};
use crate::vault::Vault;
use crate::{Error, Result};

/// What to do to every key of a selection (as the desktop sends it:
/// `{"kind": "groups", "add": [...], "remove": [...]}`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeysChange {
    Activate,
    Deactivate,
    /// Adds these groups to each key and removes those (by name).
    Groups {
        add: Vec<String>,
        remove: Vec<String>,
    },
    Delete,
}

impl Vault {
    /// Applies `what` to each key of `ids`, all in one transaction, or to none.
    /// Returns the keys as they are afterwards (deleted ones as they were), in
    /// the order given.
    pub fn change_keys(
        &mut self,
        account: Option<&str>,
        ids: &[String],
        what: &KeysChange,
    ) -> Result<Vec<ApiKey>> {
        if ids.is_empty() {
            return Err(Error::invalid(
                "no key selected: select the keys to change first",
            ));
        }
        if let KeysChange::Groups { add, remove } = what {
            if add.is_empty() && remove.is_empty() {
                return Err(Error::invalid(
                    "no group to add or remove: choose at least one",
                ));
            }
            if let Some(both) = add.iter().find(|name| remove.contains(name)) {
                return Err(Error::invalid(format!(
                    "group {both:?} is both added and removed: choose one"
                )));
            }
        }
        let before: HashMap<String, ApiKey> = self
            .list_keys(account, &KeyFilter::default())?
            .into_iter()
            .map(|key| (key.id.clone(), key))
            .collect();
        let (account_name, resolved) = self.write(|change| {
            let account = resolve(change.tx, account)?;
            let (add, remove) = match what {
                KeysChange::Groups { add, remove } => (
                    group_ids(change.tx, &account, add)?,
                    group_ids(change.tx, &account, remove)?,
                ),
                _ => (Vec::new(), Vec::new()),
            };
            let mut seen = HashSet::new();
            let mut resolved = Vec::with_capacity(ids.len());
            for id in ids {
                let row = find(change.tx, &account, id)?;
                if !seen.insert(row.id.clone()) {
                    continue;
                }
                resolved.push(row.id.clone());
                let was = before
                    .get(&row.id)
                    .ok_or_else(|| Error::not_found("key", &row.name))?;
                match what {
                    KeysChange::Activate => {
                        set_status_in(change, &account, &row, KeyStatus::Active)?
                    }
                    KeysChange::Deactivate => {
                        set_status_in(change, &account, &row, KeyStatus::Inactive)?
                    }
                    KeysChange::Delete => delete_in(change, &account, &row, was)?,
                    KeysChange::Groups { .. } => {
                        let current: Vec<String> = was.groups.clone();
                        let current = group_ids(change.tx, &account, &current)?;
                        let mut next: BTreeMap<String, String> = current.into_iter().collect();
                        next.extend(add.iter().cloned());
                        for (id, _) in &remove {
                            next.remove(id);
                        }
                        let unchanged = next.len() == was.groups.len()
                            && was
                                .groups
                                .iter()
                                .all(|name| next.values().any(|n| n == name));
                        if !unchanged {
                            let groups: Vec<(String, String)> = next.into_iter().collect();
                            set_groups_in(change, &account, &row, &groups)?;
                        }
                    }
                }
            }
            Ok((account.name, resolved))
        })?;
        if *what == KeysChange::Delete {
            for id in &resolved {
                self.last_used.forget(id);
            }
            return Ok(resolved
                .iter()
                .filter_map(|id| before.get(id).cloned())
                .collect());
        }
        let after: HashMap<String, ApiKey> = self
            .list_keys(Some(&account_name), &KeyFilter::default())?
            .into_iter()
            .map(|key| (key.id.clone(), key))
            .collect();
        Ok(resolved
            .iter()
            .filter_map(|id| after.get(id).cloned())
            .collect())
    }
}
