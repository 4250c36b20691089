//! `cargo bench -p keyward-server --bench verify`: the throughput and latency
//! of `POST /v1/verify` on the real server holding 10,000 key records, as a
//! ratio to a do-nothing handler (`POST /bench/noop`) on the same server stack,
//! both driven in the same run by the same load generator — on SQLite, on
//! PostgreSQL, and on two instances sharing one PostgreSQL database.
//!
//! The servers run in this process (`keyward_server::start`, plain HTTP on
//! 127.0.0.1, no log subscriber) on one tokio runtime: one on a SQLite file
//! in a temporary directory, two on a throwaway PostgreSQL cluster started
//! for the run (`tests/support/postgres.rs`); the load generator is hyper's
//! HTTP/1 client over keep-alive connections on a second runtime. Both share
//! the machine's cores, so each phase also reports the CPU time each side
//! used. Within each round every stack measures the no-op and then verify, and
//! the stacks take turns, so that load from elsewhere on the machine hits all
//! alike.
//!
//! Settings (environment): `KEYWARD_BENCH_CONNECTIONS` (32),
//! `KEYWARD_BENCH_SECONDS` per phase (3), `KEYWARD_BENCH_WARMUP_SECONDS` (1),
//! `KEYWARD_BENCH_ROUNDS` (8), `KEYWARD_BENCH_LOAD_THREADS` (1), and for
//! diagnosis `KEYWARD_BENCH_FLUSH_MS`, the last-used flush interval (the
//! server's default, 1000).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use keyward_model::key_format;
use keyward_server::api::BENCH_NOOP;
use keyward_server::rate_limit::RateLimit;
use keyward_server::store::PgStore;
use keyward_server::{tokens, RunningServer, ServerOptions, SqliteStore, Store};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use uuid::Uuid;

#[path = "../tests/support/postgres.rs"]
mod postgres;

const KEYS: usize = 10_000;
const PUSH_BATCH: usize = 1_000;
/// A round is quiet when other processes used less than this many cores in both phases.
const QUIET_OTHERS: f64 = 0.05;
const SERVER_THREADS: &str = "kw-server";
const LOAD_THREADS: &str = "kw-load";

struct Settings {
    connections: usize,
    measure: Duration,
    warm_up: Duration,
    rounds: usize,
    load_threads: usize,
    flush_every: Duration,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            connections: env_number("KEYWARD_BENCH_CONNECTIONS", 32).max(1) as usize,
            measure: Duration::from_secs(env_number("KEYWARD_BENCH_SECONDS", 3).max(1)),
            warm_up: Duration::from_secs(env_number("KEYWARD_BENCH_WARMUP_SECONDS", 1)),
            rounds: env_number("KEYWARD_BENCH_ROUNDS", 8).max(1) as usize,
            load_threads: env_number("KEYWARD_BENCH_LOAD_THREADS", 1).max(1) as usize,
            flush_every: Duration::from_millis(env_number(
                "KEYWARD_BENCH_FLUSH_MS",
                default_options().flush_every.as_millis() as u64,
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Noop,
    Verify,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Noop => BENCH_NOOP,
            Target::Verify => "/v1/verify",
        }
    }

    /// Whether a 200 body is the answer this target must give.
    fn expected(self, body: &[u8]) -> bool {
        match self {
            Target::Noop => body == b"{}",
            Target::Verify => body.starts_with(br#"{"result":"VALID""#),
        }
    }
}

/// What one measured phase saw.
struct Phase {
    target: Target,
    requests: u64,
    elapsed: Duration,
    /// Per request, in microseconds, sorted.
    latencies: Vec<u32>,
    cpu: CpuSplit,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// On-CPU seconds during a phase: the server's threads, the load
/// generator's, interrupt work (loopback packets are mostly softirq time,
/// which is not charged to the threads), and other processes.
#[derive(Debug, Default, Clone, Copy)]
struct CpuSplit {
    server: f64,
    load: f64,
    interrupts: f64,
    others: f64,
}

/// Seconds all cores have spent busy, and of those in interrupts, from
/// `/proc/stat` (user, nice, system, irq, softirq, steal; 100 ticks a second).
#[derive(Debug, Default, Clone, Copy)]
struct MachineBusy {
    busy: f64,
    interrupts: f64,
}

fn machine_busy() -> MachineBusy {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return MachineBusy::default();
    };
    let ticks: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let seconds = |fields: &[usize]| {
        fields
            .iter()
            .filter_map(|&field| ticks.get(field))
            .sum::<u64>() as f64
            / 100.0
    };
    MachineBusy {
        busy: seconds(&[0, 1, 2, 5, 6, 7]),
        interrupts: seconds(&[5, 6]),
    }
}

/// What a phase's CPU accounting starts from.
struct CpuMark {
    threads: HashMap<String, u64>,
    machine: MachineBusy,
}

fn cpu_mark() -> CpuMark {
    CpuMark {
        threads: cpu_by_thread_name(),
        machine: machine_busy(),
    }
}

/// On-CPU nanoseconds so far of this process's threads, by thread name.
fn cpu_by_thread_name() -> HashMap<String, u64> {
    let mut totals = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return totals;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        *totals.entry(name.trim().to_string()).or_insert(0) += on_cpu;
    }
    totals
}

