//! The HTTP API: routes, handlers and their extractors, and the OpenAPI
//! document generated from the same handler annotations and wire types.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keyward_model::wire::{
    paths, AuditHead, ErrorBody, ErrorKind, PullQuery, PullResponse, PushRequest, PushResponse,
    VerifyRequest, VerifyResponse, PULL_DEFAULT_LIMIT, PULL_MAX_LIMIT, PUSH_MAX_BYTES,
    PUSH_MAX_CHANGES, VERIFY_MAX_BYTES,
};
use keyward_model::{key_format, VerifyResult};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;

use crate::authorize::{authorize, ResourceRule};
use crate::client_addr::TrustedProxies;
use crate::error::ApiError;
use crate::last_used::LastUsed;
use crate::metrics::Metrics;
use crate::rate_limit::FailureBudget;
use crate::store::{Store, SyncClient};
use crate::verify::{verify_key, Decision};

/// How long a request and its connection may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request's body must have arrived this long after the request began (else 408).
    pub body: Duration,
    /// A request must be answered within this (else 408).
    pub request: Duration,
    /// A connection on which no byte moved either way for this long is
    /// closed (an idle keep-alive, a half-open peer). Longer than `request`,
    /// so a request being worked on is answered first.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            body: Duration::from_secs(30),
            request: Duration::from_secs(60),
            idle: Duration::from_secs(90),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub last_used: Arc<LastUsed>,
    pub limiter: Arc<dyn FailureBudget>,
    pub timeouts: Timeouts,
    pub trusted_proxies: Arc<TrustedProxies>,
    /// How `/v1/authorize` maps a forwarded path to a resource.
    pub authorize: Arc<ResourceRule>,
    pub metrics: Arc<Metrics>,
    /// Set when the instance starts stopping: `/readyz` answers 503.
    pub draining: Arc<AtomicBool>,
    openapi: Arc<String>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        last_used: Arc<LastUsed>,
        limiter: Arc<dyn FailureBudget>,
    ) -> AppState {
        let openapi = ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into());
        AppState {
            store,
            last_used,
            limiter,
            timeouts: Timeouts::default(),
            trusted_proxies: Arc::default(),
            authorize: Arc::default(),
            metrics: Arc::default(),
            draining: Arc::default(),
            openapi: Arc::new(openapi),
        }
    }

    /// Why this instance should not take requests now, if it should not.
    async fn ready(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("this instance is stopping: send requests to another");
        }
        self.store
            .check()
            .await
            .map_err(|_| "the database does not answer")
    }
}

pub fn router(state: AppState) -> Router {
    routes(state, false)
}

/// `POST /bench/noop`: a do-nothing handler behind the same layers, body
/// limit and JSON extraction as `/v1/verify`, so a benchmark can tell what
/// verification costs above the stack. Mounted only when a benchmark asks
/// (`ServerOptions::bench_noop_route`); never by the binary.
pub const BENCH_NOOP: &str = "/bench/noop";

/// The router, with [`BENCH_NOOP`] when `bench_noop` is set.
pub(crate) fn routes(state: AppState, bench_noop: bool) -> Router {
    let mut routes = Router::new().route(
        paths::VERIFY,
        post(verify).layer(DefaultBodyLimit::max(VERIFY_MAX_BYTES)),
    );
    if bench_noop {
        routes = routes.route(
            BENCH_NOOP,
            post(bench_noop_handler).layer(DefaultBodyLimit::max(VERIFY_MAX_BYTES)),
        );
    }
    routes
        .route(
            paths::PUSH,
            post(push).layer(DefaultBodyLimit::max(PUSH_MAX_BYTES)),
        )
        .route(paths::PULL, get(pull))
        .route(paths::AUTHORIZE, get(authorize))
        .route(
            paths::AUDIT,
            get(audit_head)
                .post(record_audit_head)
                .layer(DefaultBodyLimit::max(VERIFY_MAX_BYTES)),
        )
        .route(paths::HEALTH, get(healthz))
        .route(paths::READY, get(readyz))
        .route(paths::METRICS, get(metrics))
        .route(paths::OPENAPI, get(openapi))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "no such endpoint: see /openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorKind::MethodNotAllowed,
                "this endpoint does not take that method: see /openapi.json",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), bound_in_time))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// When a request's body must have arrived, for [`WireJson`].
