//! Starting and stopping the server: the plain-HTTP-only-on-loopback rule,
//! TLS, the last-used flush timer, and a graceful stop that writes the last
//! buffered uses.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{routes, AppState, Timeouts};
use crate::authorize::ResourceRule;
use crate::client_addr::TrustedProxies;
use crate::idle::IdleListener;
use crate::last_used::LastUsed;
use crate::rate_limit::{FailureBudget, FailureLimiter, RateLimit};
use crate::store::{Store, StoreError};
use crate::tls;

/// How often the failure limiter forgets clients whose buckets refilled.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How long a stop waits for requests in flight before it cuts them.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Allows plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub insecure_listen: bool,
    pub flush_every: Duration,
    pub rate_limit: RateLimit,
    pub timeouts: Timeouts,
    /// Proxies whose `Forwarded`/`X-Forwarded-For` name the client.
    pub trusted_proxies: TrustedProxies,
    /// How `/v1/authorize` maps a forwarded path to a resource.
    pub authorize: ResourceRule,
    /// Where failed verifications are counted: this process unless set
    /// (several instances share one in their database).
    pub failure_budget: Option<Arc<dyn FailureBudget>>,
    /// For benchmarks only: also mounts `POST /bench/noop` (see
    /// [`crate::api::BENCH_NOOP`]). The binary never sets it.
    pub bench_noop_route: bool,
}

impl ServerOptions {
    pub fn new(listen: SocketAddr) -> ServerOptions {
        ServerOptions {
            listen,
            tls: None,
            insecure_listen: false,
            flush_every: Duration::from_secs(1),
            rate_limit: RateLimit::default(),
            timeouts: Timeouts::default(),
            trusted_proxies: TrustedProxies::default(),
            authorize: ResourceRule::default(),
            failure_budget: None,
            bench_noop_route: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "refusing plain HTTP on {0}, which is not a loopback address: give --tls-cert and --tls-key, \
         or --insecure-listen behind a proxy that terminates TLS"
    )]
    PlainHttpRefused(SocketAddr),
    #[error("{0}")]
    Tls(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

pub struct RunningServer {
    pub addr: SocketAddr,
    pub tls: bool,
    tls_files: Option<(TlsFiles, Arc<tls::TlsConfigCell>)>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    flusher: JoinHandle<()>,
    store: Arc<dyn Store>,
    last_used: Arc<LastUsed>,
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Marks the instance as draining: `/readyz` answers 503 from now on,
    /// while requests are still served (a balancer's grace before `stop`).
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Reads the TLS certificate and key again (on SIGHUP): new connections
    /// get them; on an error the ones in use stay. False without TLS.
    pub fn reload_tls(&self) -> Result<bool, String> {
        let Some((files, cell)) = &self.tls_files else {
            return Ok(false);
        };
        cell.reload(&files.cert, &files.key)?;
        Ok(true)
    }

    /// Stops accepting, lets requests in flight finish (for a while), then
    /// writes the buffered last-used times. `/readyz` answers 503 from the
    /// first moment, so a balancer stops sending requests here.
    pub async fn stop(mut self) -> Result<(), StoreError> {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
        self.flusher.abort();
        self.last_used.flush(&self.store).await
    }
}

impl ServerOptions {
    /// Plain HTTP only on a loopback address, unless told `insecure_listen`.
    pub fn check_listen(&self) -> Result<(), StartError> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() && !self.insecure_listen {
            return Err(StartError::PlainHttpRefused(self.listen));
        }
        Ok(())
    }
}

pub async fn start(
    store: Arc<dyn Store>,
    options: ServerOptions,
) -> Result<RunningServer, StartError> {
    options.check_listen()?;
    let tls_config = match &options.tls {
        Some(files) => Some(Arc::new(tls::TlsConfigCell::new(
            tls::load_config(&files.cert, &files.key).map_err(StartError::Tls)?,
        ))),
        None => None,
    };
    let tcp = TcpListener::bind(options.listen)
        .await
        .map_err(|err| StartError::Bind(options.listen, err))?;
    let addr = tcp
        .local_addr()
        .map_err(|err| StartError::Bind(options.listen, err))?;

    let last_used = Arc::new(LastUsed::default());
    let limiter: Arc<dyn FailureBudget> = match &options.failure_budget {
        Some(shared) => Arc::clone(shared),
        None => Arc::new(FailureLimiter::new(options.rate_limit)),
    };
    let mut state = AppState::new(
        Arc::clone(&store),
        Arc::clone(&last_used),
        Arc::clone(&limiter),
    );
    state.timeouts = options.timeouts;
    state.trusted_proxies = Arc::new(options.trusted_proxies.clone());
    state.authorize = Arc::new(options.authorize.clone());
    let draining = Arc::clone(&state.draining);
    let app =
        routes(state, options.bench_noop_route).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let server = match &tls_config {
        Some(config) => {
            let listener = tls::TlsListener::new(tcp, Arc::clone(config))
                .map_err(|err| StartError::Bind(options.listen, err))?;
            // `tap_io` gives the listener axum's client-address support.
            let listener = IdleListener::new(listener, options.timeouts.idle).tap_io(|_| {});
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
        None => {
            let listener = tcp.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            // `tap_io` gives the listener axum's client-address support.
            let listener = IdleListener::new(listener, options.timeouts.idle).tap_io(|_| {});
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
    };

    let flusher = {
        let (store, last_used) = (Arc::clone(&store), Arc::clone(&last_used));
        let every = options.flush_every.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_sweep = tokio::time::Instant::now();
            loop {
                timer.tick().await;
                if let Err(err) = last_used.flush(&store).await {
                    tracing::warn!("last-used times kept in memory for the next flush: {err}");
                }
                // Clients that stopped failing are forgotten here, off the request path.
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    limiter.sweep().await;
                    last_sweep = tokio::time::Instant::now();
                }
            }
        })
    };

    Ok(RunningServer {
        addr,
        tls: options.tls.is_some(),
        tls_files: options.tls.clone().zip(tls_config),
        stop: Some(stop),
        server,
        flusher,
        store,
        last_used,
        draining,
    })
}
