//! The sync client: pushes an account's outbox to its remote, then pulls what
//! changed there, and applies it to the vault.
//!
//! Nothing here holds the vault while it waits on the network: each step that
//! reads or writes the vault borrows it through [`VaultAccess`] for just that
//! step, so the desktop stays responsive during a sync. A failure at any point
//! leaves the outbox as the last acknowledged push left it; the next sync goes
//! on from there, and idempotency ids make a resent change apply once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use keyward_core::{
    OutboxEntry, Pulled, PulledRecord, RemoteGroup, RemoteKey, RemoteSession, SecretString, Vault,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::{
    paths, Change, ChangeAction, Conflict, Entity, ErrorBody, GroupFields, KeyFields, Op,
    PullResponse, PulledChange, PushRequest, PushResponse, PULL_MAX_LIMIT,
};

/// Changes per push: well under the server's limits, and small enough that a
/// cut connection costs little to resend.
const PUSH_BATCH: usize = 2_000;
/// The largest answer the client reads.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// What one sync did, as `keyward sync --json` prints it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Changes of this vault the remote now holds.
    pub pushed: u64,
    /// Records that changed here because of the remote.
    pub pulled: u64,
    /// Fields changed on both sides, and how each merged.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The remote could not be reached or failed on its side; nothing is lost.
    #[error("remote unreachable — {pending} changes kept for the next sync ({detail})")]
    Unreachable { pending: u64, detail: String },
    /// The remote refused the sync token.
    #[error(
        "the remote refused the sync token ({0}) — set a valid one with `keyward remote set URL`"
    )]
    Unauthorized(String),
    /// The remote refused the changes themselves; they stay in the outbox.
    #[error("the remote refused the changes: {message} — {pending} changes kept")]
    Refused { pending: u64, message: String },
    /// The vault was locked while the sync ran; what was acknowledged is
    /// recorded, the rest stays queued.
    #[error("the vault was locked during the sync — unlock it and sync again; nothing is lost")]
    VaultLocked,
    #[error(transparent)]
    Vault(#[from] keyward_core::Error),
}

/// Lends the vault to the sync client one step at a time.
pub trait VaultAccess {
    fn with_vault<T>(
        &self,
        work: impl FnOnce(&mut Vault) -> keyward_core::Result<T>,
    ) -> Result<T, SyncError>;
}

impl VaultAccess for std::cell::RefCell<&mut Vault> {
    fn with_vault<T>(
        &self,
        work: impl FnOnce(&mut Vault) -> keyward_core::Result<T>,
    ) -> Result<T, SyncError> {
        Ok(work(&mut self.borrow_mut())?)
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// For connecting, and for each request as a whole.
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// A PEM file of extra certificate authorities to trust (a private CA).
    pub extra_roots: Option<PathBuf>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            extra_roots: std::env::var_os("KEYWARD_REMOTE_CA").map(PathBuf::from),
        }
    }
}