#[derive(Debug, Clone, Copy)]
struct BodyDeadline(tokio::time::Instant);

/// Sets the body deadline and answers 408 for a request not answered in time.
async fn bound_in_time(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let timeouts = state.timeouts;
    request
        .extensions_mut()
        .insert(BodyDeadline(tokio::time::Instant::now() + timeouts.body));
    match tokio::time::timeout(timeouts.request, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout(format!(
            "no answer within {:?}: send the request again (a push that was applied meanwhile answers its stored results)",
            timeouts.request
        ))
        .into_response(),
    }
}

/// The address a request comes from (see `client_addr.rs`), for handlers.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: as `log_request` settled it, else the peer's.
pub(crate) fn client_ip(peer: SocketAddr, client: Option<axum::Extension<ClientAddr>>) -> IpAddr {
    client.map_or(peer.ip(), |axum::Extension(ClientAddr(ip))| ip)
}

/// What every verification does with its decision: a VALID use is recorded
/// and never refused (other clients' failures do not lock a valid key out); a
/// failure is charged to the client's address, and answered 429 instead of its
/// result once that address has failed too often.
pub(crate) async fn settle(
    state: &AppState,
    client: IpAddr,
    decision: &Decision,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    state.metrics.verification(decision.result);
    if decision.result == VerifyResult::Valid {
        if let Some(id) = &decision.key_id {
            state.last_used.record(id, now);
        }
        return Ok(());
    }
    if let Err(wait) = state.limiter.charge(client).await {
        state.metrics.rate_limited();
        return Err(ApiError::rate_limited(
            wait.as_secs_f64().ceil().max(1.0) as u64
        ));
    }
    Ok(())
}

/// One line per request: method, route, status, error kind, client address
/// and duration. Never a body, a query, a header or an unknown path (which
/// might hold a key). Also settles the client's address for the handlers.
async fn log_request(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = [
        paths::VERIFY,
        paths::PUSH,
        paths::PULL,
        paths::AUDIT,
        paths::AUTHORIZE,
        paths::HEALTH,
        paths::READY,
        paths::METRICS,
        paths::OPENAPI,
    ]
    .into_iter()
    .find(|known| *known == request.uri().path())
    .unwrap_or("(other path)");
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| {
            state
                .trusted_proxies
                .client_address(info.0.ip(), request.headers())
        });
    if let Some(client) = client {
        request.extensions_mut().insert(ClientAddr(client));
    }
    let response = next.run(request).await;
    state
        .metrics
        .request(route, method.as_str(), response.status().as_u16());
    let kind = response
        .extensions()
        .get::<ErrorKind>()
        .map(|kind| format!(" {kind:?}"))
        .unwrap_or_default();
    let client = client.map(|ip| format!(" from {ip}")).unwrap_or_default();
    tracing::info!(
        "{method} {route} {}{kind}{client} in {} us",
        response.status().as_u16(),
        started.elapsed().as_micros()
    );
    response
}

/// `Json` whose rejections answer `{kind, message}`.
pub struct WireJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WireJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let deadline = request.extensions().get::<BodyDeadline>().copied();
        let read = Json::<T>::from_request(request, state);
        let parsed = match deadline {
            Some(BodyDeadline(at)) => tokio::time::timeout_at(at, read).await.map_err(|_| {
                ApiError::timeout("the request body did not arrive in time: send it again")
            })?,
            None => read.await,
        };
        parsed
            .map(|Json(value)| WireJson(value))
            .map_err(ApiError::from)
    }
}

/// `Query` whose rejections answer `{kind, message}`.
pub struct WireQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for WireQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| WireQuery(value))
            .map_err(ApiError::from)
    }
}

