//! Benchmarks for keyward-core against the budgets in DESIGN.md "Performance budgets":
//! with 10,000 keys in the vault, a verification decision ≤ 50 µs, creating a key
//! ≤ 1.5× one empty durable commit, and listing/filtering ≤ 20 ms. Unlocking with
//! the default argon2id parameters is measured and reported (it has no budget).
//!
//! Run with `cargo bench -p keyward-core` (from the workspace root). The vault lives
//! in a temporary directory under the system temp dir, so the commit figures include
//! a real fsync on whatever file system that is.
//!
//! One vault is built once (10,000 keys) and shared by every group, in this order:
//! verify, list, lookup (read-only, on exactly 10,000 keys), a cross-check of verify
//! and list timed in aggregate with on-CPU time, the create ÷ empty ratio (300
//! interleaved pairs of an empty commit and a key creation, starting at 10,000 keys),
//! criterion's commit group (adds keys), then unlock on the closed vault file. A
//! summary with the ratio and every figure against its budget, all from this run's
//! measurements, is printed at the end.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use keyward_core::key_format;
use keyward_core::{
    AccessType, Action, KdfParams, KeyFilter, KeyStatus, Method, NewAccount, NewGroup, NewKey,
    Request, Scope, SecretString, Vault, VerifyResult,
};

const PASSPHRASE: &str = "correct horse battery staple (bench)";
const ACCOUNT: &str = "fleet";
const TOTAL_KEYS: usize = 10_000;
const BATCH: usize = 500;
/// Every DEACTIVATE_EVERY-th key is deactivated, so status filters have work to do.
const DEACTIVATE_EVERY: usize = 50;
/// Pairs (one empty commit + one key creation) timed after criterion for the ratio.
const RATIO_PAIRS: usize = 300;

/// The vault under test and the few secrets kept from creation.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    vault: Vault,
    /// READ key in group "readers" (devices:read): GET devices is VALID.
    valid: SecretString,
    /// READ_WRITE key in group "writers" (no read scopes): GET devices is FORBIDDEN.
    forbidden: SecretString,
    /// Well-formed, correct checksum, never stored: NOT_FOUND.
    not_found: SecretString,
    /// A deactivated key: DISABLED.
    disabled: SecretString,
}

fn scopes(list: &[(&str, Action)]) -> Vec<Scope> {
    list.iter()
        .map(|(resource, action)| Scope::new(resource, *action))
        .collect()
}

