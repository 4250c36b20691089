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
use keyward_core::{OutboxEntry, RefusedChange, RemoteSession, SecretString, Vault};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::{
    paths, AuditHead, Change, ChangeResult, Conflict, ErrorBody, Outcome, PullResponse,
    PushRequest, PushResponse, PULL_MAX_LIMIT, PUSH_MAX_BYTES, PUSH_MAX_CHANGES,
};

/// The most bytes of changes one push carries, under the server's body limit.
const PUSH_BATCH_BYTES: usize = PUSH_MAX_BYTES * 3 / 4;
/// A pull that goes on for more pages than this is a remote that misbehaves.
const MAX_PULL_PAGES: usize = 10_000;
/// Rounds of pushing: the outbox, then what refused changes left to narrow.
const PUSH_ROUNDS: usize = 3;
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
    /// Changes the remote refused in this sync, set aside with their reasons
    /// (the rest went through; what of them narrowed was sent on its own).
    #[serde(default)]
    pub refused: Vec<RefusedChange>,
    /// The audit log is shorter than, or differs from, what the remote
    /// recorded for this desktop: what is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_problem: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The remote could not be reached or failed on its side; nothing is lost.
    #[error("remote unreachable — {pending} changes kept for the next sync ({detail})")]
    Unreachable { pending: u64, detail: String },
    /// The remote refused the sync token.
    #[error("the remote refused the sync token ({0}) — set a valid one for this remote")]
    Unauthorized(String),
    /// The remote answered something that is not the API (a pull that never
    /// ends, an answer of the wrong shape); nothing was applied from it.
    #[error("the remote misbehaves: {detail} — {pending} changes kept for the next sync")]
    Misbehaving { pending: u64, detail: String },
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
    /// The most changes one push carries (and no more than the server takes,
    /// `PUSH_MAX_CHANGES`); tests make it small to sync in several pushes.
    pub push_batch_changes: usize,
    /// Changes asked for per pull page (at most `PULL_MAX_LIMIT`); tests make
    /// it small to pull in several pages.
    pub pull_page: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            extra_roots: std::env::var_os("KEYWARD_REMOTE_CA").map(PathBuf::from),
            push_batch_changes: PUSH_MAX_CHANGES,
            pull_page: PULL_MAX_LIMIT,
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
    /// No connection to the remote: the request never left.
    Unsent(String),
    /// Sending or receiving failed, or took too long: it may have arrived.
    Transport(String),
    /// The answer is not the API's.
    Misbehaving(String),
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
                            Failure::Unsent(format!("cannot start the sync client: {err}"))
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
            .map_err(|_| Failure::Unsent(format!("no answer from {address}")))?
            .map_err(|err| Failure::Unsent(format!("cannot connect to {address}: {err}")))?;
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => self.exchange(stream, method, path_and_query, body).await,
                Some(connector) => {
                    let name = rustls_pki_types::ServerName::try_from(self.endpoint.host.clone())
                        .map_err(|err| Failure::Unsent(format!("host name: {err}")))?;
                    let stream = connector.connect(name, stream).await.map_err(|err| {
                        Failure::Unsent(format!("TLS with {address} failed: {err}"))
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

fn wire_change(entry: &OutboxEntry, origin: Uuid) -> Change {
    Change {
        idempotency_id: entry.idempotency_id,
        at: entry.at,
        origin,
        base_revision: entry.base_revision,
        action: entry.action.clone(),
    }
}

/// Syncs one account (or the vault's only one): push the outbox, then pull,
/// then compare audit heads with the remote.
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

/// One sync's connection to the remote and what it has learnt so far.
struct Round<'a, V: VaultAccess> {
    vault: &'a V,
    account: Option<&'a str>,
    origin: Uuid,
    http: Http,
    report: SyncReport,
}

impl<V: VaultAccess> Round<'_, V> {
    fn pending(&self) -> u64 {
        self.vault
            .with_vault(|vault| vault.outbox(self.account))
            .map_or(0, |outbox| outbox.len() as u64)
    }

    fn failed(&self, failure: Failure) -> SyncError {
        let pending = self.pending();
        match failure {
            Failure::Unsent(detail) | Failure::Transport(detail) => {
                SyncError::Unreachable { pending, detail }
            }
            Failure::Misbehaving(detail) => SyncError::Misbehaving { pending, detail },
            Failure::Status(StatusCode::UNAUTHORIZED, message) => SyncError::Unauthorized(message),
            Failure::Status(status, message) => SyncError::Unreachable {
                pending,
                detail: format!("{status}: {message}"),
            },
        }
    }

    fn misbehaving(&self, detail: String) -> SyncError {
        SyncError::Misbehaving {
            pending: self.pending(),
            detail,
        }
    }

    /// Pushes the outbox in batches (what may have been sent first, then what
    /// narrows, then the rest), each acknowledged before the next; then once
    /// more for what refused changes left to narrow.
    fn push(&mut self) -> Result<(), SyncError> {
        for _ in 0..PUSH_ROUNDS {
            let outbox = self.vault.with_vault(|vault| vault.outbox(self.account))?;
            if outbox.is_empty() {
                return Ok(());
            }
            let mut rest = outbox.as_slice();
            while !rest.is_empty() {
                let batch = self.next_batch(rest)?;
                rest = &rest[batch.len()..];
                self.push_batch(batch)?;
            }
        }
        Ok(())
    }

    /// As many entries as one push may carry.
    fn next_batch<'e>(&self, entries: &'e [OutboxEntry]) -> Result<&'e [OutboxEntry], SyncError> {
        let mut bytes = 0;
        let mut count = 0;
        let most = self
            .http
            .options
            .push_batch_changes
            .clamp(1, PUSH_MAX_CHANGES);
        for entry in entries.iter().take(most) {
            let size = serde_json::to_vec(&wire_change(entry, self.origin))
                .map_err(|err| keyward_core::Error::Storage(err.to_string()))?
                .len();
            if count > 0 && bytes + size > PUSH_BATCH_BYTES {
                break;
            }
            bytes += size;
            count += 1;
        }
        Ok(&entries[..count.max(1)])
    }

    fn push_batch(&mut self, batch: &[OutboxEntry]) -> Result<(), SyncError> {
        let unsent: Vec<i64> = batch
            .iter()
            .filter(|entry| !entry.in_flight)
            .map(|entry| entry.seq)
            .collect();
        if !unsent.is_empty() {
            self.vault
                .with_vault(|vault| vault.mark_in_flight(&unsent))?;
        }
        let changes: Vec<Change> = batch
            .iter()
            .map(|entry| wire_change(entry, self.origin))
            .collect();
        let results = match self.send(&changes) {
            Ok(results) => results,
            Err((failure, sent)) => {
                // A push that never left changes nothing: its entries are as they were.
                if !sent && !unsent.is_empty() {
                    self.vault
                        .with_vault(|vault| vault.unmark_in_flight(&unsent))?;
                }
                return Err(self.failed(failure));
            }
        };
        let mut overridden = Vec::new();
        for result in &results {
            for conflict in &result.conflicts {
                if conflict.kept != conflict.yours {
                    overridden.push(conflict.clone());
                }
                self.report.conflicts.push(conflict.clone());
            }
        }
        let refused = self
            .vault
            .with_vault(|vault| vault.acknowledge(self.account, batch, &results, &overridden))?;
        self.report.pushed += (batch.len() - refused.len()) as u64;
        self.report.refused.extend(refused);
        Ok(())
    }

    /// One push, answered change by change. A push the remote refuses as a
    /// whole (an older server, one change it cannot read) is split until the
    /// change it refuses is found: that one is refused, the rest go through.
    /// On failure, whether any request may have reached the remote.
    fn send(&self, changes: &[Change]) -> Result<Vec<ChangeResult>, (Failure, bool)> {
        let body = serde_json::to_vec(&PushRequest {
            changes: changes.to_vec(),
        })
        .map_err(|err| (Failure::Unsent(err.to_string()), false))?;
        let misbehaving = |detail: String| (Failure::Misbehaving(detail), true);
        match self.http.call(Method::POST, paths::PUSH, Some(body)) {
            Ok(answer) => {
                let answer: PushResponse = serde_json::from_slice(&answer)
                    .map_err(|err| misbehaving(format!("unreadable answer to a push: {err}")))?;
                if answer.results.len() != changes.len() {
                    return Err(misbehaving(
                        "the remote answered a push with the wrong number of results".into(),
                    ));
                }
                Ok(answer.results)
            }
            Err(Failure::Status(status, message)) if refuses_the_request(status) => {
                if let [change] = changes {
                    return Ok(vec![ChangeResult {
                        idempotency_id: change.idempotency_id,
                        outcome: Outcome::Refused,
                        revision: None,
                        reason: Some(message),
                        conflicts: Vec::new(),
                    }]);
                }
                let (first, second) = changes.split_at(changes.len() / 2);
                let mut results = self.send(first).map_err(|(failure, _)| (failure, true))?;
                results.extend(self.send(second).map_err(|(failure, _)| (failure, true))?);
                Ok(results)
            }
            Err(failure @ Failure::Unsent(_)) => Err((failure, false)),
            Err(failure) => Err((failure, true)),
        }
    }

    /// Every page since the cursor, then applied in one transaction with the
    /// new cursor. A page that does not move the cursor on, or more pages than
    /// any account holds, is a remote that misbehaves: nothing is applied.
    fn pull(&mut self, since: u64) -> Result<(), SyncError> {
        let mut cursor = since;
        let mut pulled = Vec::new();
        // Merges that overrode a change this desktop pushed before (another desktop's won).
        let mut overridden = Vec::new();
        for page_number in 0.. {
            if page_number == MAX_PULL_PAGES {
                return Err(
                    self.misbehaving(format!("the pull did not end after {MAX_PULL_PAGES} pages"))
                );
            }
            let path = format!(
                "{}?since={cursor}&limit={}&origin={}",
                paths::PULL,
                self.http.options.pull_page.clamp(1, PULL_MAX_LIMIT),
                self.origin
            );
            let answer = self
                .http
                .call(Method::GET, &path, None)
                .map_err(|failure| self.failed(failure))?;
            let page: PullResponse = serde_json::from_slice(&answer)
                .map_err(|err| self.misbehaving(format!("unreadable answer to a pull: {err}")))?;
            let advances = page.cursor > cursor
                && page
                    .changes
                    .iter()
                    .all(|change| change.revision > cursor && change.revision <= page.cursor);
            if page.more && !advances {
                return Err(self.misbehaving(format!(
                    "the pull says more changes wait but does not move on from {cursor}"
                )));
            }
            pulled.extend(page.changes);
            for conflict in page.conflicts {
                overridden.push(conflict.clone());
                self.report.conflicts.push(conflict);
            }
            cursor = cursor.max(page.cursor);
            if !page.more {
                break;
            }
        }
        self.report.pulled = self
            .vault
            .with_vault(|vault| vault.apply_pull(self.account, &pulled, cursor, &overridden))?;
        Ok(())
    }

    /// Compares this vault's audit head with the one the remote recorded for
    /// this desktop: one the log no longer holds is reported (and kept, so
    /// `audit verify` reports it too) and the remote's record is left as it
    /// is; otherwise the remote records this head. A remote without the
    /// endpoint is skipped.
    fn audit(&mut self) -> Result<(), SyncError> {
        let recorded = match self.http.call(Method::GET, paths::AUDIT, None) {
            Ok(answer) => serde_json::from_slice::<Option<AuditHead>>(&answer)
                .map_err(|err| self.misbehaving(format!("unreadable audit head: {err}")))?,
            Err(Failure::Status(StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED, _)) => {
                return Ok(())
            }
            Err(failure) => return Err(self.failed(failure)),
        };
        if let Some(recorded) = &recorded {
            let problem = self
                .vault
                .with_vault(|vault| vault.check_remote_audit_head(recorded))?;
            if problem.is_some() {
                self.vault
                    .with_vault(|vault| vault.record_remote_audit_head(self.account, recorded))?;
                self.report.audit_problem = problem;
                return Ok(());
            }
        }
        let head = self.vault.with_vault(|vault| vault.audit_head())?;
        let body = serde_json::to_vec(&head)
            .map_err(|err| keyward_core::Error::Storage(err.to_string()))?;
        let answer = self
            .http
            .call(Method::POST, paths::AUDIT, Some(body))
            .map_err(|failure| self.failed(failure))?;
        let kept: AuditHead = serde_json::from_slice(&answer)
            .map_err(|err| self.misbehaving(format!("unreadable audit head: {err}")))?;
        self.vault
            .with_vault(|vault| vault.record_remote_audit_head(self.account, &kept))?;
        Ok(())
    }
}

/// A 4xx that refuses what was sent (rather than who sent it, or when).
fn refuses_the_request(status: StatusCode) -> bool {
    status.is_client_error()
        && ![
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&status)
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
    let http = Http::new(session, options).map_err(|detail| SyncError::Unreachable {
        pending: vault
            .with_vault(|vault| vault.outbox(account))
            .map_or(0, |outbox| outbox.len() as u64),
        detail,
    })?;
    let mut round = Round {
        vault,
        account,
        origin,
        http,
        report: SyncReport::default(),
    };
    round.push()?;
    round.pull(session.cursor)?;
    round.audit()?;
    Ok(round.report)
}
