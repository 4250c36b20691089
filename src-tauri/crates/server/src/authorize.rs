//! `GET /v1/authorize`: forward authentication for the API a gateway protects.
//! nginx (`auth_request`), Caddy (`forward_auth`) and Traefik (`forwardAuth`)
//! ask here before passing a request on. The key comes from `X-API-Key` or
//! `Authorization: Bearer`, the method and path from the gateway's forwarded
//! headers, the path becomes a resource by a [`ResourceRule`]; the answer is
//! the same verification as `/v1/verify`'s (`verify.rs`), its uses recorded
//! and its failures charged the same way (`api::settle`). The key is never
//! echoed: not in the answer, not in the log.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyward_model::access::validate_resource;
use keyward_model::wire::{ErrorBody, ErrorKind, VerifyResponse};
use keyward_model::{Method, Request, VerifyResult};

use crate::api::{client_ip, settle, AppState, ClientAddr};
use crate::error::ApiError;
use crate::verify::{identify, verify_key, Decision};

/// The key's id on a 204, for the gateway to pass to the API behind it.
pub const KEY_ID_HEADER: &str = "x-keyward-key-id";
/// The verification result (`VALID`, `EXPIRED`, …) on 204, 401 and 403.
pub const RESULT_HEADER: &str = "x-keyward-result";
/// Where a key may come in: a header of its own, else the bearer token.
const API_KEY_HEADER: &str = "x-api-key";
/// The original request's method and URI as each gateway family forwards them:
/// Traefik and Caddy send `X-Forwarded-*`, nginx configurations `X-Original-*`.
const METHOD_HEADERS: [&str; 2] = ["x-forwarded-method", "x-original-method"];
const URI_HEADERS: [&str; 2] = ["x-forwarded-uri", "x-original-uri"];

/// How a request path names the resource it is for: the first path segment
/// after the prefix (`/api/devices/7` → `devices` with prefix `/api`), unless
/// a route maps the path's beginning to a resource of its own (the longest
/// route wins). A path outside the prefix, with dot segments or encoded
/// slashes or dots (which an API behind the gateway might resolve to another
/// resource), or whose segment is not a resource name maps to none: every
/// key is refused for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceRule {
    prefix: Vec<String>,
    /// (path segments, resource), longest first.
    routes: Vec<(Vec<String>, String)>,
}

impl ResourceRule {
    /// `prefix` such as `/api`; `routes` such as `/v2/readers=devices`
    /// (paths after the prefix).
    pub fn new(prefix: Option<&str>, routes: &[String]) -> Result<ResourceRule, String> {
        let prefix = match prefix {
            Some(prefix) => path_segments(prefix)
                .ok_or_else(|| format!("the prefix {prefix:?} is not a plain path such as /api"))?,
            None => Vec::new(),
        };
        let mut parsed = Vec::with_capacity(routes.len());
        for route in routes {
            let bad =
                || format!("the route {route:?} is not PATH=RESOURCE, e.g. /v2/readers=devices");
            let (path, resource) = route.split_once('=').ok_or_else(bad)?;
            let segments = path_segments(path)
                .filter(|s| !s.is_empty())
                .ok_or_else(bad)?;
            validate_resource(resource.trim()).map_err(|err| format!("route {route:?}: {err}"))?;
            parsed.push((segments, resource.trim().to_string()));
        }
        parsed.sort_by_key(|(segments, _)| std::cmp::Reverse(segments.len()));
        Ok(ResourceRule {
            prefix,
            routes: parsed,
        })
    }

    /// The resource a request URI (path and query, as forwarded) is for.
    pub fn resource(&self, uri: &str) -> Option<String> {
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let segments = path_segments(path)?;
        let rest = segments.strip_prefix(self.prefix.as_slice())?;
        let resource = self
            .routes
            .iter()
            .find(|(route, _)| rest.starts_with(route))
            .map(|(_, resource)| resource.as_str())
            .or_else(|| rest.first().map(String::as_str))?;
        validate_resource(resource).ok()?;
        Some(resource.to_string())
    }
}

/// The non-empty segments of an absolute path (`//` is one `/`, as gateways
/// merge them), or `None` when a segment is `.`/`..` or hides a dot, a slash,
/// a backslash or a `%` behind percent-encoding.
fn path_segments(path: &str) -> Option<Vec<String>> {
    if !path.starts_with('/') {
        return None;
    }
    let mut segments = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_decoded(segment)?;
        let ambiguous = decoded == "." || decoded == ".." || decoded.contains(['/', '\\']);
        if ambiguous || (decoded != segment && decoded.contains('%')) {
            return None;
        }
        segments.push(segment.to_string());
    }
    Some(segments)
}

fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A request the gateway should not have sent: its configuration needs fixing.
fn bad_request(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest, message)
}

/// The one value of `name`, if sent; two values (a client's and the
/// gateway's) or one that is not text cannot be believed.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad_request(format!(
            "{name} was sent more than once: the gateway must set it, replacing a client's"
        )));
    }
    value
        .to_str()
        .map(|text| Some(text.trim()))
        .map_err(|_| bad_request(format!("{name} is not plain text")))
}

/// The value of the forwarded header family that is present; both families
/// must agree when both are (a client can add the family its gateway does
/// not set, to pass for another request).
fn forwarded(headers: &HeaderMap, names: [&str; 2]) -> Result<String, ApiError> {
    let [first, second] = [single(headers, names[0])?, single(headers, names[1])?];
    match (first, second) {
        (Some(a), Some(b)) if a != b => Err(bad_request(format!(
            "{} and {} disagree: the gateway must set one and drop the other",
            names[0], names[1]
        ))),
        (Some(value), _) | (None, Some(value)) => Ok(value.to_string()),
        (None, None) => Err(bad_request(format!(
            "the gateway sent neither {} nor {}: see docs/gateways.md",
            names[0], names[1]
        ))),
    }
}

/// The presented key: `X-API-Key`, else a bearer token.
fn presented_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if let Some(key) = single(headers, API_KEY_HEADER)? {
        return Ok(Some(key.to_string()));
    }
    let Some(authorization) = single(headers, header::AUTHORIZATION.as_str())? else {
        return Ok(None);
    };
    Ok(authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_string()))
}