fn build_fixture() -> Fixture {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vault.db");
    let mut vault = Vault::create(&path, &SecretString::from(PASSPHRASE), KdfParams::default())
        .expect("create vault");
    vault.set_actor("bench").expect("actor");
    vault
        .create_account(
            ACCOUNT,
            NewAccount {
                key_limit: Some(1_000_000),
                ..Default::default()
            },
        )
        .expect("account");
    for (name, list) in [
        (
            "readers",
            scopes(&[("devices", Action::Read), ("sessions", Action::Read)]),
        ),
        (
            "writers",
            scopes(&[
                ("devices", Action::Write),
                ("sessions", Action::Write),
                ("passings", Action::Write),
            ]),
        ),
        (
            "ops",
            scopes(&[
                ("devices", Action::Read),
                ("devices", Action::Delete),
                ("passings", Action::Read),
            ]),
        ),
    ] {
        vault
            .create_group(
                None,
                NewGroup {
                    name: name.into(),
                    description: Some(format!("{name} (bench)")),
                    scopes: list,
                },
            )
            .expect("group");
    }

    // Four kinds of batch, round robin: no groups, readers, writers, readers+ops.
    let kinds: [(AccessType, bool, &[&str]); 4] = [
        (AccessType::Read, false, &[]),
        (AccessType::Read, false, &["readers"]),
        (AccessType::ReadWrite, false, &["writers"]),
        (AccessType::Write, true, &["readers", "ops"]),
    ];
    let mut valid = None;
    let mut forbidden = None;
    let mut disabled = None;
    let mut to_deactivate = Vec::new();
    for batch in 0..TOTAL_KEYS / BATCH {
        let (access, allow_unbind, groups) = kinds[batch % kinds.len()];
        let names: Vec<String> = (batch * BATCH..(batch + 1) * BATCH)
            .map(|i| format!("device-{i:05}"))
            .collect();
        let new = NewKey {
            description: Some(format!("batch {batch} of the benchmark fleet")),
            access: Some(access),
            allow_unbind,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            expires_at: None,
        };
        let created = vault.create_keys(None, &names, &new).expect("create keys");
        for (offset, key) in created.into_iter().enumerate() {
            let i = batch * BATCH + offset;
            if i % DEACTIVATE_EVERY == DEACTIVATE_EVERY - 1 {
                to_deactivate.push(key.key.id.clone());
                if disabled.is_none() {
                    disabled = Some(key.secret);
                }
                continue;
            }
            // Take keys from the middle of the id range rather than the first ones.
            if i >= TOTAL_KEYS / 2 {
                match batch % kinds.len() {
                    1 if valid.is_none() => valid = Some(key.secret),
                    2 if forbidden.is_none() => forbidden = Some(key.secret),
                    _ => {}
                }
            }
        }
    }
    for id in &to_deactivate {
        vault
            .set_key_status(None, id, KeyStatus::Inactive)
            .expect("deactivate");
    }
    // A well-formed key (correct checksum) that the vault has never seen.
    let not_found = key_format::generate("kw").expect("generate").secret;

    let summary = vault.summary().expect("summary");
    assert_eq!(summary.keys as usize, TOTAL_KEYS);
    eprintln!(
        "setup: vault with {} keys ({} deactivated), 3 groups, built in {:.1} s at {}",
        summary.keys,
        to_deactivate.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Fixture {
        _dir: dir,
        path,
        vault,
        valid: valid.expect("a valid key"),
        forbidden: forbidden.expect("a forbidden key"),
        not_found,
        disabled: disabled.expect("a disabled key"),
    }
}

fn bench_verify(c: &mut Criterion, fx: &mut Fixture) {
    let request = Request::new(Method::Get, "devices", false).expect("request");
    let cases = [
        ("valid", fx.valid.clone(), VerifyResult::Valid),
        ("not_found", fx.not_found.clone(), VerifyResult::NotFound),
        ("forbidden", fx.forbidden.clone(), VerifyResult::Forbidden),
        ("disabled", fx.disabled.clone(), VerifyResult::Disabled),
    ];
    for (_, secret, expected) in &cases {
        let got = fx
            .vault
            .verify_key(secret, &request)
            .expect("verify")
            .result;
        assert_eq!(got, *expected, "fixture key does not verify as expected");
    }
    let mut group = c.benchmark_group("verify");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, secret, _) in &cases {
        let vault = &mut fx.vault;
        group.bench_function(*name, |b| {
            b.iter(|| {
                vault
                    .verify_key(black_box(secret), black_box(&request))
                    .expect("verify")
            })
        });
    }
    group.finish();
    fx.vault.flush_last_used().expect("flush last used");
}

