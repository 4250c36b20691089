//! Sync figures (BENCHMARKS.md, "Server"): the first sync of a vault holding
//! 10,000 keys to an empty `keyward-server` on loopback (budget ≤ 2 s), and
//! an incremental sync of one change. The real server binary and database
//! file, the real vault and sync client, as an administrator's desktop runs
//! them. Run with `cargo bench -p keyward-server --bench sync`.

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

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = support::desktop_vault(dir.path(), ACCOUNT, KEYS as u32 * 2);
    let names: Vec<String> = (0..KEYS).map(|i| format!("device {i:05}")).collect();
    vault
        .create_keys(Some(ACCOUNT), &names, &NewKey::default())
        .unwrap();

    let mut first = Vec::new();
    let mut incremental = Vec::new();
    for (round, name) in names.iter().take(ROUNDS).enumerate() {
        // A new, empty server each round; setting it queues the whole account.
        let server = Server::start(&[]);
        vault
            .set_remote(
                Some(ACCOUNT),
                &server.url,
                &SecretString::new(server.token(ACCOUNT)),
                false,
            )
            .unwrap();
        let (took, report) = timed_sync(&mut vault);
        assert_eq!(report.pushed, KEYS as u64, "round {round}");
        first.push(took);
        let renamed = format!("device {round} renamed");
        vault.rename_key(Some(ACCOUNT), name, &renamed).unwrap();
        let (took, report) = timed_sync(&mut vault);
        assert_eq!(report.pushed, 1);
        incremental.push(took);
        vault.rename_key(Some(ACCOUNT), &renamed, name).unwrap();
    }
    println!("sync over loopback, {KEYS} keys, {ROUNDS} rounds (server and client share this machine's cores)");
    println!(
        "  first sync to an empty server:  median {}  (min {}, max {})  budget ≤ 2000 ms",
        ms(median(first.clone())),
        ms(*first.iter().min().unwrap()),
        ms(*first.iter().max().unwrap())
    );
    println!(
        "  incremental sync of one change: median {}  (min {}, max {})",
        ms(median(incremental.clone())),
        ms(*incremental.iter().min().unwrap()),
        ms(*incremental.iter().max().unwrap())
    );
}