fn cpu_split(before: &CpuMark, after: &CpuMark) -> CpuSplit {
    let spent = |prefix: &str| {
        let sum = |map: &HashMap<String, u64>| -> u64 {
            map.iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(_, ns)| *ns)
                .sum()
        };
        // Threads that ended during the phase drop out of `after`; never go negative.
        sum(&after.threads).saturating_sub(sum(&before.threads)) as f64 / 1e9
    };
    let (server, load) = (spent(SERVER_THREADS), spent(LOAD_THREADS));
    let interrupts = after.machine.interrupts - before.machine.interrupts;
    let busy = after.machine.busy - before.machine.busy;
    CpuSplit {
        server,
        load,
        interrupts,
        others: (busy - interrupts - server - load).max(0.0),
    }
}

/// A small xorshift generator: which key each request presents.
struct Pick(u64);

impl Pick {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1 handshake");
    tokio::spawn(connection);
    sender
}

fn request(path: &str, body: Bytes, token: Option<&str>) -> hyper::Request<Full<Bytes>> {
    let mut request = hyper::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Full::new(body)).expect("a valid request")
}

/// Sends one request on `sender`: its status and body.
async fn exchange(sender: &mut Sender, request: hyper::Request<Full<Bytes>>) -> (u16, Bytes) {
    sender.ready().await.expect("connection ready");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes();
    (status, body)
}

/// One connection's loop: requests back to back until `end`, timing those
/// that start at or after `start`.
async fn drive(
    addr: SocketAddr,
    target: Target,
    bodies: Arc<Vec<Bytes>>,
    seed: u64,
    start: Instant,
    end: Instant,
) -> Vec<u32> {
    let mut sender = connect(addr).await;
    let mut pick = Pick(seed | 1);
    let mut latencies = Vec::with_capacity(64 * 1024);
    loop {
        let began = Instant::now();
        if began >= end {
            return latencies;
        }
        let body = bodies[pick.next(bodies.len())].clone();
        let (status, answer) = exchange(&mut sender, request(target.path(), body, None)).await;
        if status != 200 || !target.expected(&answer) {
            panic!(
                "{target:?} answered {status}: {} — the figures would not be of successful requests",
                String::from_utf8_lossy(&answer)
            );
        }
        if began >= start {
            latencies.push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
}

fn run_phase(
    load: &Runtime,
    addrs: &[SocketAddr],
    target: Target,
    bodies: &Arc<Vec<Bytes>>,
    settings: &Settings,
    round: usize,
) -> Phase {
    load.block_on(async {
        let start = Instant::now() + settings.warm_up;
        let end = start + settings.measure;
        let tasks: Vec<_> = (0..settings.connections)
            .map(|index| {
                let seed = 0x9E37_79B9_7F4A_7C15 ^ ((round as u64) << 32) ^ index as u64;
                // Connections spread over the instances, as a balancer would.
                let addr = addrs[index % addrs.len()];
                tokio::spawn(drive(addr, target, Arc::clone(bodies), seed, start, end))
            })
            .collect();
        tokio::time::sleep_until(start.into()).await;
        let cpu_before = cpu_mark();
        let measuring = Instant::now();
        tokio::time::sleep_until(end.into()).await;
        let cpu_after = cpu_mark();
        let elapsed = measuring.elapsed();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("a load connection failed"));
        }
        latencies.sort_unstable();
        Phase {
            target,
            requests: latencies.len() as u64,
            elapsed,
            latencies,
            cpu: cpu_split(&cpu_before, &cpu_after),
        }
    })
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn runtime(name: &'static str, threads: Option<usize>) -> Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads);
    }
    builder
        .enable_all()
        .thread_name(name)
        .build()
        .expect("a tokio runtime")
}