fn bench_list(c: &mut Criterion, fx: &mut Fixture) {
    let filters = [
        ("all", KeyFilter::default()),
        (
            "filter_text",
            KeyFilter {
                text: Some("DEVICE-0123".into()),
                ..Default::default()
            },
        ),
        (
            "filter_status_group",
            KeyFilter {
                status: Some(KeyStatus::Inactive),
                group: Some("readers".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in &filters {
        let n = fx.vault.list_keys(None, filter).expect("list").len();
        eprintln!("list/{name}: {n} keys match");
        assert!(n > 0, "filter {name} matches nothing");
    }
    let mut group = c.benchmark_group("list");
    // ~20 ms an iteration: flat sampling, 20 samples of equal iteration counts.
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, filter) in &filters {
        let vault = &fx.vault;
        group.bench_function(*name, |b| {
            b.iter(|| vault.list_keys(None, black_box(filter)).expect("list"))
        });
    }
    group.finish();
}

/// Not budgeted, measured at 10,000 keys because other operations pay for them:
/// `Vault::key` (every key mutation — rename, set status, set groups — returns through
/// it) and the per-account key count (`create_keys` runs it for the key limit).
fn bench_lookup(c: &mut Criterion, fx: &mut Fixture) {
    let mut group = c.benchmark_group("lookup");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let vault = &fx.vault;
    // Vault::key is what set_key_status / rename_key / set_key_groups return through.
    group.bench_function("key_by_name", |b| {
        b.iter(|| vault.key(None, black_box("device-05001")).expect("key"))
    });
    // Vault::account runs the same `count(*) ... WHERE account_id = ?` that create_keys
    // runs for the key limit.
    group.bench_function("account_with_count", |b| {
        b.iter(|| vault.account(black_box(ACCOUNT)).expect("account"))
    });
    group.finish();
}

fn bench_commit(c: &mut Criterion, fx: &mut Fixture, counter: &mut u64) {
    let new = NewKey::default();
    let mut group = c.benchmark_group("commit");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    {
        let vault = &mut fx.vault;
        group.bench_function("empty_durable", |b| {
            b.iter(|| vault.commit_nothing().expect("commit"))
        });
    }
    {
        let vault = &mut fx.vault;
        // Every iteration adds a key (and the key-limit count grows with them): keep
        // this one short so the vault stays near 10,000 keys (the summary prints the range).
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500));
        group.bench_function("create_key", |b| {
            b.iter(|| {
                *counter += 1;
                vault
                    .create_key(None, &format!("bench-{counter:08}"), &new)
                    .expect("create key")
            })
        });
    }
    group.finish();
}

fn bench_unlock(c: &mut Criterion, path: &std::path::Path) {
    let passphrase = SecretString::from(PASSPHRASE);
    let mut group = c.benchmark_group("unlock");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("argon2id_default", |b| {
        b.iter(|| Vault::open(black_box(path), &passphrase).expect("open"))
    });
    group.finish();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// This thread's time on a CPU so far (Linux `/proc/thread-self/schedstat`, in ns),
/// so a commit's wall time splits into CPU work and waiting (for the fsync).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Wall and on-CPU time of each of a series of operations.
#[derive(Default)]
struct Samples {
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Samples {
    fn time<T>(&mut self, op: impl FnOnce() -> T) -> T {
        let cpu = thread_cpu();
        let t = Instant::now();
        let out = op();
        self.wall.push(t.elapsed());
        if let (Some(before), Some(after)) = (cpu, thread_cpu()) {
            self.cpu.push(after.saturating_sub(before));
        }
        out
    }
}

/// Empty commits and key creations alternated, so drift in the disk's fsync time
/// affects both alike; returns (empty, create) samples.
fn interleaved_commits(vault: &mut Vault, counter: &mut u64) -> (Samples, Samples) {
    let new = NewKey::default();
    let mut empty = Samples::default();
    let mut create = Samples::default();
    for _ in 0..RATIO_PAIRS {
        empty.time(|| vault.commit_nothing().expect("commit"));
        *counter += 1;
        let name = format!("ratio-{counter:08}");
        black_box(create.time(|| vault.create_key(None, &name, &new).expect("create key")));
    }
    (empty, create)
}

/// criterion's point estimate (ns) of a benchmark's time per iteration, if it was written by this run.
fn criterion_mean_ns(group: &str, name: &str, since: std::time::SystemTime) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // Benches run with the package directory as cwd; the workspace target is two levels up
            // from src-tauri/crates/core, i.e. ../../../target.
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../target")
        });
    let file = dir
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let modified = std::fs::metadata(&file).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
    // The slope (what criterion prints for linear sampling), else the mean (flat sampling).
    json["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| json["mean"]["point_estimate"].as_f64())
}

/// Wall and on-CPU time per iteration of `op` over `n` iterations, timed in aggregate:
/// a cross-check of criterion's wall-clock figures that holds up when other processes
/// compete for the two cores (on-CPU time excludes time spent waiting for a core).
fn per_iter<T>(n: u32, mut op: impl FnMut() -> T) -> (Duration, Option<Duration>) {
    let cpu = thread_cpu();
    let t = Instant::now();
    for _ in 0..n {
        black_box(op());
    }
    let wall = t.elapsed() / n;
    let cpu = match (cpu, thread_cpu()) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before) / n),
        _ => None,
    };
    (wall, cpu)
}