/// Where the remote is, taken apart.
struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    base_path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
        let tls = scheme.eq_ignore_ascii_case("https");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or("unclosed [")?;
                (host.to_string(), after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            },
        };
        let port = match port {
            Some(port) => port.parse().map_err(|_| "bad port")?,
            None if tls => 443,
            None => 80,
        };
        Ok(Endpoint {
            tls,
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why one request failed.
enum Failure {
    /// Connecting, sending or receiving failed, or took too long.
    Transport(String),
    /// The remote answered with an error.
    Status(StatusCode, String),
}

struct Http {
    endpoint: Endpoint,
    /// Zeroed when the sync ends, like every secret of the vault.
    token: SecretString,
    tls: Option<tokio_rustls::TlsConnector>,
    options: SyncOptions,
}

fn tls_connector(extra_roots: Option<&PathBuf>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path)
            .map_err(|err| format!("cannot read the CA file {}: {err}", path.display()))?;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|err| format!("the CA file {}: {err}", path.display()))?;
            roots
                .add(cert)
                .map_err(|err| format!("the CA file {}: {err}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|err| err.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl Http {
    fn new(session: &RemoteSession, options: &SyncOptions) -> Result<Http, String> {
        let endpoint = Endpoint::parse(&session.url)?;
        let tls = match endpoint.tls {
            true => Some(tls_connector(options.extra_roots.as_ref())?),
            false => None,
        };
        Ok(Http {
            endpoint,
            token: session.token.clone(),
            tls,
            options: options.clone(),
        })
    }

    /// One request, blocking: run on a thread and a runtime of its own (both
    /// made and dropped there), so the client works the same whether its
    /// caller is inside an async runtime or not.
    fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, Failure> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|err| {
                            Failure::Transport(format!("cannot start the sync client: {err}"))
                        })?;
                    runtime.block_on(self.request(method, path_and_query, body))
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// One request on a connection of its own (a cut connection never
    /// poisons the next request); the answer's status and body.
    async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, Failure> {
        let work = async {
            let address = self.endpoint.authority();
            let stream = tokio::time::timeout(
                self.options.connect_timeout,
                TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port)),
            )
            .await
            .map_err(|_| Failure::Transport(format!("no answer from {address}")))?
            .map_err(|err| Failure::Transport(format!("cannot connect to {address}: {err}")))?;
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => self.exchange(stream, method, path_and_query, body).await,
                Some(connector) => {
                    let name = rustls_pki_types::ServerName::try_from(self.endpoint.host.clone())
                        .map_err(|err| Failure::Transport(format!("host name: {err}")))?;
                    let stream = connector.connect(name, stream).await.map_err(|err| {
                        Failure::Transport(format!("TLS with {address} failed: {err}"))
                    })?;
                    self.exchange(stream, method, path_and_query, body).await
                }
            }
        };
        tokio::time::timeout(self.options.request_timeout, work)
            .await
            .map_err(|_| Failure::Transport("the remote took too long to answer".into()))?
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        &self,
        stream: S,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, Failure> {
        let transport = |err: hyper::Error| Failure::Transport(err.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(transport)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.endpoint.base_path))
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            )
            .header(hyper::header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|err| Failure::Transport(err.to_string()))?;
        let response = sender.send_request(request).await.map_err(transport)?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|err| Failure::Transport(format!("the answer was cut: {err}")))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|body| body.message)
            .unwrap_or_else(|_| status.to_string());
        Err(Failure::Status(status, message))
    }
}

fn wire_change(entry: &OutboxEntry, origin: Uuid) -> keyward_core::Result<Change> {
    let damaged = |what: &str| {
        keyward_core::Error::VaultDamaged(format!("outbox entry {}: {what}", entry.seq))
    };
    let id = entry
        .record_id
        .parse()
        .map_err(|_| damaged("bad record id"))?;
    let fields = || {
        entry
            .fields
            .clone()
            .ok_or_else(|| damaged("an upsert without fields"))
    };
    let action = match (entry.entity.as_str(), entry.op.as_str()) {
        ("group", "upsert") => ChangeAction::UpsertGroup {
            id,
            fields: serde_json::from_value::<GroupFields>(fields()?)
                .map_err(|err| damaged(&err.to_string()))?,
        },
        ("key", "upsert") => ChangeAction::UpsertKey {
            id,
            fields: Box::new(
                serde_json::from_value::<KeyFields>(fields()?)
                    .map_err(|err| damaged(&err.to_string()))?,
            ),
        },
        ("group", "delete") => ChangeAction::DeleteGroup { id },
        ("key", "delete") => ChangeAction::DeleteKey { id },
        _ => return Err(damaged("unknown entity or operation")),
    };
    Ok(Change {
        idempotency_id: entry
            .idempotency_id
            .parse()
            .map_err(|_| damaged("bad idempotency id"))?,
        at: entry.at,
        origin,
        base_revision: entry.base_revision,
        action,
    })
}

fn core_record(change: PulledChange) -> Option<Pulled> {
    let record = match (change.entity, change.op, change.group, change.key) {
        (Entity::Group, Op::Delete, _, _) => PulledRecord::GroupDeleted,
        (Entity::Key, Op::Delete, _, _) => PulledRecord::KeyDeleted,
        (Entity::Group, Op::Upsert, Some(group), _) => PulledRecord::Group(RemoteGroup {
            name: group.name,
            description: group.description,
            scopes: group.scopes,
        }),
        (Entity::Key, Op::Upsert, _, Some(key)) => PulledRecord::Key(Box::new(RemoteKey {
            name: key.name,
            description: key.description,
            access: key.access,
            allow_unbind: key.allow_unbind,
            groups: key.groups.iter().map(Uuid::to_string).collect(),
            status: key.status,
            hint: key.hint,
            verifier: key.verifier.0,
            created_at: key.created_at,
            created_by: key.created_by,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
        })),
        _ => return None,
    };
    Some(Pulled {
        revision: change.revision,
        id: change.id.to_string(),
        record,
    })
}

