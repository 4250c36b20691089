//! Verification by keyward-core's rules, in its documented order: format →
//! checksum (`key_format::check`) → lookup by verifier (`key_format::verifier`,
//! hash-then-lookup: no secret is ever compared) → active → not expired →
//! method, unbind and group scopes (`access::decide`).

use keyward_model::access::{self, Grant};
use keyward_model::{key_format, Request, VerifyResult};
use time::OffsetDateTime;

use crate::store::{KeyGrant, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub result: VerifyResult,
    pub key_id: Option<String>,
}

pub async fn verify_key(
    store: &dyn Store,
    presented: &str,
    request: &Request,
    now: OffsetDateTime,
) -> Result<Decision> {
    let key = match identify(store, presented, now).await? {
        Ok(key) => key,
        Err(refused) => return Ok(refused),
    };
    let grant = Grant {
        access: key.access,
        allow_unbind: key.allow_unbind,
        scopes: key.scopes.as_ref(),
    };
    let result = match access::decide(&grant, request) {
        Ok(()) => VerifyResult::Valid,
        Err(_) => VerifyResult::Forbidden,
    };
    Ok(Decision {
        result,
        key_id: Some(key.id),
    })
}

/// The first half of verification, which does not depend on the request:
/// the key record of a well-formed, known, active, unexpired key, or the
/// decision that refuses it.
pub async fn identify(
    store: &dyn Store,
    presented: &str,
    now: OffsetDateTime,
) -> Result<std::result::Result<KeyGrant, Decision>> {
    let refused = |result, key_id: Option<String>| Ok(Err(Decision { result, key_id }));
    if key_format::check(presented).is_err() {
        return refused(VerifyResult::Malformed, None);
    }
    let Some(key) = store
        .key_by_verifier(&key_format::verifier(presented))
        .await?
    else {
        return refused(VerifyResult::NotFound, None);
    };
    if !key.active {
        return refused(VerifyResult::Disabled, Some(key.id));
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return refused(VerifyResult::Expired, Some(key.id));
    }
    Ok(Ok(key))
}
