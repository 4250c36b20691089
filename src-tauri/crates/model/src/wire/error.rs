//! The error body of every 4xx and 5xx answer: `{ "kind", "message" }`, so a
//! client branches on `kind`, never on the message text.

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The body is not JSON (400).
    MalformedJson,
    /// JSON of the wrong shape: an unknown or missing field, a wrong type, a
    /// value outside the rules (400 for a query, 422 for a body).
    InvalidRequest,
    /// The body is larger than the endpoint accepts (413).
    TooLarge,
    /// The body is not declared as `application/json` (415).
    UnsupportedMediaType,
    /// No sync token, or one that is unknown or revoked (401).
    Unauthorized,
    /// Too many failed verifications from this address; see `Retry-After` (429).
    RateLimited,
    /// The request contradicts what the server holds, e.g. an idempotency id
    /// reused for a different change (409).
    Conflict,
    /// No such endpoint (404).
    NotFound,
    /// The endpoint exists but not for this method (405).
    MethodNotAllowed,
    /// The body did not arrive, or the answer was not ready, within the
    /// server's bounds (408): send the request again. A push cut this way may
    /// still have been applied; its replay answers the stored results.
    Timeout,
    /// The server could not read or write its database (500 or 503).
    Storage,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    /// For a person: what went wrong and what to do. Never holds a key or a token.
    pub message: String,
}