/// The account and desktop of the request's sync token (`Authorization:
/// Bearer …`). Only the token's SHA-256 is looked up; the token is never
/// stored or logged.
pub struct SyncToken(pub SyncClient);

impl FromRequestParts<AppState> for SyncToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let missing =
            || ApiError::unauthorized("missing sync token: send `Authorization: Bearer <token>`");
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(missing)?;
        let (scheme, token) = value
            .to_str()
            .ok()
            .and_then(|text| text.split_once(' '))
            .ok_or_else(missing)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(missing());
        }
        let hash = key_format::verifier(token);
        let client = state.store.client_by_token(&hash).await?;
        client.map(SyncToken).ok_or_else(|| {
            ApiError::unauthorized(
                "unknown or revoked sync token: ask the server's administrator for a new one",
            )
        })
    }
}

/// Reads and parses the JSON body as `/v1/verify` does, then answers `{}`.
async fn bench_noop_handler(
    State(_): State<AppState>,
    ConnectInfo(_): ConnectInfo<SocketAddr>,
    WireJson(_): WireJson<serde_json::Value>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({}))
}

#[utoipa::path(
    post, path = "/v1/verify", tag = "devices",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "the verification result (VALID or why not)", body = VerifyResponse),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 413, description = "the body is too large", body = ErrorBody),
        (status = 408, description = "the body did not arrive, or the answer was not ready, in time", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "unknown or missing fields, wrong types, an invalid resource", body = ErrorBody),
        (status = 429, description = "too many failed verifications from this address (see Retry-After)", body = ErrorBody,
         headers(("Retry-After" = u64, description = "seconds to wait"))),
    )
)]
async fn verify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    client: Option<axum::Extension<ClientAddr>>,
    WireJson(body): WireJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let request = body
        .request()
        .map_err(|err| ApiError::invalid(err.to_string()))?;
    let now = time::OffsetDateTime::now_utc();
    // One lookup by primary key on a pooled reader connection (tens of µs):
    // run here rather than hopping to the blocking pool, which would cost
    // more than the lookup itself.
    let decision = verify_key(state.store.as_ref(), body.key.expose(), &request, now).await?;
    settle(&state, client_ip(peer, client), &decision, now).await?;
    Ok(Json(VerifyResponse {
        result: decision.result,
        key_id: decision.key_id,
    }))
}

#[utoipa::path(
    post, path = "/v1/sync/push", tag = "sync",
    request_body = PushRequest,
    security(("sync_token" = [])),
    responses(
        (status = 200, description = "one result per change, in order; a replayed idempotency id answers its first result", body = PushResponse),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked sync token", body = ErrorBody),
        (status = 408, description = "the body did not arrive, or the answer was not ready, in time; a push applied meanwhile answers its stored results when sent again", body = ErrorBody),
        (status = 409, description = "an idempotency id reused for a different change, or an id of another account; nothing was applied", body = ErrorBody),
        (status = 413, description = "too large, or more changes than one push may carry", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "a change of the wrong shape or against the rules; nothing was applied", body = ErrorBody),
    )
)]
async fn push(
    State(state): State<AppState>,
    SyncToken(client): SyncToken,
    WireJson(body): WireJson<PushRequest>,
) -> Result<Json<PushResponse>, ApiError> {
    if body.changes.len() > PUSH_MAX_CHANGES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!(
                "{} changes in one push: send at most {PUSH_MAX_CHANGES} at a time",
                body.changes.len()
            ),
        ));
    }
    let started = Instant::now();
    let results = state.store.push(&client, &body.changes).await?;
    state.metrics.pushed(results.len(), started.elapsed());
    Ok(Json(PushResponse { results }))
}

