//! Verification by keyward-core's rules, in its documented order: format →
//! checksum (`key_format::check`) → lookup by verifier (`key_format::verifier`,
//! hash-then-lookup: no secret is ever compared) → active → not expired →
//! method, unbind and group scopes (`access::decide`).

use keyward_model::access::{self, Grant};
use keyward_model::{key_format, Request, VerifyResult};
use time::OffsetDateTime;

use crate::store::{Result, Store};

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
    let decision = |result, key_id: Option<String>| Ok(Decision { result, key_id });
    if key_format::check(presented).is_err() {
        return decision(VerifyResult::Malformed, None);
    }
    let Some(key) = store
        .key_by_verifier(&key_format::verifier(presented))
        .await?
    else {
        return decision(VerifyResult::NotFound, None);
    };
    if !key.active {
        return decision(VerifyResult::Disabled, Some(key.id));
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return decision(VerifyResult::Expired, Some(key.id));
    }
    let grant = Grant {
        access: key.access,
        allow_unbind: key.allow_unbind,
        scopes: key.scopes.as_ref(),
    };
    match access::decide(&grant, request) {
        Ok(()) => decision(VerifyResult::Valid, Some(key.id)),
        Err(_) => decision(VerifyResult::Forbidden, Some(key.id)),
    }
}
