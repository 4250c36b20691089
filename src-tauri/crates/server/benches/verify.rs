//! `cargo bench -p keyward-server --bench verify`: the throughput and latency
//! of `POST /v1/verify` on the real server holding 10,000 key records, as a
//! ratio to a do-nothing handler (`POST /bench/noop`) on the same server stack,
//! both driven in the same run by the same load generator.
//!
//! The server runs in this process (`keyward_server::start`, plain HTTP on
//! 127.0.0.1, a database file in a temporary directory, no log subscriber),
//! on its own tokio runtime; the load generator is hyper's HTTP/1 client over
//! keep-alive connections on a second runtime. Both share the machine's cores,
//! so each phase also reports the CPU time each side used. The two targets are
//! measured in alternating rounds so that load from elsewhere on the machine
//! hits both alike.
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
use keyward_server::{tokens, RunningServer, ServerOptions, SqliteStore, Store};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use uuid::Uuid;

const KEYS: usize = 10_000;
const PUSH_BATCH: usize = 1_000;
/// The verify figure must be at least this share of the do-nothing one.
const BUDGET_RATIO: f64 = 0.5;
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
    addr: SocketAddr,
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

/// Pushes `KEYS` key records and returns a verify body per key, keeping the
/// keys in memory only.
fn load_keys(load: &Runtime, addr: SocketAddr, token: &str) -> Vec<Bytes> {
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
    bodies
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

fn print_phase(round: usize, phase: &Phase) {
    println!(
        "  round {round} {:<6} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests in {:.2} s; CPU s: server {:.2}, load generator {:.2}, interrupts {:.2}, other processes {:.2})",
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

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags are not supported.
    let settings = Settings::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server_rt = runtime(SERVER_THREADS, None);
    let load = runtime(LOAD_THREADS, Some(settings.load_threads));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("server.db")).expect("open the database"));
    let token = server_rt
        .block_on(tokens::create(store.as_ref(), "bench", "bench desktop"))
        .expect("a sync token");

    check_noop_route_is_off_by_default(&server_rt, &load, Arc::clone(&store));
    let server = start_server(&server_rt, Arc::clone(&store), true, settings.flush_every);
    let built = Instant::now();
    let bodies = Arc::new(load_keys(&load, server.addr, token.token.expose()));
    let pushed_in = built.elapsed();
    check_fixture(&load, server.addr, &bodies);

    println!("keyward-server verification throughput (benches/verify.rs)");
    println!(
        "  server: {} (plain HTTP, axum, in this process), database file in {}",
        server.url(),
        dir.path().display()
    );
    println!(
        "  {KEYS} key records pushed through /v1/sync/push in {:.2} s; all {KEYS} verified VALID once before timing",
        pushed_in.as_secs_f64()
    );
    println!(
        "  load generator: hyper HTTP/1 client, {} keep-alive connections, {} tokio worker thread(s); \
         server runtime: {} worker threads",
        settings.connections, settings.load_threads, cores
    );
    println!(
        "  the server and the load generator share this machine's {cores} cores (one process, two runtimes); \
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
        "  {} rounds, each: noop then verify, {} s warm-up + {} s measured per phase; load average at start {}",
        settings.rounds,
        settings.warm_up.as_secs(),
        settings.measure.as_secs(),
        load_average()
    );

    let mut phases = Vec::new();
    for round in 1..=settings.rounds {
        for target in [Target::Noop, Target::Verify] {
            let phase = run_phase(&load, server.addr, target, &bodies, &settings, round);
            print_phase(round, &phase);
            phases.push(phase);
        }
    }

    let noop = combine(Target::Noop, &phases);
    let verify = combine(Target::Verify, &phases);
    let ratio = verify.per_second() / noop.per_second();
    println!(
        "summary (all rounds; load average at end {})",
        load_average()
    );
    for phase in [&noop, &verify] {
        println!(
            "  {:<6} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  {} requests over {} connections; \
             CPU per request: server {:.0} µs, load generator {:.0} µs, interrupts {:.0} µs",
            format!("{:?}", phase.target).to_lowercase(),
            phase.per_second(),
            percentile(&phase.latencies, 0.50),
            percentile(&phase.latencies, 0.99),
            phase.requests,
            settings.connections,
            phase.cpu.server * 1e6 / phase.requests.max(1) as f64,
            phase.cpu.load * 1e6 / phase.requests.max(1) as f64,
            phase.cpu.interrupts * 1e6 / phase.requests.max(1) as f64,
        );
    }
    let ratios: Vec<f64> = phases
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| pair[1].per_second() / pair[0].per_second())
        .collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!(
        "  verify / noop throughput: {:.0}% (budget >= {:.0}%: {}); median of the rounds {:.0}%, range {:.0}-{:.0}%; by round: {}",
        100.0 * ratio,
        100.0 * BUDGET_RATIO,
        if ratio >= BUDGET_RATIO { "met" } else { "MISSED" },
        100.0 * median,
        100.0 * sorted[0],
        100.0 * sorted[sorted.len() - 1],
        ratios
            .iter()
            .map(|r| format!("{:.0}%", 100.0 * r))
            .collect::<Vec<_>>()
            .join(" ")
    );

    // Outside load slows the cheap noop more than verify, flattering the
    // ratio; the rounds in which the machine was otherwise idle say more.
    let quiet: Vec<&[Phase]> = phases
        .chunks(2)
        .filter(|pair| {
            pair.len() == 2
                && pair
                    .iter()
                    .all(|p| p.cpu.others < QUIET_OTHERS * p.elapsed.as_secs_f64())
        })
        .collect();
    if quiet.is_empty() {
        println!("  no quiet round (other processes always used > {QUIET_OTHERS} core): run again on an idle machine");
    } else {
        let per_second = |index: usize| {
            let requests: u64 = quiet.iter().map(|pair| pair[index].requests).sum();
            let seconds: f64 = quiet
                .iter()
                .map(|pair| pair[index].elapsed.as_secs_f64())
                .sum();
            requests as f64 / seconds
        };
        let (noop, verify) = (per_second(0), per_second(1));
        println!(
            "  quiet rounds only ({} of {}, other processes < {QUIET_OTHERS} core in both phases): noop {noop:.0} req/s, verify {verify:.0} req/s, ratio {:.0}%",
            quiet.len(),
            ratios.len(),
            100.0 * verify / noop
        );
    }

    server_rt.block_on(server.stop()).expect("stop the server");
}
