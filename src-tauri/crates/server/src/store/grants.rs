//! The grants of known keys, kept in memory so that verifying a known key
//! asks nothing of the database — and dropped whole whenever any push may
//! have changed one, so a revocation takes effect at once.
//!
//! Only what the database answered is kept: a key record found by its
//! verifier (active or not; expiry is judged at every verification). An
//! unknown verifier is never kept, so made-up keys cannot fill memory.
//!
//! The rules that make it safe:
//! - The pushing instance drops everything after every push, whatever its
//!   outcome (a commit whose answer was lost may still have landed), before
//!   it answers.
//! - A lookup that read the database keeps its answer only if nothing was
//!   dropped since it began (the generation did not move): an answer read
//!   before a commit can never outlive that commit's drop.
//! - With several instances on one database, each hears every commit through
//!   PostgreSQL's LISTEN/NOTIFY and drops everything; while it cannot be sure
//!   to hear them (not yet listening, connection lost, a ping unanswered) it
//!   keeps nothing and reads the database at every verification.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::KeyGrant;

#[derive(Default)]
struct State {
    /// Moves at every drop.
    generation: u64,
    /// Whether every commit that could change a grant is heard.
    hearing: bool,
    grants: HashMap<[u8; 32], KeyGrant>,
}

pub struct GrantCache {
    state: RwLock<State>,
}

/// Where a lookup began: hand it back with what the database answered.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl GrantCache {
    /// `hearing`: whether every commit is made through this process (one
    /// instance on its own database) — otherwise nothing is kept until
    /// [`GrantCache::hear`].
    pub fn new(hearing: bool) -> GrantCache {
        GrantCache {
            state: RwLock::new(State {
                hearing,
                ..State::default()
            }),
        }
    }

    /// The kept grant, or a ticket to keep what the database will answer.
    pub fn get(&self, verifier: &[u8; 32]) -> Result<KeyGrant, Ticket> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        match state.grants.get(verifier) {
            Some(grant) => Ok(grant.clone()),
            None => Err(Ticket(state.generation)),
        }
    }

    /// Keeps what the database answered for a lookup begun at `ticket`,
    /// unless anything was dropped since or commits are not being heard.
    pub fn keep(&self, ticket: Ticket, verifier: &[u8; 32], grant: &KeyGrant) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.hearing && state.generation == ticket.0 {
            state.grants.insert(*verifier, grant.clone());
        }
    }

    /// Drops every grant (after a commit that may have changed one).
    pub fn drop_all(&self) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.generation += 1;
        state.grants = HashMap::new();
    }

    /// Every commit from now on will be heard: grants may be kept again.
    /// Whatever was committed before is read afresh.
    pub fn hear(&self) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.generation += 1;
        state.grants = HashMap::new();
        state.hearing = true;
    }

    /// Commits may go unheard: drop everything and keep nothing until [`GrantCache::hear`].
    pub fn deafen(&self) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.generation += 1;
        state.grants = HashMap::new();
        state.hearing = false;
    }

    /// How many grants are kept (for tests and `/metrics`).
    pub fn len(&self) -> usize {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.grants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_hearing(&self) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.hearing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_model::AccessType;

    fn grant(active: bool) -> KeyGrant {
        KeyGrant {
            id: "k".into(),
            active,
            expires_at: None,
            access: AccessType::Read,
            allow_unbind: false,
            scopes: None,
        }
    }

    #[test]
    fn an_answer_read_before_a_drop_is_not_kept() {
        let cache = GrantCache::new(true);
        let verifier = [7u8; 32];
        let ticket = cache.get(&verifier).unwrap_err();
        // A commit lands and drops everything while the lookup is reading.
        cache.drop_all();
        cache.keep(ticket, &verifier, &grant(true));
        assert!(cache.get(&verifier).is_err(), "a stale answer was kept");

        let ticket = cache.get(&verifier).unwrap_err();
        cache.keep(ticket, &verifier, &grant(false));
        assert_eq!(cache.get(&verifier).unwrap(), grant(false));
        cache.drop_all();
        assert!(cache.get(&verifier).is_err());
    }

    #[test]
    fn nothing_is_kept_while_commits_go_unheard() {
        let cache = GrantCache::new(false);
        let verifier = [1u8; 32];
        let ticket = cache.get(&verifier).unwrap_err();
        cache.keep(ticket, &verifier, &grant(true));
        assert_eq!(cache.len(), 0);

        // Hearing begins while a lookup is reading: its answer may predate it.
        let ticket = cache.get(&verifier).unwrap_err();
        cache.hear();
        cache.keep(ticket, &verifier, &grant(true));
        assert_eq!(cache.len(), 0);
        let ticket = cache.get(&verifier).unwrap_err();
        cache.keep(ticket, &verifier, &grant(true));
        assert_eq!(cache.len(), 1);

        cache.deafen();
        assert_eq!(cache.len(), 0);
        let ticket = cache.get(&verifier).unwrap_err();
        cache.keep(ticket, &verifier, &grant(true));
        assert_eq!(cache.len(), 0);
    }
}