/// Syncs one account (or the vault's only one): push the outbox, then pull.
pub fn sync(
    vault: &impl VaultAccess,
    account: Option<&str>,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let session = vault.with_vault(|vault| vault.remote_session(account))?;
    let account = session.account.clone();
    let outcome = run(vault, &session, options);
    let (report, error) = match &outcome {
        Ok(report) => (serde_json::to_string(report).ok(), None),
        Err(err) => (None, Some(err.to_string())),
    };
    vault.with_vault(|vault| {
        vault.record_sync_outcome(Some(&account), report.as_deref(), error.as_deref())
    })?;
    outcome
}

fn run(
    vault: &impl VaultAccess,
    session: &RemoteSession,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let account = Some(session.account.as_str());
    let origin: Uuid = session.client_id.parse().map_err(|_| {
        keyward_core::Error::VaultDamaged("the remote's client id is not a UUID".into())
    })?;
    let outbox = vault.with_vault(|vault| vault.outbox(account))?;
    let mut pending = outbox.len() as u64;
    let http =
        Http::new(session, options).map_err(|detail| SyncError::Unreachable { pending, detail })?;
    let failed = |failure: Failure, pending: u64| match failure {
        Failure::Transport(detail) => SyncError::Unreachable { pending, detail },
        Failure::Status(StatusCode::UNAUTHORIZED, message) => SyncError::Unauthorized(message),
        Failure::Status(status, message)
            if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
        {
            SyncError::Unreachable {
                pending,
                detail: format!("{status}: {message}"),
            }
        }
        Failure::Status(_, message) => SyncError::Refused { pending, message },
    };
    let mut report = SyncReport::default();
    for batch in outbox.chunks(PUSH_BATCH) {
        let changes = batch
            .iter()
            .map(|entry| wire_change(entry, origin))
            .collect::<keyward_core::Result<Vec<_>>>()?;
        let body = serde_json::to_vec(&PushRequest { changes })
            .map_err(|err| keyward_core::Error::Storage(err.to_string()))?;
        let answer = http
            .call(Method::POST, paths::PUSH, Some(body))
            .map_err(|failure| failed(failure, pending))?;
        let answer: PushResponse =
            serde_json::from_slice(&answer).map_err(|err| SyncError::Unreachable {
                pending,
                detail: format!("unreadable answer to a push: {err}"),
            })?;
        if answer.results.len() != batch.len() {
            return Err(SyncError::Unreachable {
                pending,
                detail: "the remote answered a push with the wrong number of results".into(),
            });
        }
        let mut acknowledged = Vec::with_capacity(batch.len());
        let mut overridden = Vec::new();
        for (entry, result) in batch.iter().zip(answer.results) {
            acknowledged.push(entry.seq);
            for conflict in result.conflicts {
                if conflict.kept != conflict.yours {
                    overridden.push(serde_json::to_value(&conflict).unwrap_or_default());
                }
                report.conflicts.push(conflict);
            }
        }
        vault.with_vault(|vault| vault.acknowledge(account, &acknowledged, &overridden))?;
        pending -= batch.len() as u64;
        report.pushed += batch.len() as u64;
    }
    let mut cursor = session.cursor;
    let mut pulled = Vec::new();
    // Merges that overrode a change this desktop pushed before (another desktop's won).
    let mut overridden = Vec::new();
    loop {
        let path = format!(
            "{}?since={cursor}&limit={PULL_MAX_LIMIT}&origin={origin}",
            paths::PULL
        );
        let answer = http
            .call(Method::GET, &path, None)
            .map_err(|failure| failed(failure, pending))?;
        let page: PullResponse =
            serde_json::from_slice(&answer).map_err(|err| SyncError::Unreachable {
                pending,
                detail: format!("unreadable answer to a pull: {err}"),
            })?;
        pulled.extend(page.changes.into_iter().filter_map(core_record));
        for conflict in page.conflicts {
            overridden.push(serde_json::to_value(&conflict).unwrap_or_default());
            report.conflicts.push(conflict);
        }
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    report.pulled =
        vault.with_vault(|vault| vault.apply_pull(account, &pulled, cursor, &overridden))?;
    Ok(report)
}