/// The same operations as the verify and list groups, timed with on-CPU time too.
fn cpu_cross_check(fx: &mut Fixture) -> Vec<(String, Duration, Option<Duration>)> {
    let request = Request::new(Method::Get, "devices", false).expect("request");
    let mut out = Vec::new();
    for (name, secret) in [
        ("verify/valid", fx.valid.clone()),
        ("verify/forbidden", fx.forbidden.clone()),
    ] {
        let vault = &mut fx.vault;
        let (wall, cpu) = per_iter(100_000, || {
            vault.verify_key(&secret, &request).expect("verify")
        });
        out.push((name.to_string(), wall, cpu));
    }
    for (name, filter) in [
        ("list/all", KeyFilter::default()),
        (
            "list/filter_text",
            KeyFilter {
                text: Some("DEVICE-0123".into()),
                ..Default::default()
            },
        ),
        (
            "list/filter_status_group",
            KeyFilter {
                status: Some(KeyStatus::Inactive),
                group: Some("readers".into()),
                ..Default::default()
            },
        ),
    ] {
        let vault = &fx.vault;
        let (wall, cpu) = per_iter(50, || vault.list_keys(None, &filter).expect("list"));
        out.push((name.to_string(), wall, cpu));
    }
    fx.vault.flush_last_used().expect("flush last used");
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let run_started = std::time::SystemTime::now();
    let wall = Instant::now();
    let load_at_start = loadavg();
    let mut criterion = Criterion::default().configure_from_args();
    let mut fx = build_fixture();
    let mut counter = 0u64;

    bench_verify(&mut criterion, &mut fx);
    bench_list(&mut criterion, &mut fx);
    bench_lookup(&mut criterion, &mut fx);
    let cross_check = cpu_cross_check(&mut fx);
    // The ratio is measured first, on the 10,000-key vault; criterion's commit group
    // then adds a few thousand keys more.
    let keys_before_ratio = fx.vault.summary().expect("summary").keys;
    let (empty, create) = interleaved_commits(&mut fx.vault, &mut counter);
    bench_commit(&mut criterion, &mut fx, &mut counter);
    let keys_after_commits = fx.vault.summary().expect("summary").keys;

    // Close the vault (flushing last-used times) before measuring unlocks of the file.
    let Fixture {
        _dir, path, vault, ..
    } = fx;
    drop(vault);
    bench_unlock(&mut criterion, &path);
    criterion.final_summary();

    println!();
    println!("== keyward-core benchmark summary (figures from this run) ==");
    println!(
        "load average at start {load_at_start}, at end {}",
        loadavg()
    );
    println!(
        "create/empty ratio: {RATIO_PAIRS} interleaved pairs (empty durable commit, create_key), Instant-timed, \
         vault at {keys_before_ratio} keys:"
    );
    let row = |label: &str, s: &Samples| {
        let cpu = if s.cpu.len() == s.wall.len() {
            format!(
                ", on-CPU median {:>8.1} µs (waiting ~{:.0}%)",
                micros(median(s.cpu.clone())),
                100.0 * (1.0 - mean(&s.cpu).as_secs_f64() / mean(&s.wall).as_secs_f64())
            )
        } else {
            String::new()
        };
        println!(
            "  {label}: median {:>8.1} µs, mean {:>8.1} µs{cpu}",
            micros(median(s.wall.clone())),
            micros(mean(&s.wall))
        );
    };
    row("empty commit", &empty);
    row("create_key  ", &create);
    let (empty_med, create_med) = (median(empty.wall.clone()), median(create.wall.clone()));
    let (empty_mean, create_mean) = (mean(&empty.wall), mean(&create.wall));
    let ratio_med = create_med.as_secs_f64() / empty_med.as_secs_f64();
    println!(
        "  RATIO create/empty: median {ratio_med:.2}x, mean {:.2}x — budget <= 1.50x: {}",
        create_mean.as_secs_f64() / empty_mean.as_secs_f64(),
        if ratio_med <= 1.5 {
            "within"
        } else {
            "OVER BUDGET"
        }
    );
    match (
        criterion_mean_ns("commit", "empty_durable", run_started),
        criterion_mean_ns("commit", "create_key", run_started),
    ) {
        (Some(e), Some(k)) => println!(
            "  criterion (vault {keys_before_ratio} -> {keys_after_commits} keys): empty {:.1} µs, create_key {:.1} µs, ratio {:.2}x",
            e / 1e3,
            k / 1e3,
            k / e
        ),
        _ => println!("  criterion estimates for commit/* not written by this run (filtered out?)"),
    }
    for (group, name, budget_us) in [
        ("verify", "valid", Some(50.0)),
        ("verify", "not_found", Some(50.0)),
        ("verify", "forbidden", Some(50.0)),
        ("verify", "disabled", Some(50.0)),
        ("list", "all", Some(20_000.0)),
        ("list", "filter_text", Some(20_000.0)),
        ("list", "filter_status_group", Some(20_000.0)),
        ("lookup", "key_by_name", None),
        ("lookup", "account_with_count", None),
        ("unlock", "argon2id_default", None),
    ] {
        if let Some(ns) = criterion_mean_ns(group, name, run_started) {
            let us = ns / 1e3;
            let verdict = match budget_us {
                Some(b) if us <= b => format!("within budget (<= {b} µs)"),
                Some(b) => format!("OVER BUDGET (<= {b} µs)"),
                None => "no budget".to_string(),
            };
            println!("{group}/{name}: {us:.1} µs — {verdict}");
        }
    }
    println!("cross-check, timed in aggregate after criterion (wall / on-CPU per iteration):");
    for (name, wall, cpu) in &cross_check {
        let cpu = cpu
            .map(|c| format!("{:.1} µs", micros(c)))
            .unwrap_or_else(|| "n/a".into());
        println!("  {name}: wall {:.1} µs, on-CPU {cpu}", micros(*wall));
    }
    println!(
        "total bench wall time: {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}
