//! Verification of a presented key, in the documented order:
//! format → checksum → lookup by verifier → active → not expired → method
//! allowed by access type → unbind rule → group scopes.

use std::collections::BTreeSet;

use rusqlite::OptionalExtension;
use time::OffsetDateTime;

use crate::access::{decide, AccessType, Action, Grant, Request, Scope};
use crate::key_format;
use crate::model::{to_millis, Verification, VerifyResult};
use crate::secret::SecretString;
use crate::vault::Vault;
use crate::Result;

impl Vault {
    /// Verifies `presented` for `request` now; a VALID use records last used.
    pub fn verify_key(
        &mut self,
        presented: &SecretString,
        request: &Request,
    ) -> Result<Verification> {
        self.verify_key_at(presented, request, crate::model::now())
    }

    pub fn verify_key_at(
        &mut self,
        presented: &SecretString,
        request: &Request,
        now: OffsetDateTime,
    ) -> Result<Verification> {
        let verification = self.decide_verification(presented.expose(), request, now)?;
        if verification.result == VerifyResult::Valid {
            if let Some(id) = &verification.key_id {
                self.last_used.record(id, to_millis(now));
            }
            if self.last_used.due() {
                self.flush_last_used()?;
            }
        }
        Ok(verification)
    }

    fn decide_verification(
        &self,
        presented: &str,
        request: &Request,
        now: OffsetDateTime,
    ) -> Result<Verification> {
        let outcome = |result, key_id: Option<&str>| Verification {
            result,
            key_id: key_id.map(str::to_string),
        };
        if key_format::check(presented).is_err() {
            return Ok(outcome(VerifyResult::Malformed, None));
        }
        let verifier = key_format::verifier(presented);
        let found = self
            .conn
            .prepare_cached("SELECT id, status, expires_at, access, allow_unbind FROM api_keys WHERE verifier = ?1")?
            .query_row([verifier.as_slice()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, bool>(4)?,
                ))
            })
            .optional()?;
        let Some((id, status, expires_at, access, allow_unbind)) = found else {
            return Ok(outcome(VerifyResult::NotFound, None));
        };
        if status != "active" {
            return Ok(outcome(VerifyResult::Disabled, Some(&id)));
        }
        if expires_at.is_some_and(|at| at <= to_millis(now)) {
            return Ok(outcome(VerifyResult::Expired, Some(&id)));
        }
        let scopes = self.key_scopes(&id)?;
        let grant = Grant {
            access: access.parse().unwrap_or(AccessType::Read),
            allow_unbind,
            scopes: scopes.as_ref(),
        };
        match decide(&grant, request) {
            Ok(()) => Ok(outcome(VerifyResult::Valid, Some(&id))),
            Err(_) => Ok(outcome(VerifyResult::Forbidden, Some(&id))),
        }
    }

    /// The union of the key's groups' scopes, or `None` when it has no groups.
    fn key_scopes(&self, key_id: &str) -> Result<Option<BTreeSet<Scope>>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT s.resource, s.action FROM key_groups kg LEFT JOIN group_scopes s ON s.group_id = kg.group_id
             WHERE kg.key_id = ?1",
        )?;
        let mut rows = statement.query([key_id])?;
        let mut scopes: Option<BTreeSet<Scope>> = None;
        while let Some(row) = rows.next()? {
            let set = scopes.get_or_insert_with(BTreeSet::new);
            let (Some(resource), Some(action)) = (
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ) else {
                continue;
            };
            // A stored action this version does not know grants nothing.
            let Some(action) = Action::parse(&action) else {
                continue;
            };
            set.insert(Scope::new(&resource, action));
        }
        Ok(scopes)
    }
}
