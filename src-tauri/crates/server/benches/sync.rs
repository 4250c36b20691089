//! Sync figures (BENCHMARKS.md, "Server"): the first sync of a vault holding
//! 10,000 keys to an empty `keyward-server` on loopback (budget ≤ 2 s), and
//! an incremental sync of one change, on SQLite and on PostgreSQL side by
//! side. The real server binary and databases (a SQLite file; a throwaway
//! PostgreSQL cluster), the real vault and sync client, as an administrator's
//! desktop runs them. Run with `cargo bench -p keyward-server --bench sync`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use keyward_core::{NewKey, SecretString, Vault};
use keyward_sync::{sync, SyncOptions, SyncReport};
use support::Server;

const KEYS: usize = 10_000;
const ROUNDS: usize = 5;
const ACCOUNT: &str = "Fleet";

fn timed_sync(vault: &mut Vault) -> (Duration, SyncReport) {
    let started = Instant::now();
    let report = sync(&RefCell::new(vault), Some(ACCOUNT), &SyncOptions::default())
        .unwrap_or_else(|err| panic!("sync failed: {err}"));
    (started.elapsed(), report)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// One round against a new, empty server: the first sync (setting the
/// remote queues the whole account), then one rename and its sync.
fn round(vault: &mut Vault, round: usize, name: &str, server: Server) -> [Duration; 2] {
    vault
        .set_remote(
            Some(ACCOUNT),
            &server.url,
            &SecretString::new(server.token(ACCOUNT)),
            false,
        )
        .unwrap();
    let (first, report) = timed_sync(vault);
    assert_eq!(report.pushed, KEYS as u64, "round {round}");
    let renamed = format!("device {round} renamed");
    vault.rename_key(Some(ACCOUNT), name, &renamed).unwrap();
    let (incremental, report) = timed_sync(vault);
    assert_eq!(report.pushed, 1);
    vault.rename_key(Some(ACCOUNT), &renamed, name).unwrap();
    [first, incremental]
}

fn print(what: &str, times: &[Duration], budget: &str) {
    println!(
        "    {what:<32} median {}  (min {}, max {}){budget}",
        ms(median(times.to_vec())),
        ms(*times.iter().min().unwrap()),
        ms(*times.iter().max().unwrap())
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = support::desktop_vault(dir.path(), ACCOUNT, KEYS as u32 * 2);
    let names: Vec<String> = (0..KEYS).map(|i| format!("device {i:05}")).collect();
    vault
        .create_keys(Some(ACCOUNT), &names, &NewKey::default())
        .unwrap();

    let cluster = support::postgres::Cluster::start();
    let backends = ["sqlite", "postgresql"];
    // [backend][first, incremental] → one time per round.
    let mut times = vec![[Vec::new(), Vec::new()]; backends.len()];
    // The backends take turns in each round, so outside load hits both alike.
    for (number, name) in names.iter().take(ROUNDS).enumerate() {
        for (index, backend) in backends.iter().enumerate() {
            let server = match *backend {
                "sqlite" => Server::start(&[]),
                _ => Server::start_postgres(&cluster.database(&format!("sync{number}")), &[]),
            };
            for (part, took) in round(&mut vault, number, name, server)
                .into_iter()
                .enumerate()
            {
                times[index][part].push(took);
            }
        }
    }
    println!("sync over loopback, {KEYS} keys, {ROUNDS} rounds per backend, each against a new empty server (server, database and client share this machine's cores)");
    for (backend, [first, incremental]) in backends.iter().zip(&times) {
        println!("  {backend}");
        print(
            "first sync to an empty server:",
            first,
            "  budget ≤ 2000 ms",
        );
        print("incremental sync of one change:", incremental, "");
    }
    let median_of = |index: usize, part: usize| median(times[index][part].clone()).as_secs_f64();
    println!(
        "  postgresql / sqlite: first sync {:.2}×, incremental {:.2}×",
        median_of(1, 0) / median_of(0, 0),
        median_of(1, 1) / median_of(0, 1)
    );
}
