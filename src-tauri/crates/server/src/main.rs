//! `keyward-server`: runs Keyward's remote API, and manages its sync tokens.
//! Exit codes, as for `keyward`: 0 done, 2 bad input (arguments, addresses,
//! TLS files, unknown token), 3 a database problem. Errors are one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use keyward_server::api::Timeouts;
use keyward_server::authorize::ResourceRule;
use keyward_server::client_addr::{Cidr, TrustedProxies};
use keyward_server::rate_limit::RateLimit;
use keyward_server::store::TokenInfo;
use keyward_server::{tokens, ServerOptions, SqliteStore, StartError, Store, StoreError, TlsFiles};

#[derive(Debug, Parser)]
#[command(
    name = "keyward-server",
    version,
    about = "Keyward's remote API: device key verification and desktop sync"
)]
struct Cli {
    /// The database file [default: the platform data directory's keyward/server.db].
    #[arg(long, global = true, env = "KEYWARD_SERVER_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on; plain HTTP only on a loopback address.
    #[arg(long, default_value = "127.0.0.1:8420", value_parser = parse_listen, value_name = "ADDR")]
    listen: SocketAddr,
    /// The TLS certificate chain (PEM); with --tls-key, the server speaks HTTPS.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (only behind a proxy that terminates TLS).
    #[arg(long)]
    insecure_listen: bool,
    /// A proxy (address or block, e.g. 10.0.0.0/8) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client; repeat for several. Others'
    /// headers are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr)]
    trusted_proxies: Vec<Cidr>,
    /// `/v1/authorize`: the path prefix of the API behind the gateway, e.g.
    /// /api; the first segment after it names the resource. Paths outside it
    /// name none (every key is refused for them).
    #[arg(long, value_name = "PATH")]
    authorize_prefix: Option<String>,
    /// `/v1/authorize`: a path (after the prefix) whose requests are for a
    /// resource other than its first segment, e.g. /v2/readers=devices;
    /// repeat for several (the longest match wins).
    #[arg(long = "authorize-route", value_name = "PATH=RESOURCE")]
    authorize_routes: Vec<String>,
    /// How often buffered last-used times are written, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    flush_interval_ms: u64,
    /// Failed verifications one client address may make at once.
    #[arg(long, default_value_t = RateLimit::default().burst, value_name = "N")]
    verify_failure_burst: u32,
    /// Failed verifications one client address may make per second, over time.
    #[arg(long, default_value_t = RateLimit::default().per_second, value_name = "RATE")]
    verify_failures_per_second: f64,
    /// How long a request's body may take to arrive, in milliseconds (then 408).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    body_timeout_ms: u64,
    /// How long a request may take to be answered, in milliseconds (then 408).
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    request_timeout_ms: u64,
    /// How long a connection may stay silent, in milliseconds, before it is
    /// closed; longer than --request-timeout-ms.
    #[arg(long, default_value_t = 90_000, value_name = "MS")]
    idle_timeout_ms: u64,
    /// The least severe log lines written to stderr: error, warn, info or debug.
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log_level: tracing::level_filters::LevelFilter,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        /// Print `{"id", "account", "token"}` as JSON.
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
            StoreError::Storage(_) => 3,
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

fn open_store(db: Option<PathBuf>) -> Result<Arc<SqliteStore>, Failure> {
    let path = db
        .or_else(keyward_server::default_db_path)
        .ok_or_else(|| Failure::input("no data directory on this system: pass --db PATH"))?;
    Ok(Arc::new(SqliteStore::open(&path)?))
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

fn token_command(db: Option<PathBuf>, command: TokenCommand) -> Result<(), Failure> {
    let store = open_store(db)?;
    match command {
        TokenCommand::Create {
            account,
            label,
            json,
        } => {
            let created = tokens::create(store.as_ref(), &account, &label)?;
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
        TokenCommand::List { json } => print_tokens(&store.list_tokens()?, json)?,
        TokenCommand::Revoke { id } => {
            let token = store.revoke_token(&id)?;
            eprintln!(
                "keyward-server: sync token {} of account {} is revoked",
                token.id, token.account
            );
        }
    }
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn serve(db: Option<PathBuf>, args: ServeArgs) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
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
    let store: Arc<dyn Store> = open_store(db)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure {
            code: 3,
            message: format!("cannot start the runtime: {err}"),
        })?;
    runtime.block_on(async move {
        let server = keyward_server::start(store, options).await?;
        // The first line of stdout is the address, for scripts and tests (--listen 127.0.0.1:0).
        println!("keyward-server listening on {}", server.url());
        tracing::info!("listening on {}", server.url());
        wait_for_stop_signal().await;
        tracing::info!("stopping");
        server.stop().await?;
        Ok(())
    })
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
    let result = match cli.command {
        Some(Command::Token(command)) => token_command(cli.db, command),
        None => serve(cli.db, cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("keyward-server: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
