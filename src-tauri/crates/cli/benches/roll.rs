//! Rolling 1,000 keys in one command, as a ratio to creating 1,000 with
//! `--names-from`, both measured in this run with the real (release) `keyward`
//! binary, process start and unlock included alike.
//!
//! Run with `cargo bench -p keyward-cli --bench roll` (from the workspace root).
//! Each round makes a fresh vault (argon2id at its floor, 19 MiB and 2 passes, so unlocking is
//! a small part of both commands), times `key create --names-from FILE --json`
//! of 1,000 names, then `key roll --filter reader --json` of those 1,000 keys. The
//! vault lives in a temporary directory, so both commits include a real fsync.
//! A third command that reads nothing (`key list` with a filter that matches no
//! key) is the floor every command pays (process start, unlock). The summary
//! gives each round's ratio, the ratio of the medians and the ratio above the
//! floor. `KEYWARD_BENCH_ROUNDS` sets the number of rounds (default 7).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");
const KEYS: usize = 1_000;
const PASSPHRASE: &str = "correct horse battery staple (bench)";

fn keyward(vault: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(args)
        .env("KEYWARD_VAULT", vault)
        .env("KEYWARD_PASSPHRASE", PASSPHRASE)
        .env("KEYWARD_ACTOR", "bench")
        .stdin(Stdio::null())
        .output()
        .expect("run keyward");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "keyward {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    // `cargo bench` passes --bench; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if args.iter().any(|filter| !"roll".contains(filter.as_str())) {
        return;
    }
    let rounds: usize = std::env::var("KEYWARD_BENCH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(7);
    println!(
        "roll ÷ create, {KEYS} keys, {rounds} rounds, load at start: {}",
        load()
    );
    let (mut creates, mut rolls, mut floors, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = dir.path().join("vault.db");
        keyward(
            &vault,
            &["init", "--kdf-memory-mib", "19", "--kdf-passes", "2"],
        );
        keyward(
            &vault,
            &["account", "create", "fleet", "--key-limit", "5000"],
        );
        let names = dir.path().join("names.txt");
        let list: String = (1..=KEYS).map(|n| format!("reader-{n:04}\n")).collect();
        std::fs::write(&names, list).expect("names file");
        let names = names.to_str().expect("a UTF-8 path");
        let create = keyward(
            &vault,
            &[
                "key",
                "create",
                "--names-from",
                names,
                "--preset",
                "device",
                "--json",
            ],
        );
        let roll = keyward(&vault, &["key", "roll", "--filter", "reader", "--json"]);
        // What any command costs: start, unlock, one read that finds nothing.
        let floor = keyward(&vault, &["key", "list", "--filter", "none such", "--json"]);
        let ratio = roll.as_secs_f64() / create.as_secs_f64();
        println!(
            "round {round}: create {:>6.1} ms, roll {:>6.1} ms, floor {:>5.1} ms, roll ÷ create {ratio:.2}",
            create.as_secs_f64() * 1e3,
            roll.as_secs_f64() * 1e3,
            floor.as_secs_f64() * 1e3
        );
        creates.push(create.as_secs_f64());
        rolls.push(roll.as_secs_f64());
        floors.push(floor.as_secs_f64());
        ratios.push(ratio);
    }
    let (create, roll, floor) = (median(creates), median(rolls), median(floors));
    println!(
        "median: create {:.1} ms, roll {:.1} ms, floor {:.1} ms; roll ÷ create {:.2} \
         (median of the rounds' ratios {:.2}; above the floor {:.2}); load at end: {}",
        create * 1e3,
        roll * 1e3,
        floor * 1e3,
        roll / create,
        median(ratios),
        (roll - floor) / (create - floor),
        load()
    );
}
