//! Coalesced "last used" times. A VALID verification records its time in
//! memory; the buffer is written in one transaction when it is older than
//! [`FLUSH_AFTER`], when `flush_last_used` is called, and when the vault
//! closes. Verification therefore never waits on a durable write, and at
//! most the last few seconds of usage are lost if the process dies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{params, TransactionBehavior};

use crate::model::{from_millis, ApiKey};
use crate::vault::Vault;
use crate::Result;

pub const FLUSH_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct LastUsedBuffer {
    /// Key id → latest use, in milliseconds since the epoch.
    pending: HashMap<String, i64>,
    oldest: Option<Instant>,
}

impl LastUsedBuffer {
    pub fn record(&mut self, key_id: &str, at_ms: i64) {
        let slot = self.pending.entry(key_id.to_string()).or_insert(at_ms);
        *slot = (*slot).max(at_ms);
        self.oldest.get_or_insert_with(Instant::now);
    }

    pub fn due(&self) -> bool {
        self.oldest.is_some_and(|t| t.elapsed() >= FLUSH_AFTER)
    }

    /// Shows a use not yet written as if it were.
    pub fn overlay(&self, key: &mut ApiKey) {
        if let Some(&at) = self.pending.get(&key.id) {
            let at = from_millis(at);
            if key.last_used_at.is_none_or(|stored| stored < at) {
                key.last_used_at = Some(at);
            }
        }
    }

    pub fn forget(&mut self, key_id: &str) {
        self.pending.remove(key_id);
    }

    fn take(&mut self) -> HashMap<String, i64> {
        self.oldest = None;
        std::mem::take(&mut self.pending)
    }
}

impl Vault {
    /// Writes buffered last-used times now.
    pub fn flush_last_used(&mut self) -> Result<()> {
        if self.last_used.pending.is_empty() {
            return Ok(());
        }
        let pending = self.last_used.take();
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?1) WHERE id = ?2",
                )?;
                for (id, at) in &pending {
                    update.execute(params![at, id])?;
                }
            }
            tx.commit()
        })();
        if let Err(err) = result {
            // Keep them for the next attempt rather than lose them.
            for (id, at) in pending {
                self.last_used.record(&id, at);
            }
            return Err(err.into());
        }
        Ok(())
    }
}
