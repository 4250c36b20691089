//! One storage conformance suite, run against both backends: SQLite (a file
//! in a temporary directory) and PostgreSQL (a throwaway cluster started for
//! the test). Every `Store` operation — tokens, pushes and their revisions,
//! replays, refusals, merges and notices, tombstones, pull paging, last-used
//! times, audit heads, verification lookups — must answer the same on both.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use keyward_model::key_format;
use keyward_model::wire::{
    AuditHead, Change, ChangeAction, GroupFields, KeyFields, KeyPermissions, Outcome, PulledRecord,
    Verifier,
};
use keyward_model::{AccessType, KeyStatus, Method, Request, Scope, VerifyResult};
use keyward_server::store::{PgStore, StoreError, SyncClient};
use keyward_server::verify::verify_key;
use keyward_server::{SqliteStore, Store};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn change(origin: &SyncClient, base: u64, action: ChangeAction) -> Change {
    Change {
        idempotency_id: Uuid::now_v7(),
        at: OffsetDateTime::now_utc(),
        origin: origin.origin,
        base_revision: base,
        action,
    }
}

fn new_key(name: &str, verifier: [u8; 32], groups: &[Uuid]) -> ChangeAction {
    ChangeAction::UpsertKey {
        id: Uuid::now_v7(),
        fields: Box::new(KeyFields {
            name: Some(name.into()),
            permissions: Some(KeyPermissions {
                access: AccessType::ReadWrite,
                allow_unbind: false,
                groups: groups.iter().copied().collect(),
            }),
            verifier: Some(Verifier(verifier)),
            hint: Some("kw_abcd…wxyz".into()),
            created_by: Some("test".into()),
            ..KeyFields::default()
        }),
    }
}

fn edit(id: Uuid, fields: KeyFields) -> ChangeAction {
    ChangeAction::UpsertKey {
        id,
        fields: Box::new(fields),
    }
}

fn set_status(id: Uuid, status: KeyStatus) -> ChangeAction {
    edit(
        id,
        KeyFields {
            status: Some(status),
            ..KeyFields::default()
        },
    )
}

async fn client(store: &dyn Store, account: &str, label: &str) -> SyncClient {
    let token = keyward_server::tokens::create(store, account, label)
        .await
        .unwrap();
    store
        .client_by_token(&key_format::verifier(token.token.expose()))
        .await
        .unwrap()
        .expect("a live token finds its desktop")
}

