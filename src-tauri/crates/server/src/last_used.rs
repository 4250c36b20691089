//! Coalesced "last used" times. A VALID verification records its time in
//! memory and answers at once; the buffer is written in one transaction every
//! flush interval (1 s by default), before any pull is answered, and at
//! shutdown. One lock orders every flush, so a pull that starts while the
//! timer's flush is writing waits for it: a use answered before a pull began
//! is always in that pull.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use crate::store::{Store, StoreError};

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<String, OffsetDateTime>>,
    flushing: tokio::sync::Mutex<()>,
}

fn merge(into: &mut HashMap<String, OffsetDateTime>, key_id: String, at: OffsetDateTime) {
    let slot = into.entry(key_id).or_insert(at);
    *slot = (*slot).max(at);
}

impl LastUsed {
    pub fn record(&self, key_id: &str, at: OffsetDateTime) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        merge(&mut pending, key_id.to_string(), at);
    }

    /// Writes everything recorded so far; on failure keeps it for the next flush.
    pub async fn flush(&self, store: &Arc<dyn Store>) -> Result<(), StoreError> {
        let _turn = self.flushing.lock().await;
        let uses =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if uses.is_empty() {
            return Ok(());
        }
        let result = store.record_last_used(&uses).await;
        if result.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (key_id, at) in uses {
                merge(&mut pending, key_id, at);
            }
        }
        result
    }
}