#[utoipa::path(
    get, path = "/v1/sync/pull", tag = "sync",
    params(PullQuery),
    security(("sync_token" = [])),
    responses(
        (status = 200, description = "records changed since the cursor, in revision order, last-used times included; with `origin`, the merges in this page's revisions that overrode that desktop's pushed values", body = PullResponse),
        (status = 400, description = "a bad query", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked sync token", body = ErrorBody),
        (status = 408, description = "the answer was not ready in time", body = ErrorBody),
    )
)]
async fn pull(
    State(state): State<AppState>,
    SyncToken(client): SyncToken,
    WireQuery(query): WireQuery<PullQuery>,
) -> Result<Json<PullResponse>, ApiError> {
    let limit = query.limit.unwrap_or(PULL_DEFAULT_LIMIT);
    if limit == 0 || limit > PULL_MAX_LIMIT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            format!("limit must be from 1 to {PULL_MAX_LIMIT}"),
        ));
    }
    // Uses answered before this pull began are written before it reads.
    state.last_used.flush(&state.store).await?;
    // `query.origin` is the desktop's claim: the token says which desktop it is.
    let started = Instant::now();
    let changes = state.store.pull(&client, query.since, limit).await?;
    state
        .metrics
        .pulled(changes.changes.len(), started.elapsed());
    Ok(Json(changes))
}

#[utoipa::path(
    get, path = "/v1/sync/audit", tag = "sync",
    security(("sync_token" = [])),
    responses(
        (status = 200, description = "the highest audit head this token's desktop has shown, or null", body = Option<AuditHead>),
        (status = 401, description = "missing, unknown or revoked sync token", body = ErrorBody),
    )
)]
async fn audit_head(
    State(state): State<AppState>,
    SyncToken(client): SyncToken,
) -> Result<Json<Option<AuditHead>>, ApiError> {
    let head = state.store.audit_head(&client).await?;
    Ok(Json(head))
}

#[utoipa::path(
    post, path = "/v1/sync/audit", tag = "sync",
    request_body = AuditHead,
    security(("sync_token" = [])),
    responses(
        (status = 200, description = "the head now recorded for this token's desktop: the one sent, unless a higher one was recorded before", body = AuditHead),
        (status = 401, description = "missing, unknown or revoked sync token", body = ErrorBody),
        (status = 422, description = "not a sequence number and a 64-hex-digit hash", body = ErrorBody),
    )
)]
async fn record_audit_head(
    State(state): State<AppState>,
    SyncToken(client): SyncToken,
    WireJson(head): WireJson<AuditHead>,
) -> Result<Json<AuditHead>, ApiError> {
    head.check().map_err(ApiError::invalid)?;
    let kept = state.store.record_audit_head(&client, &head).await?;
    Ok(Json(kept))
}

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "the process is alive (liveness: it says nothing of the database)"),
    )
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "this instance takes requests: not draining, and its database answers"),
        (status = 503, description = "draining (stopping), or the database does not answer", body = ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response(),
        Err(why) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Storage, why).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let ready = state.ready().await.is_ok();
    let mut response = state
        .metrics
        .render(
            state.store.pool_status(),
            state.store.grants_status(),
            ready,
        )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn openapi(State(state): State<AppState>) -> Response {
    let mut response = state.openapi.as_str().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

struct SyncTokenScheme;

impl utoipa::Modify for SyncTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("a sync token from `keyward-server token create --account NAME`".into());
        components.add_security_scheme("sync_token", SecurityScheme::Http(bearer));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward remote API", description = "Device key verification and desktop sync for Keyward."),
    paths(verify, crate::authorize::authorize, push, pull, audit_head, record_audit_head, healthz, readyz),
    components(schemas(ErrorBody)),
    modifiers(&SyncTokenScheme)
)]
pub struct ApiDoc;

/// The methods the router answers, for a test that compares it with the document.
pub const ROUTES: [(Method, &str); 8] = [
    (Method::POST, paths::VERIFY),
    (Method::GET, paths::AUTHORIZE),
    (Method::POST, paths::PUSH),
    (Method::GET, paths::PULL),
    (Method::GET, paths::AUDIT),
    (Method::POST, paths::AUDIT),
    (Method::GET, paths::HEALTH),
    (Method::GET, paths::READY),
];
