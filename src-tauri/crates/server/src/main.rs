//! `keyward-server`: runs Keyward's remote API, migrates its database, and
//! manages its sync tokens. The database is one SQLite file (`--db`, the
//! default) or PostgreSQL (`--database-url`, for several instances). Every
//! flag can also be given as an environment variable (`KEYWARD_SERVER_…`, as
//! each flag's help says), as containers expect. Exit codes, as for
//! `keyward`: 0 done, 2 bad input (arguments, addresses, TLS files, unknown
//! token, a database URL that is not one), 3 a database problem (unreachable,
//! of a newer schema, not keyward-server's). Errors are one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use keyward_server::api::Timeouts;
use keyward_server::authorize::ResourceRule;
use keyward_server::client_addr::{Cidr, TrustedProxies};
use keyward_server::rate_limit::{RateLimit, SharedFailureBudget};
use keyward_server::store::{PgStore, TokenInfo};
use keyward_server::{tokens, ServerOptions, SqliteStore, StartError, Store, StoreError, TlsFiles};

#[derive(Debug, Parser)]
#[command(
    name = "keyward-server",
    version,
    about = "Keyward's remote API: device key verification and desktop sync"
)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Args)]
struct DatabaseArgs {
    /// The SQLite database file [default: the platform data directory's keyward/server.db].
    #[arg(long, global = true, env = "KEYWARD_SERVER_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// A PostgreSQL database instead (postgres://USER@HOST[:PORT]/DATABASE),
    /// for several instances on one database ($DATABASE_URL when KEYWARD_SERVER_DATABASE_URL is unset).
    #[arg(
        long,
        global = true,
        env = "KEYWARD_SERVER_DATABASE_URL",
        value_name = "URL",
        conflicts_with = "db",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// PostgreSQL connections this instance may hold.
    #[arg(
        long,
        global = true,
        env = "KEYWARD_SERVER_DATABASE_POOL_SIZE",
        default_value_t = 16,
        value_name = "N"
    )]
    database_pool_size: usize,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on; plain HTTP only on a loopback address.
    #[arg(long, env = "KEYWARD_SERVER_LISTEN", default_value = "127.0.0.1:8420", value_parser = parse_listen, value_name = "ADDR")]
    listen: SocketAddr,
    /// The TLS certificate chain (PEM); with --tls-key, the server speaks
    /// HTTPS. Read again on SIGHUP.
    #[arg(
        long,
        env = "KEYWARD_SERVER_TLS_CERT",
        requires = "tls_key",
        value_name = "PEM"
    )]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM). Read again on SIGHUP.
    #[arg(
        long,
        env = "KEYWARD_SERVER_TLS_KEY",
        requires = "tls_cert",
        value_name = "PEM"
    )]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (only behind a proxy that terminates TLS).
    #[arg(long, env = "KEYWARD_SERVER_INSECURE_LISTEN")]
    insecure_listen: bool,
    /// A proxy (address or block, e.g. 10.0.0.0/8) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client; repeat for several (in the
    /// environment, separate them with commas). Others' headers are ignored.
    #[arg(long = "trusted-proxy", env = "KEYWARD_SERVER_TRUSTED_PROXY", value_delimiter = ',', value_name = "CIDR", value_parser = parse_cidr)]
    trusted_proxies: Vec<Cidr>,
    /// `/v1/authorize`: the path prefix of the API behind the gateway, e.g.
    /// /api; the first segment after it names the resource. Paths outside it
    /// name none (every key is refused for them).
    #[arg(long, env = "KEYWARD_SERVER_AUTHORIZE_PREFIX", value_name = "PATH")]
    authorize_prefix: Option<String>,
    /// `/v1/authorize`: a path (after the prefix) whose requests are for a
    /// resource other than its first segment, e.g. /v2/readers=devices;
    /// repeat for several (the longest match wins; in the environment,
    /// separate them with commas).
    #[arg(
        long = "authorize-route",
        env = "KEYWARD_SERVER_AUTHORIZE_ROUTE",
        value_delimiter = ',',
        value_name = "PATH=RESOURCE"
    )]
    authorize_routes: Vec<String>,
    /// How often buffered last-used times are written, in milliseconds.
    #[arg(
        long,
        env = "KEYWARD_SERVER_FLUSH_INTERVAL_MS",
        default_value_t = 1000,
        value_name = "MS"
    )]
    flush_interval_ms: u64,
    /// Failed verifications one client address may make at once.
    #[arg(long, env = "KEYWARD_SERVER_VERIFY_FAILURE_BURST", default_value_t = RateLimit::default().burst, value_name = "N")]
    verify_failure_burst: u32,
    /// Failed verifications one client address may make per second, over time.
    #[arg(long, env = "KEYWARD_SERVER_VERIFY_FAILURES_PER_SECOND", default_value_t = RateLimit::default().per_second, value_name = "RATE")]
    verify_failures_per_second: f64,
    /// How long a request's body may take to arrive, in milliseconds (then 408).
    #[arg(
        long,
        env = "KEYWARD_SERVER_BODY_TIMEOUT_MS",
        default_value_t = 30_000,
        value_name = "MS"
    )]
    body_timeout_ms: u64,
    /// How long a request may take to be answered, in milliseconds (then 408).
    #[arg(
        long,
        env = "KEYWARD_SERVER_REQUEST_TIMEOUT_MS",
        default_value_t = 60_000,
        value_name = "MS"
    )]
    request_timeout_ms: u64,
    /// How long a connection may stay silent, in milliseconds, before it is
    /// closed; longer than --request-timeout-ms.
    #[arg(
        long,
        env = "KEYWARD_SERVER_IDLE_TIMEOUT_MS",
        default_value_t = 90_000,
        value_name = "MS"
    )]
    idle_timeout_ms: u64,
    /// On SIGTERM, how long to keep serving with `/readyz` answering 503
    /// before stopping, in milliseconds (for a load balancer to notice).
    #[arg(
        long,
        env = "KEYWARD_SERVER_DRAIN_MS",
        default_value_t = 0,
        value_name = "MS"
    )]
    drain_ms: u64,
    /// The least severe log lines written to stderr: error, warn, info or debug.
    #[arg(
        long,
        env = "KEYWARD_SERVER_LOG_LEVEL",
        default_value = "info",
        value_name = "LEVEL"
    )]
    log_level: tracing::level_filters::LevelFilter,
    /// Finer log filters, as RUST_LOG writes them (e.g. `info,keyward_server=debug`);
    /// win over --log-level ($RUST_LOG when KEYWARD_SERVER_LOG is unset).
    #[arg(long, env = "KEYWARD_SERVER_LOG", value_name = "FILTER")]
    log_filter: Option<String>,
    /// `text` (one line a request) or `json` (one JSON object a line).
    #[arg(long, env = "KEYWARD_SERVER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], value_name = "FORMAT")]
    log_format: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server (what keyward-server does with no command).
    Serve,
    /// Applies the database's migrations and exits; safe when several
    /// instances start together (they wait for each other).
    Migrate,
    /// Sync tokens: what desktops present to push and pull.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Creates a token for one desktop of an account (and the account if it is
    /// new); prints the token once. Give each desktop its own: the server tells
    /// desktops apart by their tokens.
    Create {
        #[arg(long, value_name = "NAME")]
        account: String,
        /// Which desktop the token is for, e.g. "front desk laptop".
        #[arg(long, value_name = "NAME", default_value = "")]
        label: String,
        /// Print `{"id", "account", "label", "token"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token: requests with it are refused from then on.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    text.parse()
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in {text:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not an address: write IP:PORT, e.g. 127.0.0.1:8420 or [::1]:8420")
    })
}

struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Failure {
        let code = match err {
            StoreError::Storage(_) | StoreError::Unavailable(_) => 3,
            StoreError::Invalid(_) | StoreError::Conflict(_) | StoreError::NotFound(_) => 2,
        };
        Failure {
            code,
            message: err.to_string(),
        }
    }
}

impl From<StartError> for Failure {
    fn from(err: StartError) -> Failure {
        Failure::input(err.to_string())
    }
}

/// The database the flags name: PostgreSQL, or the SQLite file.
enum Database {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Database {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(store) => Arc::clone(store) as Arc<dyn Store>,
            Database::Postgres(store) => Arc::clone(store) as Arc<dyn Store>,
        }
    }
}

/// Opens (and migrates, under the migration lock) the database the flags name.
async fn open_database(args: DatabaseArgs, serving: bool) -> Result<Database, Failure> {
    let url = args.database_url.or_else(|| {
        std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
    });
    if let Some(url) = url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Failure::input(
                "the database URL must start with postgres:// (or postgresql://)",
            ));
        }
        let store = PgStore::connect(&url, args.database_pool_size).await?;
        return Ok(Database::Postgres(Arc::new(store)));
    }
    let path = args
        .db
        .or_else(keyward_server::default_db_path)
        .ok_or_else(|| Failure::input("no data directory on this system: pass --db PATH"))?;
    let store = tokio::task::spawn_blocking(move || match serving {
        true => SqliteStore::open_to_serve(&path),
        false => SqliteStore::open(&path),
    })
    .await
    .map_err(|err| Failure::input(err.to_string()))??;
    Ok(Database::Sqlite(Arc::new(store)))
}