fn default_options() -> ServerOptions {
    ServerOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Starts the server with the bench route (or without, to check it is off by default).
fn start_server(
    server_rt: &Runtime,
    store: Arc<dyn Store>,
    bench_noop_route: bool,
    flush_every: Duration,
) -> RunningServer {
    let mut options = default_options();
    options.flush_every = flush_every;
    // Only valid keys are presented, and each gives its token back; the burst
    // only has to cover the requests in flight at once.
    options.rate_limit = RateLimit {
        burst: 1_000_000,
        per_second: 1.0,
    };
    options.bench_noop_route = bench_noop_route;
    server_rt
        .block_on(keyward_server::start(store, options))
        .expect("start the server")
}

/// `KEYS` new keys: a verify body and a key record push change for each
/// (the keys themselves are kept in memory only).
fn key_fixture() -> (Vec<Bytes>, Vec<serde_json::Value>) {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("an RFC 3339 time");
    let mut bodies = Vec::with_capacity(KEYS);
    let mut changes = Vec::with_capacity(KEYS);
    for index in 0..KEYS {
        let key = key_format::generate("kw").expect("generate a key");
        changes.push(json!({
            "idempotency_id": Uuid::now_v7(),
            "at": now,
            "origin": Uuid::nil(),
            "entity": "key",
            "op": "upsert",
            "id": Uuid::now_v7(),
            "key": {
                "name": format!("device-{index:05}"),
                "access": "READ_WRITE",
                "verifier": hex::encode(key.verifier),
                "hint": key.hint,
                "created_by": "bench",
            },
        }));
        let body = json!({
            "key": key.secret.expose(),
            "method": "GET",
            "resource": "devices",
            "unbind": false,
        });
        bodies.push(Bytes::from(serde_json::to_vec(&body).expect("JSON")));
    }
    (bodies, changes)
}

/// Pushes the key records through `/v1/sync/push`, `PUSH_BATCH` at a time.
fn push_keys(load: &Runtime, addr: SocketAddr, token: &str, changes: &[serde_json::Value]) {
    load.block_on(async {
        let mut sender = connect(addr).await;
        for batch in changes.chunks(PUSH_BATCH) {
            let body = serde_json::to_vec(&json!({ "changes": batch })).expect("JSON");
            let (status, answer) = exchange(
                &mut sender,
                request("/v1/sync/push", Bytes::from(body), Some(token)),
            )
            .await;
            assert_eq!(status, 200, "push: {}", String::from_utf8_lossy(&answer));
        }
    });
}

/// Every key verifies VALID before anything is timed.
fn check_fixture(load: &Runtime, addr: SocketAddr, bodies: &[Bytes]) {
    load.block_on(async {
        let mut sender = connect(addr).await;
        for body in bodies {
            let (status, answer) =
                exchange(&mut sender, request("/v1/verify", body.clone(), None)).await;
            assert!(
                status == 200 && Target::Verify.expected(&answer),
                "a pushed key does not verify: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
    });
}

/// A server started with default options must not answer the bench route.
fn check_noop_route_is_off_by_default(server_rt: &Runtime, load: &Runtime, store: Arc<dyn Store>) {
    assert!(
        !default_options().bench_noop_route,
        "the bench route is off by default"
    );
    let server = start_server(server_rt, store, false, default_options().flush_every);
    let status = load.block_on(async {
        let mut sender = connect(server.addr).await;
        exchange(
            &mut sender,
            request(BENCH_NOOP, Bytes::from_static(b"{}"), None),
        )
        .await
        .0
    });
    assert_eq!(status, 404, "{BENCH_NOOP} without bench_noop_route");
    server_rt
        .block_on(server.stop())
        .expect("stop the check server");
}

fn print_phase(stack: &str, round: usize, phase: &Phase) {
    println!(
        "  round {round} {stack:<22} {:<6} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests in {:.2} s; CPU s: server {:.2}, load generator {:.2}, interrupts {:.2}, other processes {:.2})",
        format!("{:?}", phase.target).to_lowercase(),
        phase.per_second(),
        percentile(&phase.latencies, 0.50),
        percentile(&phase.latencies, 0.99),
        phase.requests,
        phase.elapsed.as_secs_f64(),
        phase.cpu.server,
        phase.cpu.load,
        phase.cpu.interrupts,
        phase.cpu.others,
    );
}

/// All rounds of one target together.
fn combine(target: Target, phases: &[Phase]) -> Phase {
    let mine: Vec<&Phase> = phases.iter().filter(|p| p.target == target).collect();
    let mut latencies: Vec<u32> = mine
        .iter()
        .flat_map(|p| p.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    Phase {
        target,
        requests: mine.iter().map(|p| p.requests).sum(),
        elapsed: mine.iter().map(|p| p.elapsed).sum(),
        latencies,
        cpu: CpuSplit {
            server: mine.iter().map(|p| p.cpu.server).sum(),
            load: mine.iter().map(|p| p.cpu.load).sum(),
            interrupts: mine.iter().map(|p| p.cpu.interrupts).sum(),
            others: mine.iter().map(|p| p.cpu.others).sum(),
        },
    }
}

/// One server stack under test: its instances, the share of the do-nothing
/// figure its verify must reach, and the phases measured on it.
struct Stack {
    name: &'static str,
    addrs: Vec<SocketAddr>,
    budget: f64,
    phases: Vec<Phase>,
}

impl Stack {
    fn new(name: &'static str, servers: &[&RunningServer], budget: f64) -> Stack {
        Stack {
            name,
            addrs: servers.iter().map(|server| server.addr).collect(),
            budget,
            phases: Vec::new(),
        }
    }

    /// The verify figure over the noop one, of every round, and of the
    /// rounds in which the machine was otherwise idle (outside load slows
    /// the cheap noop more than verify, flattering the ratio).
    fn summary(&self, connections: usize) -> (Phase, Phase) {
        let noop = combine(Target::Noop, &self.phases);
        let verify = combine(Target::Verify, &self.phases);
        let ratio = verify.per_second() / noop.per_second();
        println!("  {} ({} instance(s))", self.name, self.addrs.len());
        for phase in [&noop, &verify] {
            println!(
                "    {:<6} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  {} requests over {connections} connections; \
                 CPU per request: server {:.0} µs, load generator {:.0} µs, interrupts {:.0} µs",
                format!("{:?}", phase.target).to_lowercase(),
                phase.per_second(),
                percentile(&phase.latencies, 0.50),
                percentile(&phase.latencies, 0.99),
                phase.requests,
                phase.cpu.server * 1e6 / phase.requests.max(1) as f64,
                phase.cpu.load * 1e6 / phase.requests.max(1) as f64,
                phase.cpu.interrupts * 1e6 / phase.requests.max(1) as f64,
            );
        }
        let ratios: Vec<f64> = self
            .phases
            .chunks(2)
            .map(|pair| pair[1].per_second() / pair[0].per_second())
            .collect();
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "    verify / noop throughput: {:.0}% (target >= {:.0}%: {}); median of the rounds {:.0}%, range {:.0}-{:.0}%",
            100.0 * ratio,
            100.0 * self.budget,
            if ratio >= self.budget { "met" } else { "MISSED" },
            100.0 * sorted[sorted.len() / 2],
            100.0 * sorted[0],
            100.0 * sorted[sorted.len() - 1],
        );
        let quiet: Vec<&[Phase]> = self
            .phases
            .chunks(2)
            .filter(|pair| {
                pair.iter()
                    .all(|p| p.cpu.others < QUIET_OTHERS * p.elapsed.as_secs_f64())
            })
            .collect();
        if quiet.is_empty() {
            println!("    no quiet round (other processes always used > {QUIET_OTHERS} core)");
        } else {
            let per_second = |index: usize| {
                let requests: u64 = quiet.iter().map(|pair| pair[index].requests).sum();
                let seconds: f64 = quiet
                    .iter()
                    .map(|pair| pair[index].elapsed.as_secs_f64())
                    .sum();
                requests as f64 / seconds
            };
            println!(
                "    quiet rounds only ({} of {}): verify / noop {:.0}%",
                quiet.len(),
                ratios.len(),
                100.0 * per_second(1) / per_second(0)
            );
        }
        (noop, verify)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags are not supported.
    let settings = Settings::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server_rt = runtime(SERVER_THREADS, None);
    let load = runtime(LOAD_THREADS, Some(settings.load_threads));

    // SQLite: a database file, as the binary's default.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("server.db")).expect("open the database"));
    check_noop_route_is_off_by_default(&server_rt, &load, Arc::clone(&sqlite));
    let sqlite_server = start_server(&server_rt, Arc::clone(&sqlite), true, settings.flush_every);

    // PostgreSQL: a throwaway cluster on loopback, and two instances on it,
    // each with its own connection pool (the binary's default size).
    let cluster = postgres::Cluster::start();
    let url = cluster.database("bench");
    let connect = || -> Arc<dyn Store> {
        Arc::new(
            server_rt
                .block_on(PgStore::connect(&url, 16))
                .expect("connect to PostgreSQL"),
        )
    };
    let (pg_a, pg_b) = (connect(), connect());
    let pg_server_a = start_server(&server_rt, Arc::clone(&pg_a), true, settings.flush_every);
    let pg_server_b = start_server(&server_rt, Arc::clone(&pg_b), true, settings.flush_every);

    // The same 10,000 keys on both databases.
    let built = Instant::now();
    let sqlite_token = server_rt
        .block_on(tokens::create(sqlite.as_ref(), "bench", "bench desktop"))
        .expect("a sync token");
    let pg_token = server_rt
        .block_on(tokens::create(pg_a.as_ref(), "bench", "bench desktop"))
        .expect("a sync token");
    let (bodies, changes) = key_fixture();
    push_keys(
        &load,
        sqlite_server.addr,
        sqlite_token.token.expose(),
        &changes,
    );
    push_keys(&load, pg_server_a.addr, pg_token.token.expose(), &changes);
    let bodies = Arc::new(bodies);
    let pushed_in = built.elapsed();
    for server in [&sqlite_server, &pg_server_a, &pg_server_b] {
        check_fixture(&load, server.addr, &bodies);
    }

    let mut stacks = [
        Stack::new("sqlite", &[&sqlite_server], 0.75),
        Stack::new("postgresql", &[&pg_server_a], 0.5),
        Stack::new(
            "postgresql, 2 instances",
            &[&pg_server_a, &pg_server_b],
            0.5,
        ),
    ];

    println!("keyward-server verification throughput (benches/verify.rs)");
    println!(
        "  servers: plain HTTP, axum, in this process; SQLite file in {}; PostgreSQL {} on 127.0.0.1:{} (a throwaway cluster, default settings)",
        dir.path().display(),
        cluster_version(&cluster),
        cluster.port
    );
    println!(
        "  {KEYS} key records pushed through /v1/sync/push to each database in {:.2} s; every key verified VALID once on every instance before timing",
        pushed_in.as_secs_f64()
    );
    println!(
        "  load generator: hyper HTTP/1 client, {} keep-alive connections (spread over a stack's instances), {} tokio worker thread(s); \
         server runtime: {} worker threads, shared by every instance",
        settings.connections, settings.load_threads, cores
    );
    println!(
        "  the servers, PostgreSQL and the load generator share this machine's {cores} cores; \
         no log subscriber, so request log lines cost nothing here"
    );
    println!(
        "  verify presents a random one of the {KEYS} valid keys (GET devices, READ_WRITE, no groups); \
         noop = POST {BENCH_NOOP}: same router, middleware, body limit and JSON extractor, answers {{}}"
    );
    println!(
        "  last-used times of VALID uses are written every {} ms (in the background, as in the binary)",
        settings.flush_every.as_millis()
    );
    println!(
        "  {} rounds, each: every stack in turn, noop then verify, {} s warm-up + {} s measured per phase; load average at start {}",
        settings.rounds,
        settings.warm_up.as_secs(),
        settings.measure.as_secs(),
        load_average()
    );

    for round in 1..=settings.rounds {
        for stack in &mut stacks {
            for target in [Target::Noop, Target::Verify] {
                let phase = run_phase(&load, &stack.addrs, target, &bodies, &settings, round);
                print_phase(stack.name, round, &phase);
                stack.phases.push(phase);
            }
        }
    }

    println!(
        "summary (all rounds; load average at end {})",
        load_average()
    );
    let verify: Vec<Phase> = stacks
        .iter()
        .map(|stack| stack.summary(settings.connections).1)
        .collect();
    println!(
        "  postgresql / sqlite verify throughput: {:.0}%; two postgresql instances / one: {:.0}% (on {cores} cores shared by everything)",
        100.0 * verify[1].per_second() / verify[0].per_second(),
        100.0 * verify[2].per_second() / verify[1].per_second(),
    );

    for server in [sqlite_server, pg_server_a, pg_server_b] {
        server_rt.block_on(server.stop()).expect("stop a server");
    }
}

fn cluster_version(cluster: &postgres::Cluster) -> String {
    cluster.sql("bench", "SHOW server_version")
}
