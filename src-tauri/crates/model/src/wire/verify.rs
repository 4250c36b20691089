//! `POST /v1/verify`: a device presents a key for a request and learns whether
//! it may. The key travels only in this body, never in a URL.

use std::fmt;

use crate::{Method, Request, SecretString, VerifyResult};
use serde::{Deserialize, Deserializer, Serialize};

/// What a device sends. Unknown fields are refused, so a typo such as
/// `"methd"` is an error rather than a silently different request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The full key, e.g. `kw_…` (only ever in a request body).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: PresentedKey,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::method))]
    pub method: Method,
    /// The resource the request is for, such as `devices`, `sessions` or `passings`.
    pub resource: String,
    /// Unbinding a device (a DELETE on `devices` always is one).
    #[serde(default)]
    pub unbind: bool,
}

impl VerifyRequest {
    /// The request in the model's terms; refuses an unknown resource shape
    /// or an unbind that is not a DELETE on devices.
    pub fn request(&self) -> crate::Result<Request> {
        Request::new(self.method, &self.resource, self.unbind)
    }
}

/// A presented key: redacted in `Debug`, zeroed on drop, never serialized.
pub struct PresentedKey(SecretString);

impl PresentedKey {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for PresentedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| PresentedKey(SecretString::new(text)))
    }
}

/// The answer: the result in the model's terms and, once the key was found,
/// its id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    #[serde(with = "result_text")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::wire::schema::verify_result))]
    pub result: VerifyResult,
    pub key_id: Option<String>,
}

/// Every verification result, for parsing and for the OpenAPI enum.
pub(crate) fn all_results() -> [VerifyResult; 6] {
    use VerifyResult::*;
    // The match makes the compiler point here when the model adds a result.
    match Valid {
        Valid | Malformed | NotFound | Disabled | Expired | Forbidden => {}
    }
    [Valid, Malformed, NotFound, Disabled, Expired, Forbidden]
}

mod result_text {
    use crate::VerifyResult;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        result: &VerifyResult,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        result.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<VerifyResult, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::all_results()
            .into_iter()
            .find(|result| result.as_str() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown verification result {text:?}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_round_trips_every_result() {
        for result in all_results() {
            let response = VerifyResponse {
                result,
                key_id: Some("k1".into()),
            };
            let text = serde_json::to_string(&response).unwrap();
            assert!(text.contains(result.as_str()));
            assert_eq!(
                serde_json::from_str::<VerifyResponse>(&text).unwrap(),
                response
            );
        }
    }

    #[test]
    fn a_request_refuses_unknown_fields_and_never_prints_the_key() {
        let err = serde_json::from_str::<VerifyRequest>(
            r#"{"key":"kw_x","method":"GET","resource":"devices","methd":"GET"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let request: VerifyRequest =
            serde_json::from_str(r#"{"key":"kw_secret","method":"GET","resource":"devices"}"#)
                .unwrap();
        assert!(!request.unbind);
        assert!(!format!("{request:?}").contains("kw_secret"));
        assert_eq!(request.key.expose(), "kw_secret");
    }
}
