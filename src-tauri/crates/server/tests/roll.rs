//! Rotation under load: a device verifies its key through the real server in a
//! loop while a desktop rolls that key with a 5 s grace and syncs. The device
//! sees only VALID until the grace ends and EXPIRED after; the successor is
//! VALID from the sync that carried it; another desktop pulls both keys under
//! their own names. On SQLite, and on PostgreSQL with the desktops syncing
//! through one instance and the device verifying against another.

mod support;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_core::{KeySelection, NewKey, SecretString, Vault};
use keyward_sync::{sync, SyncOptions};
use support::postgres::Cluster;
use support::Server;
use time::OffsetDateTime;

const ACCOUNT: &str = "Acme";

/// One verification of the device: when it was sent, when answered, what it said.
#[derive(Debug, Clone)]
struct Sample {
    sent: OffsetDateTime,
    answered: OffsetDateTime,
    result: String,
}

fn synced(vault: &mut Vault) {
    let report = sync(&RefCell::new(vault), Some(ACCOUNT), &SyncOptions::default())
        .unwrap_or_else(|err| panic!("sync failed: {err}"));
    assert!(report.refused.is_empty(), "{report:?}");
}

fn desktop(server: &Server, dir: &std::path::Path) -> Vault {
    let mut vault = support::desktop_vault(dir, ACCOUNT, 10);
    let token = server.token_labelled(ACCOUNT, &format!("desk in {}", dir.display()));
    vault
        .set_remote(Some(ACCOUNT), &server.url, &SecretString::new(token), false)
        .unwrap();
    vault
}

async fn result(server: &Server, key: &str) -> String {
    server.verify(key, "GET", "devices").await["result"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_verifying_through_a_roll_sees_valid_until_the_grace_ends_then_expired() {
    let server = Arc::new(Server::start(&[]));
    device_through_a_roll(&server, Arc::clone(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_synced_through_one_postgres_instance_ends_on_another_when_the_grace_does() {
    let cluster = Cluster::start();
    let url = cluster.database("keyward");
    let desks = Server::start_postgres(&url, &[]);
    let device = Arc::new(Server::start_postgres(&url, &[]));
    device_through_a_roll(&desks, device).await;
}

/// Desktops sync with `server`; the device verifies against `device_server` (the
/// same server, or another instance on its database).
async fn device_through_a_roll(server: &Server, device_server: Arc<Server>) {
    let (here, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut vault = desktop(server, here.path());
    let created = vault
        .create_key(Some(ACCOUNT), "gate", &NewKey::default())
        .unwrap();
    tokio::task::block_in_place(|| synced(&mut vault));
    let old_key = created.secret.expose().to_string();
    assert_eq!(result(&device_server, &old_key).await, "VALID");

    // The device: verifies as fast as the server answers until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let device = {
        let (server, stop, samples, key) = (
            Arc::clone(&device_server),
            Arc::clone(&stop),
            Arc::clone(&samples),
            old_key.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent = OffsetDateTime::now_utc();
                let result = result(&server, &key).await;
                let answered = OffsetDateTime::now_utc();
                samples.lock().unwrap().push(Sample {
                    sent,
                    answered,
                    result,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let outcome = vault
        .roll_keys(
            Some(ACCOUNT),
            &KeySelection::Keys(vec!["gate".into()]),
            time::Duration::seconds(5),
        )
        .unwrap();
    let rolled = &outcome.rolled[0];
    let grace_end = rolled.replaced.expires_at.unwrap();
    let new_key = rolled.successor.secret.expose().to_string();
    assert_eq!(
        result(&device_server, &new_key).await,
        "NOT_FOUND",
        "the server knows the successor only from the sync"
    );
    tokio::task::block_in_place(|| synced(&mut vault));
    assert_eq!(
        result(&device_server, &new_key).await,
        "VALID",
        "the successor works from its first sync"
    );
    let synced_at = OffsetDateTime::now_utc();
    assert!(synced_at < grace_end, "the sync took most of the grace");

    // Past the grace, and a little more.
    let wait = (grace_end - OffsetDateTime::now_utc()) + time::Duration::milliseconds(1500);
    tokio::time::sleep(Duration::from_millis(
        wait.whole_milliseconds().max(0) as u64
    ))
    .await;
    stop.store(true, Ordering::Relaxed);
    device.await.unwrap();
    assert_eq!(result(&device_server, &new_key).await, "VALID");

    let samples = samples.lock().unwrap().clone();
    let mut within = 0;
    let mut after = 0;
    for sample in &samples {
        if sample.answered < grace_end {
            assert_eq!(sample.result, "VALID", "within the grace: {sample:?}");
            within += 1;
        } else if sample.sent >= grace_end {
            assert_eq!(sample.result, "EXPIRED", "after the grace: {sample:?}");
            after += 1;
        } else {
            assert!(
                ["VALID", "EXPIRED"].contains(&sample.result.as_str()),
                "{sample:?}"
            );
        }
    }
    let during_roll = samples
        .iter()
        .filter(|s| s.sent >= synced_at && s.answered < grace_end)
        .count();
    assert!(
        within > 50 && during_roll > 20 && after > 10,
        "enough samples: {within} within the grace ({during_roll} after the roll synced), {after} after"
    );

    // Another desktop pulls the roll: both keys, each under its own name.
    let mut other = desktop(server, elsewhere.path());
    tokio::task::block_in_place(|| synced(&mut other));
    let mut names: Vec<String> = other
        .list_keys(Some(ACCOUNT), &Default::default())
        .unwrap()
        .into_iter()
        .map(|key| key.name)
        .collect();
    names.sort();
    assert_eq!(names, ["gate", "gate (replaced)"]);
    let pulled = other.key(Some(ACCOUNT), "gate (replaced)").unwrap();
    assert_eq!(pulled.expires_at, Some(grace_end));
}