/// The whole suite, on one store.
async fn conformance(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store.check().await.unwrap();
    assert!(store.pool_status().size > 0);

    // Tokens: one per desktop, listed with labels, revocable.
    let a = client(store, "Acme", "laptop").await;
    let b = client(store, "Acme", "tablet").await;
    let globex = client(store, "Globex", "").await;
    assert_eq!(a.account, b.account, "two desktops of one account");
    assert_ne!(a.origin, b.origin, "told apart by their tokens");
    assert_ne!(a.account, globex.account);
    let listed = store.list_tokens().await.unwrap();
    let labels: Vec<&str> = listed.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["laptop", "tablet", ""]);
    let spare = keyward_server::tokens::create(store, "Acme", "spare")
        .await
        .unwrap();
    store.revoke_token(&spare.info.id).await.unwrap();
    assert_eq!(
        store
            .client_by_token(&key_format::verifier(spare.token.expose()))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.revoke_token("no-such-token").await,
        Err(StoreError::NotFound(_))
    ));

    // A group and a key: revisions per account, from 1.
    let group = Uuid::now_v7();
    let make_group = change(
        &a,
        0,
        ChangeAction::UpsertGroup {
            id: group,
            fields: GroupFields {
                name: Some("gates".into()),
                description: Some("front".into()),
                scopes: Some(vec!["devices:read".parse::<Scope>().unwrap()]),
            },
        },
    );
    let secret = key_format::generate("kw").unwrap();
    let make_key = change(&a, 0, new_key("gate 1", secret.verifier, &[group]));
    let key_id = make_key.action.id();
    let results = store
        .push(&a, &[make_group.clone(), make_key.clone()])
        .await
        .unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| (r.outcome, r.revision))
            .collect::<Vec<_>>(),
        [(Outcome::Applied, Some(1)), (Outcome::Applied, Some(2))]
    );
    let other = store
        .push(
            &globex,
            &[change(&globex, 0, new_key("kiosk", [3; 32], &[]))],
        )
        .await
        .unwrap();
    assert_eq!(
        other[0].revision,
        Some(1),
        "another account counts its own revisions"
    );

    // Verification lookups: by verifier, with the live groups' scopes.
    let grant = store
        .key_by_verifier(&secret.verifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.id, key_id.to_string());
    assert!(grant.active);
    assert_eq!(
        grant.scopes,
        Some(BTreeSet::from(["devices:read".parse().unwrap()]))
    );
    assert_eq!(store.key_by_verifier(&[9; 32]).await.unwrap(), None);

    // A replay answers its first result and changes nothing.
    let replay = store
        .push(&a, std::slice::from_ref(&make_key))
        .await
        .unwrap();
    assert_eq!(replay[0], results[1]);
    // The same id with other content, another account's record, a rule broken: refused alone.
    let mut forged = make_key.clone();
    forged.at += Duration::seconds(1);
    let takeover = change(&globex, 0, set_status(key_id, KeyStatus::Inactive));
    let unbind_on_read = change(
        &a,
        0,
        ChangeAction::UpsertKey {
            id: Uuid::now_v7(),
            fields: Box::new(KeyFields {
                name: Some("reader".into()),
                permissions: Some(KeyPermissions {
                    access: AccessType::Read,
                    allow_unbind: true,
                    groups: BTreeSet::new(),
                }),
                verifier: Some(Verifier([4; 32])),
                hint: Some("kw_abcd…wxyz".into()),
                ..KeyFields::default()
            }),
        },
    );
    let fine = change(
        &a,
        2,
        edit(
            key_id,
            KeyFields {
                description: Some(Some("north".into())),
                ..KeyFields::default()
            },
        ),
    );
    let answers = store
        .push(&a, &[forged, unbind_on_read.clone(), fine])
        .await
        .unwrap();
    assert_eq!(answers[0].outcome, Outcome::Refused);
    assert_eq!(answers[1].outcome, Outcome::Refused);
    assert_eq!(
        answers[2].outcome,
        Outcome::Applied,
        "the rest goes through"
    );
    assert_eq!(answers[2].revision, Some(3));
    assert_eq!(
        store.push(&a, &[unbind_on_read]).await.unwrap()[0],
        answers[1],
        "a refusal replays too"
    );
    let refused = store.push(&globex, &[takeover]).await.unwrap();
    assert_eq!(refused[0].outcome, Outcome::Refused);
    assert!(refused[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("another account"));

    // Concurrent edits by two desktops merge, and the one overridden is told on its pull.
    let deactivate = change(&a, 3, set_status(key_id, KeyStatus::Inactive));
    store.push(&a, &[deactivate]).await.unwrap();
    let activate = change(&b, 3, set_status(key_id, KeyStatus::Active));
    let merged = store.push(&b, &[activate]).await.unwrap();
    assert_eq!(
        merged[0].conflicts[0].kept, "inactive",
        "inactive beats active"
    );
    assert!(
        !store
            .key_by_verifier(&secret.verifier)
            .await
            .unwrap()
            .unwrap()
            .active
    );

    // A merge that overrides a value a desktop pushed before is told to that desktop.
    let rename_a = change(
        &a,
        5,
        edit(
            key_id,
            KeyFields {
                name: Some("north A".into()),
                ..KeyFields::default()
            },
        ),
    );
    store.push(&a, &[rename_a]).await.unwrap();
    let mut rename_b = change(
        &b,
        3,
        edit(
            key_id,
            KeyFields {
                name: Some("north B".into()),
                ..KeyFields::default()
            },
        ),
    );
    rename_b.at += Duration::seconds(5);
    let told_b = store.push(&b, &[rename_b]).await.unwrap();
    assert_eq!(
        told_b[0].conflicts[0].kept, "north B",
        "the later change wins"
    );
    let notices_a = store.pull(&a, 0, 100).await.unwrap().conflicts;
    assert_eq!(notices_a.len(), 1, "{notices_a:?}");
    assert_eq!(
        (notices_a[0].yours.as_str(), notices_a[0].kept.as_str()),
        ("north A", "north B")
    );
    assert!(
        store.pull(&b, 0, 100).await.unwrap().conflicts.is_empty(),
        "B was told in its push's answer"
    );
    let revision_of_b = told_b[0].revision.unwrap();
    assert!(
        store
            .pull(&a, revision_of_b, 100)
            .await
            .unwrap()
            .conflicts
            .is_empty(),
        "once per range"
    );

    // Deletes are tombstones; an edit after the delete changes nothing.
    let delete = change(&a, revision_of_b, ChangeAction::DeleteKey { id: key_id });
    store.push(&a, &[delete]).await.unwrap();
    assert_eq!(store.key_by_verifier(&secret.verifier).await.unwrap(), None);
    let late = change(
        &b,
        3,
        edit(
            key_id,
            KeyFields {
                name: Some("renamed".into()),
                ..KeyFields::default()
            },
        ),
    );
    assert_eq!(
        store.push(&b, &[late]).await.unwrap()[0].outcome,
        Outcome::AlreadyDeleted
    );
    let pulled = store.pull(&a, revision_of_b, 100).await.unwrap();
    assert!(pulled
        .changes
        .iter()
        .any(|c| c.id == key_id && c.record == PulledRecord::KeyDeleted));

    // A group deleted leaves its keys an empty scope set, never their access type alone.
    let member_secret = key_format::generate("kw").unwrap();
    store
        .push(
            &a,
            &[change(
                &a,
                0,
                new_key("member", member_secret.verifier, &[group]),
            )],
        )
        .await
        .unwrap();
    store
        .push(
            &a,
            &[change(&a, 0, ChangeAction::DeleteGroup { id: group })],
        )
        .await
        .unwrap();
    let member = store
        .key_by_verifier(&member_secret.verifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.scopes, Some(BTreeSet::new()));

    // Names stay unique: the second "gate 1" is numbered.
    let twin = store
        .push(&a, &[change(&a, 0, new_key("Gate 1", [5; 32], &[]))])
        .await
        .unwrap();
    let untaken = store
        .push(&a, &[change(&a, 0, new_key("member", [6; 32], &[]))])
        .await
        .unwrap();
    assert!(
        twin[0].conflicts.is_empty(),
        "gate 1 was deleted: its name is free"
    );
    assert_eq!(untaken[0].conflicts[0].kept, "member (2)");

    // Within one push, a change sees what the earlier ones did: a name freed
    // by a rename or a delete is free, one taken by an earlier create is not,
    // and a verifier used by an earlier create is refused.
    let (alpha, gamma) = (
        new_key("alpha", [40; 32], &[]),
        new_key("gamma", [41; 32], &[]),
    );
    let ids = |action: &ChangeAction| action.id();
    let (alpha_id, gamma_id) = (ids(&alpha), ids(&gamma));
    store
        .push(&a, &[change(&a, 0, alpha), change(&a, 0, gamma)])
        .await
        .unwrap();
    let base = store.pull(&a, 0, 1000).await.unwrap().cursor;
    let in_one_push = [
        change(
            &a,
            base,
            edit(
                alpha_id,
                KeyFields {
                    name: Some("beta".into()),
                    ..KeyFields::default()
                },
            ),
        ),
        change(&a, 0, new_key("Alpha", [42; 32], &[])),
        change(&a, base, ChangeAction::DeleteKey { id: gamma_id }),
        change(&a, 0, new_key("GAMMA", [43; 32], &[])),
        change(&a, 0, new_key("delta", [44; 32], &[])),
        change(&a, 0, new_key("Delta", [45; 32], &[])),
        change(&a, 0, new_key("epsilon", [45; 32], &[])),
        change(&a, 0, new_key("beta", [46; 32], &[])),
    ];
    let answers = store.push(&a, &in_one_push).await.unwrap();
    let outcomes: Vec<_> = answers.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Refused,
            Outcome::Applied,
        ]
    );
    let kept: Vec<Option<&str>> = answers
        .iter()
        .map(|r| r.conflicts.first().map(|c| c.kept.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            None,
            None,
            None,
            None,
            None,
            Some("Delta (2)"),
            None,
            Some("beta (2)")
        ],
        "names freed and taken earlier in the same push"
    );
    assert!(answers[6].reason.as_deref().unwrap().contains("verifier"));
    assert!(store.key_by_verifier(&[43; 32]).await.unwrap().is_some());
    assert!(store.key_by_verifier(&[41; 32]).await.unwrap().is_none());
    // A key made and changed in the same push: both apply, in order.
    let eta = new_key("eta", [48; 32], &[]);
    let eta_id = eta.id();
    let twice = store
        .push(
            &a,
            &[
                change(&a, 0, eta),
                change(&a, 0, set_status(eta_id, KeyStatus::Inactive)),
            ],
        )
        .await
        .unwrap();
    assert!(twice.iter().all(|r| r.outcome == Outcome::Applied));
    assert!(
        !store
            .key_by_verifier(&[48; 32])
            .await
            .unwrap()
            .unwrap()
            .active
    );

    // A group made and one deleted earlier in the push: a key joining both
    // is granted the first's scopes and nothing of the second's.
    let (made, doomed) = (Uuid::now_v7(), Uuid::now_v7());
    let group_of = |id: Uuid, name: &str, scope: &str| {
        change(
            &a,
            0,
            ChangeAction::UpsertGroup {
                id,
                fields: GroupFields {
                    name: Some(name.into()),
                    description: None,
                    scopes: Some(vec![scope.parse::<Scope>().unwrap()]),
                },
            },
        )
    };
    store
        .push(&a, &[group_of(doomed, "doomed", "doors:write")])
        .await
        .unwrap();
    let base = store.pull(&a, 0, 1000).await.unwrap().cursor;
    store
        .push(
            &a,
            &[
                group_of(made, "made", "lights:read"),
                change(&a, base, ChangeAction::DeleteGroup { id: doomed }),
                change(&a, 0, new_key("zeta", [47; 32], &[made, doomed])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .key_by_verifier(&[47; 32])
            .await
            .unwrap()
            .unwrap()
            .scopes,
        Some(BTreeSet::from(["lights:read".parse().unwrap()]))
    );

    // A roll as a desktop pushes it: the old key renamed and ending when its
    // grace does, its successor taking the name, in one push. Verification
    // answers VALID until then and EXPIRED after; another desktop that had not
    // pulled the roll and sets a later expiry loses to the earlier one.
    let (old_secret, new_secret) = (
        key_format::generate("kw").unwrap(),
        key_format::generate("kw").unwrap(),
    );
    let make_old = change(&a, 0, new_key("gate 2", old_secret.verifier, &[]));
    let old_id = make_old.action.id();
    let base = store.push(&a, &[make_old]).await.unwrap()[0]
        .revision
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let grace_end = OffsetDateTime::from_unix_timestamp(now.unix_timestamp() + 3600).unwrap();
    let roll = [
        change(
            &a,
            base,
            edit(
                old_id,
                KeyFields {
                    name: Some("gate 2 (replaced)".into()),
                    expires_at: Some(Some(grace_end)),
                    ..KeyFields::default()
                },
            ),
        ),
        change(&a, 0, new_key("gate 2", new_secret.verifier, &[])),
    ];
    let rolled = store.push(&a, &roll).await.unwrap();
    assert!(
        rolled
            .iter()
            .all(|r| r.outcome == Outcome::Applied && r.conflicts.is_empty()),
        "{rolled:?}"
    );
    let old = store
        .key_by_verifier(&old_secret.verifier)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((old.active, old.expires_at), (true, Some(grace_end)));
    let request = Request::new(Method::Get, "devices", false).unwrap();
    let decide = |secret: &key_format::GeneratedKey, at: OffsetDateTime| {
        let presented = secret.secret.expose().to_string();
        let request = request.clone();
        async move {
            verify_key(store, &presented, &request, at)
                .await
                .unwrap()
                .result
        }
    };
    assert_eq!(decide(&old_secret, now).await, VerifyResult::Valid);
    assert_eq!(
        decide(&old_secret, grace_end - Duration::seconds(1)).await,
        VerifyResult::Valid
    );
    assert_eq!(decide(&old_secret, grace_end).await, VerifyResult::Expired);
    assert_eq!(
        decide(&new_secret, grace_end + Duration::days(1)).await,
        VerifyResult::Valid,
        "the successor keeps the old key's own expiry (none)"
    );
    let mut extend = change(
        &b,
        base,
        edit(
            old_id,
            KeyFields {
                expires_at: Some(Some(grace_end + Duration::days(30))),
                ..KeyFields::default()
            },
        ),
    );
    extend.at += Duration::seconds(5);
    let extended = store.push(&b, &[extend]).await.unwrap();
    assert_eq!(
        extended[0]
            .conflicts
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        ["expires_at"],
        "{extended:?}"
    );
    assert_eq!(
        store
            .key_by_verifier(&old_secret.verifier)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Some(grace_end),
        "the earlier expiry wins, whichever change came later"
    );
    assert_eq!(decide(&old_secret, grace_end).await, VerifyResult::Expired);

    // Pulls page in revision order: pages joined are the whole pull.
    let whole = store.pull(&a, 0, 1000).await.unwrap();
    assert!(!whole.more);
    assert!(whole
        .changes
        .windows(2)
        .all(|w| w[0].revision < w[1].revision));
    let (mut cursor, mut paged) = (0, Vec::new());
    loop {
        let page = store.pull(&a, cursor, 2).await.unwrap();
        assert!(page.changes.len() <= 2);
        assert!(page.cursor > cursor || page.changes.is_empty());
        paged.extend(page.changes);
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    assert_eq!(paged, whole.changes);
    assert_eq!(
        store.pull(&globex, 0, 1000).await.unwrap().changes.len(),
        1,
        "each account its own"
    );

    // Last used: forward only; a new revision only when it moved on by minutes.
    let head = store.pull(&a, 0, 1000).await.unwrap().cursor;
    let at = OffsetDateTime::now_utc();
    let id = member.id.clone();
    let used = |at: OffsetDateTime| HashMap::from([(id.clone(), at)]);
    store.record_last_used(&used(at)).await.unwrap();
    let after = store.pull(&a, head, 1000).await.unwrap();
    assert_eq!(after.changes.len(), 1, "a first use is published");
    store
        .record_last_used(&used(at + Duration::minutes(1)))
        .await
        .unwrap();
    store
        .record_last_used(&used(at - Duration::hours(1)))
        .await
        .unwrap();
    assert!(store
        .pull(&a, after.cursor, 1000)
        .await
        .unwrap()
        .changes
        .is_empty());
    store
        .record_last_used(&used(at + Duration::minutes(7)))
        .await
        .unwrap();
    let later = store.pull(&a, after.cursor, 1000).await.unwrap();
    let Some(PulledRecord::Key(record)) = later.changes.first().map(|c| c.record.clone()) else {
        panic!("the use that moved far is published: {later:?}");
    };
    assert_eq!(
        record.last_used_at.unwrap().unix_timestamp(),
        (at + Duration::minutes(7)).unix_timestamp()
    );

    // Audit heads: the highest one a desktop showed, per desktop.
    let head = |seq: u64, byte: u8| AuditHead {
        seq,
        hash: hex::encode([byte; 32]),
    };
    assert_eq!(store.audit_head(&a).await.unwrap(), None);
    assert_eq!(
        store.record_audit_head(&a, &head(5, 1)).await.unwrap(),
        head(5, 1)
    );
    assert_eq!(
        store.record_audit_head(&a, &head(3, 2)).await.unwrap(),
        head(5, 1)
    );
    assert_eq!(
        store.record_audit_head(&a, &head(9, 3)).await.unwrap(),
        head(9, 3)
    );
    assert_eq!(store.audit_head(&b).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    conformance(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_conforms() {
    let cluster = support::postgres::Cluster::start();
    let url = cluster.database("keyward");
    let store = PgStore::connect(&url, 4).await.unwrap();
    conformance(Arc::new(store)).await;
}

/// Waits (up to a hang bound, polling) until `ready` holds.
async fn eventually(what: &str, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether the store finds the key with this verifier active.
async fn is_active(store: &dyn Store, verifier: &[u8; 32]) -> bool {
    store
        .key_by_verifier(verifier)
        .await
        .unwrap()
        .expect("the key is known")
        .active
}

/// Kept grants with several instances: a commit through one instance drops
/// what another kept, so a revocation holds on both; an instance that cannot
/// hear commits (its listening connection cut, no way back) keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_through_one_instance_drops_the_grants_another_kept() {
    let cluster = support::postgres::Cluster::start();
    let url = cluster.database("keyward");
    let one = PgStore::connect(&url, 4).await.unwrap();
    let two = PgStore::connect(&url, 4).await.unwrap();
    eventually("both instances listen", || {
        one.grants().is_hearing() && two.grants().is_hearing()
    })
    .await;

    let a = client(&one, "Acme", "laptop").await;
    let verifier = [5; 32];
    let create = change(&a, 0, new_key("gateway", verifier, &[]));
    let ChangeAction::UpsertKey { id, .. } = create.action else {
        unreachable!()
    };
    one.push(&a, &[create]).await.unwrap();
    // The create's own notification may reach the second instance after a
    // first lookup: look up until the grant stays kept.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(is_active(&two, &verifier).await);
        if two.grants().len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never kept");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(is_active(&two, &verifier).await);

    let deactivate = change(&a, 1, set_status(id, KeyStatus::Inactive));
    one.push(&a, &[deactivate]).await.unwrap();
    eventually("the second instance hears the commit", || {
        two.grants().is_empty()
    })
    .await;
    assert!(!is_active(&two, &verifier).await);
    assert!(!is_active(&one, &verifier).await);

    // The listening connections cut, and no new connection allowed: both
    // instances stop keeping grants, yet still answer from the database.
    cluster.sql("postgres", "ALTER DATABASE keyward ALLOW_CONNECTIONS false");
    cluster.sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'keyward-server listener'",
    );
    eventually("the instances stop hearing", || {
        !one.grants().is_hearing() && !two.grants().is_hearing()
    })
    .await;
    assert!(!is_active(&two, &verifier).await);
    assert_eq!(two.grants().len(), 0, "nothing is kept while deaf");

    cluster.sql("postgres", "ALTER DATABASE keyward ALLOW_CONNECTIONS true");
    eventually("the instances listen again", || {
        one.grants().is_hearing() && two.grants().is_hearing()
    })
    .await;
    assert!(!is_active(&two, &verifier).await);
    assert_eq!(two.grants().len(), 1);
}