fn print_tokens(tokens: &[TokenInfo], json: bool) -> Result<(), Failure> {
    if json {
        let text =
            serde_json::to_string_pretty(tokens).map_err(|err| Failure::input(err.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<36}  {:<20}  {:<20}  {:<18}  {:<24}  STATUS",
        "ID", "ACCOUNT", "LABEL", "HINT", "CREATED"
    );
    let format = time::format_description::well_known::Rfc3339;
    for token in tokens {
        let created = token.created_at.format(&format).unwrap_or_default();
        let status = match token.revoked_at {
            Some(at) => format!("revoked {}", at.format(&format).unwrap_or_default()),
            None => "active".into(),
        };
        println!(
            "{:<36}  {:<20}  {:<20}  {:<18}  {:<24}  {status}",
            token.id, token.account, token.label, token.hint, created
        );
    }
    Ok(())
}

async fn token_command(database: DatabaseArgs, command: TokenCommand) -> Result<(), Failure> {
    let store = open_database(database, false).await?.store();
    match command {
        TokenCommand::Create {
            account,
            label,
            json,
        } => {
            let created = tokens::create(store.as_ref(), &account, &label).await?;
            if json {
                let value = serde_json::json!({
                    "id": created.info.id,
                    "account": created.info.account,
                    "label": created.info.label,
                    "token": created.token.expose(),
                });
                println!("{value}");
            } else {
                println!("{}", created.token.expose());
            }
            eprintln!(
                "keyward-server: sync token {} for account {} — shown only this once; the server keeps only its SHA-256",
                created.info.id, created.info.account
            );
        }
        TokenCommand::List { json } => print_tokens(&store.list_tokens().await?, json)?,
        TokenCommand::Revoke { id } => {
            let token = store.revoke_token(&id).await?;
            eprintln!(
                "keyward-server: sync token {} of account {} is revoked",
                token.id, token.account
            );
        }
    }
    Ok(())
}

async fn migrate(database: DatabaseArgs) -> Result<(), Failure> {
    let (kind, version) = match open_database(database, false).await? {
        Database::Sqlite(_) => ("SQLite", keyward_server::store::SQLITE_SCHEMA_VERSION),
        Database::Postgres(store) => ("PostgreSQL", store.backend().schema_version().await?),
    };
    println!("keyward-server: the {kind} database is at schema {version}");
    Ok(())
}

/// What stops the server, and what reloads its certificate.
enum Signal {
    Stop,
    Reload,
}

/// The signals the server answers, listened to from before it announces its
/// address: a SIGTERM that follows the announcement at once drains too,
/// rather than killing the process.
struct Signals {
    #[cfg(unix)]
    unix: Option<[tokio::signal::unix::Signal; 3]>,
}

impl Signals {
    fn listen() -> Signals {
        Signals {
            #[cfg(unix)]
            unix: {
                use tokio::signal::unix::{signal, SignalKind};
                let kinds = [
                    SignalKind::terminate(),
                    SignalKind::interrupt(),
                    SignalKind::hangup(),
                ];
                kinds
                    .map(signal)
                    .into_iter()
                    .collect::<std::io::Result<Vec<_>>>()
                    .ok()
                    .and_then(|signals| signals.try_into().ok())
            },
        }
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        if let Some([terminate, interrupt, hangup]) = &mut self.unix {
            return tokio::select! {
                _ = terminate.recv() => Signal::Stop,
                _ = interrupt.recv() => Signal::Stop,
                _ = hangup.recv() => Signal::Reload,
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }
}

fn init_logging(args: &ServeArgs) -> Result<(), Failure> {
    use tracing_subscriber::EnvFilter;
    let filter = args.log_filter.clone().or_else(|| {
        std::env::var("RUST_LOG")
            .ok()
            .filter(|text| !text.is_empty())
    });
    let filter = match filter {
        Some(directives) => EnvFilter::try_new(&directives)
            .map_err(|err| Failure::input(format!("invalid log filter {directives:?}: {err}")))?,
        None => EnvFilter::new(args.log_level.to_string()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn serve(database: DatabaseArgs, args: ServeArgs) -> Result<(), Failure> {
    init_logging(&args)?;
    if !args.verify_failures_per_second.is_finite()
        || args.verify_failures_per_second <= 0.0
        || args.verify_failure_burst == 0
    {
        return Err(Failure::input(
            "the verification rate limit must allow at least one failure: use positive numbers",
        ));
    }
    let mut options = ServerOptions::new(args.listen);
    options.tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| TlsFiles { cert, key });
    options.insecure_listen = args.insecure_listen;
    options.trusted_proxies = TrustedProxies(args.trusted_proxies);
    options.authorize = ResourceRule::new(args.authorize_prefix.as_deref(), &args.authorize_routes)
        .map_err(Failure::input)?;
    options.flush_every = Duration::from_millis(args.flush_interval_ms.max(10));
    options.rate_limit = RateLimit {
        burst: args.verify_failure_burst,
        per_second: args.verify_failures_per_second,
    };
    options.timeouts = Timeouts {
        body: Duration::from_millis(args.body_timeout_ms),
        request: Duration::from_millis(args.request_timeout_ms),
        idle: Duration::from_millis(args.idle_timeout_ms),
    };
    if args.body_timeout_ms == 0 || args.idle_timeout_ms <= args.request_timeout_ms {
        return Err(Failure::input(
            "timeouts: give a positive --body-timeout-ms, and an --idle-timeout-ms longer than --request-timeout-ms",
        ));
    }
    // Bad input is reported before the database is created or opened.
    options.check_listen()?;
    let database = open_database(database, true).await?;
    if let Database::Postgres(store) = &database {
        // Several instances share one budget of failures.
        options.failure_budget = Some(Arc::new(SharedFailureBudget {
            backend: Arc::clone(store.backend()),
            limit: options.rate_limit,
        }));
    }
    let mut signals = Signals::listen();
    let server = keyward_server::start(database.store(), options).await?;
    // The first line of stdout is the address, for scripts and tests (--listen 127.0.0.1:0).
    println!("keyward-server listening on {}", server.url());
    tracing::info!("listening on {}", server.url());
    while let Signal::Reload = signals.next().await {
        match server.reload_tls() {
            Ok(true) => tracing::info!("TLS certificate reloaded"),
            Ok(false) => tracing::info!("SIGHUP: no TLS certificate to reload"),
            Err(err) => tracing::error!("TLS certificate not reloaded, the old one stays: {err}"),
        }
    }
    tracing::info!("stopping");
    server.drain();
    tokio::time::sleep(Duration::from_millis(args.drain_ms)).await;
    server.stop().await?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(err.kind(), DisplayHelp | DisplayVersion) {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            let rendered = err.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "keyward-server: {} — see `keyward-server --help`",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("keyward-server: cannot start the runtime: {err}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Token(command)) => token_command(cli.database, command).await,
            Some(Command::Migrate) => migrate(cli.database).await,
            Some(Command::Serve) | None => serve(cli.database, cli.serve).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!(
                "keyward-server: {}",
                keyward_model::key_format::redact(&failure.message)
            );
            ExitCode::from(failure.code)
        }
    }
}