/// The answer to a gateway: 204 with the key's id, 403 for a key that may not
/// make this request, 401 for any other refusal; the result in a header and,
/// when refused, `{result, key_id}` as `/v1/verify` answers it.
fn answer(decision: Decision) -> Response {
    let result = HeaderValue::from_static(decision.result.as_str());
    let mut response = match decision.result {
        VerifyResult::Valid => StatusCode::NO_CONTENT.into_response(),
        refused => {
            let status = if refused == VerifyResult::Forbidden {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            let mut response =
                (status, Json(VerifyResponse::from(decision.clone()))).into_response();
            if status == StatusCode::UNAUTHORIZED {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static(RESULT_HEADER), result);
    if decision.result == VerifyResult::Valid {
        if let Some(id) = decision
            .key_id
            .and_then(|id| HeaderValue::try_from(id).ok())
        {
            headers.insert(HeaderName::from_static(KEY_ID_HEADER), id);
        }
    }
    response
}

impl From<Decision> for VerifyResponse {
    fn from(decision: Decision) -> VerifyResponse {
        VerifyResponse {
            result: decision.result,
            key_id: decision.key_id,
        }
    }
}

#[utoipa::path(
    get, path = "/v1/authorize", tag = "gateways",
    params(
        ("X-API-Key" = Option<String>, Header, description = "the key (or send it as `Authorization: Bearer <key>`)"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "the original request's method (Traefik, Caddy); or `X-Original-Method` (nginx)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original request's path and query (Traefik, Caddy); or `X-Original-URI` (nginx). Its first segment after the configured prefix is the resource, unless a configured route says otherwise"),
    ),
    responses(
        (status = 204, description = "VALID: let the request through",
         headers(("X-Keyward-Key-Id" = String, description = "the key's id, for the API behind the gateway"),
                 ("X-Keyward-Result" = String, description = "VALID"))),
        (status = 400, description = "the gateway did not forward the method and URI, or forwarded two that disagree", body = ErrorBody),
        (status = 401, description = "no key (an error body), or MALFORMED, NOT_FOUND, DISABLED or EXPIRED (the result)", body = VerifyResponse,
         headers(("X-Keyward-Result" = String, description = "the verification result"))),
        (status = 403, description = "FORBIDDEN: the key may not make this request (method, unbind, group scopes, or a path that names no resource)", body = VerifyResponse,
         headers(("X-Keyward-Result" = String, description = "FORBIDDEN"))),
        (status = 429, description = "too many failed verifications from this address (see Retry-After)", body = ErrorBody,
         headers(("Retry-After" = u64, description = "seconds to wait"))),
    )
)]
pub(crate) async fn authorize(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let method = forwarded(&headers, METHOD_HEADERS)?;
    let uri = forwarded(&headers, URI_HEADERS)?;
    let Some(key) = presented_key(&headers)? else {
        return Err(ApiError::unauthorized(
            "no key: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`",
        ));
    };
    let key = keyward_model::SecretString::new(key);
    // An unknown method or a path that names no resource: no key may make
    // the request, but the key is still verified first, as for any request.
    let request = method
        .parse::<Method>()
        .ok()
        .zip(state.authorize.resource(&uri))
        .and_then(|(method, resource)| Request::new(method, &resource, false).ok());
    let now = time::OffsetDateTime::now_utc();
    let store = state.store.as_ref();
    let decision = match &request {
        Some(request) => verify_key(store, key.expose(), request, now).await?,
        None => match identify(store, key.expose(), now).await? {
            Ok(found) => Decision {
                result: VerifyResult::Forbidden,
                key_id: Some(found.id),
            },
            Err(refused) => refused,
        },
    };
    settle(&state, client_ip(peer, client), &decision, now).await?;
    Ok(answer(decision))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: Option<&str>, routes: &[&str]) -> ResourceRule {
        let routes: Vec<String> = routes.iter().map(|r| r.to_string()).collect();
        ResourceRule::new(prefix, &routes).unwrap()
    }

    #[test]
    fn the_first_segment_after_the_prefix_is_the_resource() {
        let plain = rule(None, &[]);
        assert_eq!(plain.resource("/devices/7?x=1").as_deref(), Some("devices"));
        assert_eq!(plain.resource("//passings//").as_deref(), Some("passings"));
        assert_eq!(plain.resource("/"), None);
        assert_eq!(plain.resource("devices"), None, "not a path");
        assert_eq!(plain.resource("/Devices"), None, "not a resource name");
        let api = rule(Some("/api/"), &[]);
        assert_eq!(api.resource("/api/sessions/1").as_deref(), Some("sessions"));
        assert_eq!(api.resource("/sessions/1"), None, "outside the prefix");
        assert_eq!(
            api.resource("/apis/sessions"),
            None,
            "a prefix is whole segments"
        );
    }

    #[test]
    fn routes_map_paths_to_resources_longest_first() {
        let mapped = rule(Some("/api"), &["/v2=sessions", "/v2/readers=devices"]);
        assert_eq!(
            mapped.resource("/api/v2/readers/9").as_deref(),
            Some("devices")
        );
        assert_eq!(mapped.resource("/api/v2/laps").as_deref(), Some("sessions"));
        assert_eq!(
            mapped.resource("/api/passings").as_deref(),
            Some("passings")
        );
        for bad in [
            "/v2",
            "v2=devices",
            "/v2=Devices",
            "/=devices",
            "/../x=devices",
        ] {
            assert!(
                ResourceRule::new(None, &[bad.to_string()]).is_err(),
                "{bad}"
            );
        }
        assert!(ResourceRule::new(Some("api"), &[]).is_err());
    }

    #[test]
    fn paths_an_api_could_resolve_elsewhere_name_no_resource() {
        let plain = rule(None, &[]);
        for tricky in [
            "/sessions/../devices",
            "/sessions/./x",
            "/sessions/%2e%2E/devices",
            "/sessions%2fdevices",
            "/sessions/x%5c..%5cdevices",
            "/sessions/%252e%252e/devices",
            "/sessions/%zz",
        ] {
            assert_eq!(plain.resource(tricky), None, "{tricky}");
        }
        assert_eq!(
            plain.resource("/sessions/a%20b").as_deref(),
            Some("sessions")
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarded_headers_of_both_families_must_agree() {
        let nginx = headers(&[("x-original-method", "POST")]);
        assert_eq!(forwarded(&nginx, METHOD_HEADERS).unwrap(), "POST");
        let traefik = headers(&[("x-forwarded-method", "GET")]);
        assert_eq!(forwarded(&traefik, METHOD_HEADERS).unwrap(), "GET");
        let injected = headers(&[("x-original-method", "POST"), ("x-forwarded-method", "GET")]);
        assert!(forwarded(&injected, METHOD_HEADERS).is_err());
        let twice = headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-method", "GET"),
        ]);
        assert!(forwarded(&twice, METHOD_HEADERS).is_err());
        assert!(forwarded(&headers(&[]), URI_HEADERS).is_err());
    }

    #[test]
    fn the_key_comes_from_x_api_key_else_a_bearer_token() {
        let both = headers(&[("x-api-key", "kw_a"), ("authorization", "Bearer kw_b")]);
        assert_eq!(presented_key(&both).unwrap().as_deref(), Some("kw_a"));
        let bearer = headers(&[("authorization", "bearer  kw_b ")]);
        assert_eq!(presented_key(&bearer).unwrap().as_deref(), Some("kw_b"));
        let basic = headers(&[("authorization", "Basic a3c6eA==")]);
        assert_eq!(presented_key(&basic).unwrap(), None);
        assert_eq!(presented_key(&headers(&[])).unwrap(), None);
    }
}
