//! Every failed request answers `{ kind, message }` with a 4xx or 5xx status.
//! Messages pass through [`redact`], so a key echoed by a parser (a key sent
//! as the `resource`, say) never leaves the server in a response.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyward_model::wire::{ErrorBody, ErrorKind, PARTIAL_PERMISSIONS};

use crate::store::StoreError;

const MESSAGE_MAX_CHARS: usize = 300;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    /// Seconds, for a 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::InvalidRequest,
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message)
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimited,
                format!(
                    "too many failed verifications from this address: try again in {retry_after} s"
                ),
            )
        }
    }

    /// 408: the body did not arrive, or the answer was not ready, in time.
    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, ErrorKind::Timeout, message)
    }

    pub fn storage(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Storage,
            message,
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Invalid(message) => ApiError::invalid(message),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, ErrorKind::Conflict, message)
            }
            StoreError::NotFound(message) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, message)
            }
            StoreError::Storage(_) => {
                tracing::error!("{err}");
                ApiError::storage("the server could not use its database: try again later")
            }
            StoreError::Unavailable(_) => {
                tracing::warn!("{err}");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorKind::Storage,
                        "the server's database cannot be reached right now: nothing was changed — try again",
                    )
                }
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::MalformedJson, text)
            }
            // Permissions are one unit: a patch of part of them is a bad request.
            JsonRejection::JsonDataError(_) if text.contains(PARTIAL_PERMISSIONS) => {
                ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest, text)
            }
            JsonRejection::JsonDataError(_) => ApiError::invalid(text),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorKind::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::TooLarge,
                "the body is larger than this endpoint accepts",
            ),
            other => ApiError::new(other.status(), ErrorKind::InvalidRequest, text),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            rejection.body_text(),
        )
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        tracing::error!("a storage task failed: {err}");
        ApiError::storage("the server could not use its database: try again later")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            kind: self.kind,
            message: redact(&self.message),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // What is left of a late body is not worth reading: the connection ends here.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The log line of the request picks the kind up from here, never the message.
        response.extensions_mut().insert(self.kind);
        response
    }
}

/// Replaces anything shaped like a key with `<redacted>` (the model's one
/// rule, `key_format::redact`) and bounds the length.
pub fn redact(text: &str) -> String {
    let out = keyward_model::key_format::redact(text);
    if out.chars().count() > MESSAGE_MAX_CHARS {
        return out.chars().take(MESSAGE_MAX_CHARS).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_are_redacted_from_messages() {
        let key = keyward_model::key_format::generate("kw").unwrap();
        let token = keyward_model::key_format::generate("kwsync").unwrap();
        let message = format!(
            "invalid resource \"{}\" and `{}`: use lowercase letters",
            key.secret.expose(),
            token.secret.expose()
        );
        let redacted = redact(&message);
        assert!(!redacted.contains(key.secret.expose()));
        assert!(!redacted.contains(token.secret.expose()));
        assert_eq!(
            redacted,
            "invalid resource \"<redacted>\" and `<redacted>`: use lowercase letters"
        );
        assert_eq!(
            redact("unknown field `methd`, expected one of `key`"),
            "unknown field `methd`, expected one of `key`"
        );
        assert_eq!(
            redact(&"x".repeat(1000)).chars().count(),
            MESSAGE_MAX_CHARS + 1
        );
    }
}
