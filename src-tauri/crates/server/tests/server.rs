//! keyward-server end to end: the real binary on a loopback port, a real
//! database file, a real HTTP client. Records reach the server only through
//! the sync API, as a desktop would push them.

mod support;

use serde_json::{json, Value};
use support::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn results(reply: &Value) -> Vec<(String, Option<u64>)> {
    reply["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["revision"].as_u64(),
            )
        })
        .collect()
}

fn find(pull: &Value, id: Uuid) -> Vec<&Value> {
    pull["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == json!(id))
        .collect()
}

#[tokio::test]
async fn verify_answers_every_result_by_the_core_rules() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let (gates, readers) = (Uuid::now_v7(), Uuid::now_v7());
    let keys: Vec<_> = (0..7).map(|_| new_key()).collect();
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    let past = rfc3339(OffsetDateTime::now_utc() - Duration::hours(1));
    let future = rfc3339(OffsetDateTime::now_utc() + Duration::days(30));
    server
        .push_ok(
            &token,
            &[
                change(
                    "group",
                    "upsert",
                    gates,
                    Some(json!({"name": "gates", "scopes": ["devices:read", "devices:write"]})),
                ),
                change(
                    "group",
                    "upsert",
                    readers,
                    Some(json!({"name": "readers", "scopes": ["passings:read"]})),
                ),
                create_key(
                    ids[0],
                    "admin",
                    &keys[0],
                    json!({"access": "READ_WRITE", "expires_at": future}),
                ),
                create_key(ids[1], "off", &keys[1], json!({"status": "inactive"})),
                create_key(ids[2], "old", &keys[2], json!({"expires_at": past})),
                create_key(ids[3], "reader", &keys[3], json!({"access": "READ"})),
                create_key(
                    ids[4],
                    "gate",
                    &keys[4],
                    json!({"access": "READ_WRITE", "groups": [gates, readers]}),
                ),
                create_key(
                    ids[5],
                    "device",
                    &keys[5],
                    json!({"access": "WRITE", "allow_unbind": true}),
                ),
            ],
        )
        .await;
    let result = |v: &Value| {
        (
            v["result"].as_str().unwrap().to_string(),
            v["key_id"].as_str().map(str::to_string),
        )
    };
    let id = |n: usize| Some(ids[n].to_string());

    assert_eq!(
        result(
            &server
                .verify(keys[0].secret.expose(), "DELETE", "sessions")
                .await
        ),
        ("VALID".into(), id(0))
    );
    assert_eq!(
        result(&server.verify("kw_short", "GET", "devices").await),
        ("MALFORMED".into(), None)
    );
    let mut typo = keys[0].secret.expose().to_string();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    assert_eq!(
        result(&server.verify(&typo, "GET", "devices").await),
        ("MALFORMED".into(), None),
        "checksum"
    );
    assert_eq!(
        result(
            &server
                .verify(keys[6].secret.expose(), "GET", "devices")
                .await
        ),
        ("NOT_FOUND".into(), None)
    );
    assert_eq!(
        result(
            &server
                .verify(keys[1].secret.expose(), "GET", "devices")
                .await
        ),
        ("DISABLED".into(), id(1))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[2].secret.expose(), "GET", "devices")
                .await
        ),
        ("EXPIRED".into(), id(2))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[3].secret.expose(), "GET", "devices")
                .await
        ),
        ("VALID".into(), id(3))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[3].secret.expose(), "POST", "devices")
                .await
        ),
        ("FORBIDDEN".into(), id(3))
    );
    // Groups narrow a key to the union of their scopes.
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "POST", "devices")
                .await
        ),
        ("VALID".into(), id(4))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "GET", "passings")
                .await
        ),
        ("VALID".into(), id(4))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "POST", "passings")
                .await
        ),
        ("FORBIDDEN".into(), id(4))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "GET", "sessions")
                .await
        ),
        ("FORBIDDEN".into(), id(4))
    );
    // A DELETE on devices is an unbind: only with allow-unbind.
    assert_eq!(
        result(
            &server
                .verify(keys[5].secret.expose(), "DELETE", "devices")
                .await
        ),
        ("VALID".into(), id(5))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[0].secret.expose(), "DELETE", "devices")
                .await
        ),
        ("FORBIDDEN".into(), id(0))
    );
    assert_eq!(
        result(
            &server
                .verify(keys[5].secret.expose(), "GET", "devices")
                .await
        ),
        ("FORBIDDEN".into(), id(5))
    );

    // Deleting a group never widens a key: the gate key keeps only the readers' scope.
    server
        .push_ok(&token, &[change("group", "delete", gates, None)])
        .await;
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "POST", "devices")
                .await
        ),
        ("FORBIDDEN".into(), id(4))
    );
    server
        .push_ok(&token, &[change("group", "delete", readers, None)])
        .await;
    assert_eq!(
        result(
            &server
                .verify(keys[4].secret.expose(), "GET", "passings")
                .await
        ),
        ("FORBIDDEN".into(), id(4))
    );
    // Deactivating and deleting through sync take effect at once.
    server
        .push_ok(
            &token,
            &[change(
                "key",
                "upsert",
                ids[3],
                Some(json!({"status": "inactive"})),
            )],
        )
        .await;
    assert_eq!(
        result(
            &server
                .verify(keys[3].secret.expose(), "GET", "devices")
                .await
        ),
        ("DISABLED".into(), id(3))
    );
    server
        .push_ok(&token, &[change("key", "delete", ids[0], None)])
        .await;
    assert_eq!(
        result(
            &server
                .verify(keys[0].secret.expose(), "GET", "devices")
                .await
        ),
        ("NOT_FOUND".into(), None)
    );
}

#[tokio::test]
async fn a_replayed_push_is_applied_once_and_answers_the_same() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let (group, key_id, key) = (Uuid::now_v7(), Uuid::now_v7(), new_key());
    let batch = vec![
        change(
            "group",
            "upsert",
            group,
            Some(json!({"name": "gates", "scopes": ["devices:write"]})),
        ),
        create_key(key_id, "gate 1", &key, json!({"groups": [group]})),
    ];
    let first = server.push(&token, &batch).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        results(&first.json()),
        vec![("applied".into(), Some(1)), ("applied".into(), Some(2))]
    );
    let pulled = server.pull(&token, 0).await;

    // The same batch again, as after a response lost on the way: the same answer, nothing new.
    let again = server.push(&token, &batch).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body, first.body,
        "a replay answers exactly the first result"
    );
    assert_eq!(server.pull(&token, 0).await, pulled);

    // A replay mixed with a new change: the old one answers as before, the new one applies.
    let rename = change("key", "upsert", key_id, Some(json!({"name": "gate one"})));
    let mixed = server
        .push_ok(&token, &[batch[1].clone(), rename.clone(), rename])
        .await;
    assert_eq!(
        results(&mixed),
        vec![
            ("applied".into(), Some(2)),
            ("applied".into(), Some(3)),
            ("applied".into(), Some(3))
        ],
        "an id repeated within one batch is applied once too"
    );
    let pulled = server.pull(&token, 0).await;
    assert_eq!(pulled["cursor"], 3);
    assert_eq!(find(&pulled, key_id)[0]["key"]["name"], "gate one");

    // An idempotency id reused for different content is refused alone: the
    // rest of its batch goes through (one bad change never holds back others).
    let mut forged = batch[1].clone();
    forged["key"]["name"] = json!("something else");
    let extra_id = Uuid::now_v7();
    let extra = change("group", "upsert", extra_id, Some(json!({"name": "extra"})));
    let answer = server.push_ok(&token, &[extra, forged]).await;
    assert_eq!(answer["results"][0]["outcome"], "applied", "{answer}");
    assert_eq!(answer["results"][1]["outcome"], "refused", "{answer}");
    assert!(
        answer["results"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("already used for a different change"),
        "{answer}"
    );
    let after = server.pull(&token, 0).await;
    assert_eq!(
        find(&after, key_id)[0]["key"]["name"],
        "gate one",
        "the forged change changed nothing"
    );
    assert_eq!(
        find(&after, extra_id).len(),
        1,
        "the other change was applied"
    );
}

#[tokio::test]
async fn a_pull_after_a_use_brings_its_last_used_time() {
    // The timer alone would take ten minutes: only the flush before a pull can deliver the use.
    let server = Server::start(&["--flush-interval-ms", "600000"]);
    let token = server.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&token, &[create_key(id, "kiosk", &key, json!({}))])
        .await;
    let before = server.pull(&token, 0).await;
    assert_eq!(
        find(&before, id)[0]["key"]["last_used_at"],
        Value::Null,
        "never used"
    );
    let cursor = before["cursor"].as_u64().unwrap();

    assert_eq!(
        server.verify(key.secret.expose(), "POST", "passings").await["result"],
        "VALID"
    );
    let after = server.pull(&token, cursor).await;
    let used = find(&after, id);
    assert_eq!(
        used.len(),
        1,
        "the use comes as a change after the cursor: {after}"
    );
    let at = OffsetDateTime::parse(
        used[0]["key"]["last_used_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((OffsetDateTime::now_utc() - at).abs() < Duration::seconds(30));
    let cursor = after["cursor"].as_u64().unwrap();
    assert!(cursor > before["cursor"].as_u64().unwrap());

    // A failed verification is no use.
    assert_eq!(
        server
            .verify(key.secret.expose(), "DELETE", "devices")
            .await["result"],
        "FORBIDDEN"
    );
    assert_eq!(
        server
            .verify(new_key().secret.expose(), "GET", "devices")
            .await["result"],
        "NOT_FOUND"
    );
    assert_eq!(
        server.pull(&token, cursor).await["changes"],
        json!([]),
        "nothing new since"
    );

    // A use still in the buffer at a graceful stop is written before the
    // server exits — without a new revision: a key used again within minutes
    // is not handed out again to every desktop.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "devices").await["result"],
        "VALID"
    );
    let server = server.restart(&["--flush-interval-ms", "600000"]);
    assert_eq!(
        server.pull(&token, cursor).await["changes"],
        json!([]),
        "a busy key takes no new revision"
    );
    let everything = server.pull(&token, 0).await;
    let later = OffsetDateTime::parse(
        find(&everything, id)[0]["key"]["last_used_at"]
            .as_str()
            .unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(later > at, "the use survived the stop: {everything}");
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    server.pull(&token, 0).await;
    let list = run(server.dir.path(), &["token", "list", "--json"]);
    assert!(list.status.success());
    let tokens: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    let token_id = tokens[0]["id"].as_str().unwrap().to_string();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&token),
        "a listing never shows a token"
    );

    let revoke = run(server.dir.path(), &["token", "revoke", &token_id]);
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let bearer = format!("Bearer {token}");
    let pull = server
        .send("GET", "/v1/sync/pull", &[("authorization", &bearer)], None)
        .await;
    assert_eq!((pull.status, pull.kind().as_str()), (401, "unauthorized"));
    assert_eq!(pull.headers.get("www-authenticate").unwrap(), "Bearer");
    let push = server
        .push(
            &token,
            &[change(
                "group",
                "upsert",
                Uuid::now_v7(),
                Some(json!({"name": "g"})),
            )],
        )
        .await;
    assert_eq!((push.status, push.kind().as_str()), (401, "unauthorized"));

    let listed: Value =
        serde_json::from_slice(&run(server.dir.path(), &["token", "list", "--json"]).stdout)
            .unwrap();
    assert!(listed[0]["revoked_at"].is_string());
    let unknown = run(server.dir.path(), &["token", "revoke", "no-such-id"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&unknown.stderr).lines().count(), 1);

    // A second token of the same account works, and sees what the account has.
    let other = server.token("acme");
    assert_eq!(server.pull(&other, 0).await["changes"], json!([]));
}

/// One instance serves a SQLite file (it keeps grants in memory because it
/// makes every commit): a second is refused, with a clear message, and leaves
/// the first serving; token commands still work beside it; once the first
/// stops, another may serve the file.
#[tokio::test]
async fn one_instance_serves_a_sqlite_file() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let key = new_key();
    let id = Uuid::now_v7();
    server
        .push_ok(&token, &[create_key(id, "gateway", &key, json!({}))])
        .await;
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "a").await["result"],
        "VALID"
    );
    let metrics = server.send("GET", "/metrics", &[], None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("\nkeyward_grants_kept 1\n"), "{text}");
    assert!(text.contains("\nkeyward_grants_hearing 1\n"), "{text}");

    let mut child = std::process::Command::new(BIN)
        .arg("--db")
        .arg(db_path(server.dir.path()))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a second instance serves the same SQLite file");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another keyward-server is serving") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(second.stdout.is_empty(), "the second never listened");

    let listed = run(server.dir.path(), &["token", "list", "--json"]);
    assert!(listed.status.success());
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "a").await["result"],
        "VALID"
    );

    let server = server.restart(&[]);
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "a").await["result"],
        "VALID"
    );
}

#[tokio::test]
async fn accounts_see_and_change_only_their_own_records() {
    let server = Server::start(&[]);
    let (acme, globex) = (server.token("Acme"), server.token("Globex"));
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&acme, &[create_key(id, "kiosk", &key, json!({}))])
        .await;
    assert_eq!(server.pull(&globex, 0).await["changes"], json!([]));
    for takeover in [
        change("key", "delete", id, None),
        change("key", "upsert", id, Some(json!({"status": "active"}))),
    ] {
        let answer = server.push_ok(&globex, &[takeover]).await;
        assert_eq!(answer["results"][0]["outcome"], "refused", "{answer}");
        assert!(
            answer["results"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("another account"),
            "{answer}"
        );
    }
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "devices").await["result"],
        "VALID"
    );
}

#[tokio::test]
async fn pulls_page_in_revision_order_with_patches_and_tombstones() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let group = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let mut batch = vec![change(
        "group",
        "upsert",
        group,
        Some(json!({"name": "gates", "description": "front"})),
    )];
    batch.extend(
        ids.iter()
            .enumerate()
            .map(|(n, id)| create_key(*id, &format!("key {n}"), &new_key(), json!({}))),
    );
    server.push_ok(&token, &batch).await;
    // Two patches of different fields both hold; a delete leaves a tombstone.
    server
        .push_ok(
            &token,
            &[
                change("key", "upsert", ids[1], Some(json!({"name": "renamed"}))),
                change(
                    "key",
                    "upsert",
                    ids[1],
                    Some(json!({"status": "inactive", "description": "spare"})),
                ),
                change(
                    "group",
                    "upsert",
                    group,
                    Some(json!({"scopes": ["devices:read"]})),
                ),
                change("key", "delete", ids[2], None),
            ],
        )
        .await;
    // Deleted beats edited: a late edit of the deleted key changes nothing.
    let late = server
        .push_ok(
            &token,
            &[change(
                "key",
                "upsert",
                ids[2],
                Some(json!({"name": "back?"})),
            )],
        )
        .await;
    assert_eq!(results(&late), vec![("already_deleted".into(), None)]);

    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let bearer = format!("Bearer {token}");
        let page = server
            .send(
                "GET",
                &format!("/v1/sync/pull?since={since}&limit=2"),
                &[("authorization", &bearer)],
                None,
            )
            .await
            .json();
        let changes = page["changes"].as_array().unwrap();
        assert!(changes.len() <= 2);
        for change in changes {
            let revision = change["revision"].as_u64().unwrap();
            assert!(revision > since, "revisions only increase");
            since = revision;
            seen.push(change.clone());
        }
        assert_eq!(page["cursor"].as_u64().unwrap(), since);
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        6,
        "each record once, in its latest state: {seen:#?}"
    );
    let latest = |id: Uuid| seen.iter().find(|c| c["id"] == json!(id)).unwrap().clone();
    let renamed = latest(ids[1]);
    assert_eq!(renamed["key"]["name"], "renamed");
    assert_eq!(renamed["key"]["status"], "inactive");
    assert_eq!(renamed["key"]["description"], "spare");
    assert_eq!(renamed["key"]["access"], "READ_WRITE");
    assert_eq!(latest(ids[2])["op"], "delete");
    assert!(latest(ids[2]).get("key").is_none());
    let gates = latest(group);
    assert_eq!(
        (
            gates["group"]["description"].clone(),
            gates["group"]["scopes"].clone()
        ),
        (json!("front"), json!(["devices:read"]))
    );
}

/// One bad request: what is sent and what must come back.
struct Bad {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    token: bool,
    body: Vec<u8>,
    status: u16,
    kind: &'static str,
}

fn bad(
    what: &'static str,
    path: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    kind: &'static str,
) -> Bad {
    Bad {
        what,
        method: "POST",
        path,
        content_type: Some("application/json"),
        token: true,
        body: body.into(),
        status,
        kind,
    }
}

fn push_body(changes: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "changes": changes })).unwrap()
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_json_error_and_change_nothing() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&token, &[create_key(id, "kiosk", &key, json!({}))])
        .await;
    let baseline = server.pull(&token, 0).await;

    let group = |fields: Value| change("group", "upsert", Uuid::now_v7(), Some(fields));
    let fresh_key = |fields: Value| create_key(Uuid::now_v7(), "new", &new_key(), fields);
    let mut unknown_change_field = fresh_key(json!({}));
    unknown_change_field["colour"] = json!("red");
    let mut wrong_type = fresh_key(json!({}));
    wrong_type["id"] = json!(42);
    let mut missing = fresh_key(json!({}));
    missing.as_object_mut().unwrap().remove("idempotency_id");
    let mut negative_base = fresh_key(json!({}));
    negative_base["base_revision"] = json!(-1);
    let mut no_verifier = fresh_key(json!({}));
    no_verifier["key"]
        .as_object_mut()
        .unwrap()
        .remove("verifier");
    let oversized = push_body(json!([group(
        json!({"name": "big", "description": "x".repeat(9 * 1024 * 1024)})
    )]));
    let too_many: Vec<Value> = (0..10_001).map(|_| json!({"idempotency_id": Uuid::now_v7(), "at": now(), "origin": Uuid::nil(), "entity": "group", "op": "delete", "id": Uuid::now_v7()})).collect();
    let verify = |body: Value| serde_json::to_vec(&body).unwrap();
    let a_key = key.secret.expose();

    let table = vec![
        bad(
            "push: not JSON",
            "/v1/sync/push",
            "{\"changes\": [",
            400,
            "malformed_json",
        ),
        bad(
            "push: empty body",
            "/v1/sync/push",
            "",
            400,
            "malformed_json",
        ),
        bad(
            "push: unknown top-level field",
            "/v1/sync/push",
            r#"{"changes": [], "force": true}"#,
            422,
            "invalid_request",
        ),
        bad(
            "push: changes is not a list",
            "/v1/sync/push",
            r#"{"changes": {}}"#,
            422,
            "invalid_request",
        ),
        bad(
            "push: unknown field of a change",
            "/v1/sync/push",
            push_body(json!([unknown_change_field])),
            422,
            "invalid_request",
        ),
        bad(
            "push: unknown field of a key",
            "/v1/sync/push",
            push_body(json!([fresh_key(json!({"owner": "me"}))])),
            422,
            "invalid_request",
        ),
        bad(
            "push: wrong type",
            "/v1/sync/push",
            push_body(json!([wrong_type])),
            422,
            "invalid_request",
        ),
        bad(
            "push: missing idempotency id",
            "/v1/sync/push",
            push_body(json!([missing])),
            422,
            "invalid_request",
        ),
        bad(
            "push: part of a key's permissions",
            "/v1/sync/push",
            push_body(json!([change(
                "key",
                "upsert",
                id,
                Some(json!({"access": "READ"}))
            )])),
            400,
            "invalid_request",
        ),
        bad(
            "push: negative base revision",
            "/v1/sync/push",
            push_body(json!([negative_base])),
            422,
            "invalid_request",
        ),
        bad(
            "push: delete with fields",
            "/v1/sync/push",
            push_body(json!([change(
                "key",
                "delete",
                id,
                Some(json!({"name": "x"}))
            )])),
            422,
            "invalid_request",
        ),
        bad(
            "push: new key without verifier",
            "/v1/sync/push",
            push_body(json!([no_verifier])),
            200,
            "refused",
        ),
        bad(
            "push: READ key with unbind",
            "/v1/sync/push",
            push_body(json!([fresh_key(
                json!({"access": "READ", "allow_unbind": true})
            )])),
            200,
            "refused",
        ),
        bad(
            "push: a full key as a name",
            "/v1/sync/push",
            push_body(json!([fresh_key(json!({"name": a_key}))])),
            200,
            "refused",
        ),
        bad(
            "push: a full key as a hint",
            "/v1/sync/push",
            push_body(json!([change(
                "key",
                "upsert",
                id,
                Some(json!({"hint": a_key}))
            )])),
            200,
            "refused",
        ),
        bad(
            "push: invalid scope",
            "/v1/sync/push",
            push_body(json!([group(
                json!({"name": "g", "scopes": ["devices:admin"]})
            )])),
            422,
            "invalid_request",
        ),
        bad(
            "push: changing a verifier",
            "/v1/sync/push",
            push_body(json!([change(
                "key",
                "upsert",
                id,
                Some(json!({"verifier": hex::encode([1u8; 32])}))
            )])),
            200,
            "refused",
        ),
        bad(
            "push: oversized body",
            "/v1/sync/push",
            oversized,
            413,
            "too_large",
        ),
        bad(
            "push: too many changes",
            "/v1/sync/push",
            push_body(json!(too_many)),
            413,
            "too_large",
        ),
        Bad {
            content_type: None,
            ..bad(
                "push: no content type",
                "/v1/sync/push",
                push_body(json!([group(json!({"name": "g"}))])),
                415,
                "unsupported_media_type",
            )
        },
        Bad {
            token: false,
            ..bad(
                "push: no token",
                "/v1/sync/push",
                push_body(json!([group(json!({"name": "g"}))])),
                401,
                "unauthorized",
            )
        },
        bad(
            "verify: not JSON",
            "/v1/verify",
            "key=kw_x",
            400,
            "malformed_json",
        ),
        bad(
            "verify: unknown field",
            "/v1/verify",
            verify(json!({"key": a_key, "method": "GET", "resource": "devices", "scope": "all"})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: missing method",
            "/v1/verify",
            verify(json!({"key": a_key, "resource": "devices"})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: wrong type",
            "/v1/verify",
            verify(json!({"key": a_key, "method": "GET", "resource": "devices", "unbind": "yes"})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: unknown method",
            "/v1/verify",
            verify(json!({"key": a_key, "method": "TRACE", "resource": "devices"})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: invalid resource",
            "/v1/verify",
            verify(json!({"key": a_key, "method": "GET", "resource": a_key})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: unbind that is no DELETE",
            "/v1/verify",
            verify(json!({"key": a_key, "method": "GET", "resource": "devices", "unbind": true})),
            422,
            "invalid_request",
        ),
        bad(
            "verify: oversized body",
            "/v1/verify",
            verify(json!({"key": "x".repeat(8 * 1024), "method": "GET", "resource": "devices"})),
            413,
            "too_large",
        ),
        Bad {
            method: "GET",
            ..bad(
                "pull: cursor is not a number",
                "/v1/sync/pull?since=abc",
                "",
                400,
                "invalid_request",
            )
        },
        Bad {
            method: "GET",
            ..bad(
                "pull: unknown parameter",
                "/v1/sync/pull?since=0&all=1",
                "",
                400,
                "invalid_request",
            )
        },
        Bad {
            method: "GET",
            ..bad(
                "pull: limit 0",
                "/v1/sync/pull?limit=0",
                "",
                400,
                "invalid_request",
            )
        },
        Bad {
            method: "GET",
            token: false,
            ..bad("pull: no token", "/v1/sync/pull", "", 401, "unauthorized")
        },
        Bad {
            method: "GET",
            ..bad("no such endpoint", "/v1/keys", "", 404, "not_found")
        },
        Bad {
            method: "PUT",
            ..bad("wrong method", "/v1/verify", "", 405, "method_not_allowed")
        },
    ];

    let bearer = format!("Bearer {token}");
    for case in table {
        let mut headers = Vec::new();
        if let Some(content_type) = case.content_type {
            headers.push(("content-type", content_type));
        }
        if case.token {
            headers.push(("authorization", bearer.as_str()));
        }
        let reply = server
            .send(case.method, case.path, &headers, Some(case.body))
            .await;
        assert_eq!(
            reply.status,
            case.status,
            "{}: {}",
            case.what,
            String::from_utf8_lossy(&reply.body)
        );
        // A change the rules refuse is answered on its own, the push is not.
        let (kind, message) = if case.status == 200 {
            let result = reply.json()["results"][0].clone();
            (result["outcome"].clone(), result["reason"].clone())
        } else {
            let error = reply.json();
            (error["kind"].clone(), error["message"].clone())
        };
        assert_eq!(kind, case.kind, "{}: {kind}", case.what);
        assert!(
            message.as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            case.what
        );
        assert!(
            !String::from_utf8_lossy(&reply.body).contains(a_key),
            "{}: the key came back",
            case.what
        );
    }
    assert_eq!(
        server.pull(&token, 0).await,
        baseline,
        "no bad request changed anything"
    );
    assert_eq!(
        server.verify(a_key, "GET", "devices").await["result"],
        "VALID"
    );
}

#[tokio::test]
async fn failed_verifications_are_rate_limited_per_address() {
    let server = Server::start(&[
        "--verify-failure-burst",
        "3",
        "--verify-failures-per-second",
        "0.01",
    ]);
    let token = server.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&token, &[create_key(id, "kiosk", &key, json!({}))])
        .await;
    // Many valid verifications at once from one address (devices behind one
    // NAT): more than the failure burst, and none refused.
    let mut at_once = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (addr, secret) = (server.addr, key.secret.expose().to_string());
        at_once.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let body =
                json!({"key": secret, "method": "GET", "resource": "devices", "unbind": false});
            let headers = [("content-type", "application/json")];
            let reply = support::exchange(
                hyper_util::rt::TokioIo::new(stream),
                "POST",
                "/v1/verify",
                &headers,
                Some(body.to_string().into_bytes()),
            )
            .await;
            reply.json()["result"].clone()
        });
    }
    for answer in at_once.join_all().await {
        assert_eq!(answer, "VALID", "successes cost nothing");
    }
    for _ in 0..3 {
        assert_eq!(
            server
                .verify(new_key().secret.expose(), "GET", "devices")
                .await["result"],
            "NOT_FOUND"
        );
    }
    let body = serde_json::to_vec(
        &json!({"key": new_key().secret.expose(), "method": "GET", "resource": "devices"}),
    )
    .unwrap();
    let limited = server
        .send(
            "POST",
            "/v1/verify",
            &[("content-type", "application/json")],
            Some(body),
        )
        .await;
    assert_eq!(
        (limited.status, limited.kind().as_str()),
        (429, "rate_limited")
    );
    let retry_after: u64 = limited
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry_after), "{retry_after}");
    // Its failures are refused for now; a valid key from the same address
    // (a working device behind the same NAT) still verifies, and sync is not affected.
    let valid = server
        .post_json(
            "/v1/verify",
            None,
            &json!({"key": key.secret.expose(), "method": "GET", "resource": "devices"}),
        )
        .await;
    assert_eq!(
        (valid.status, valid.json()["result"].clone()),
        (200, json!("VALID"))
    );
    let again = server
        .post_json(
            "/v1/verify",
            None,
            &json!({"key": new_key().secret.expose(), "method": "GET", "resource": "devices"}),
        )
        .await;
    assert_eq!(again.status, 429, "a failure is still refused");
    server.pull(&token, 0).await;
}

#[tokio::test]
async fn no_key_or_token_reaches_the_database_the_logs_or_the_responses() {
    let mut server = Server::start(&["--log-level", "debug"]);
    let token = server.token("Acme");
    let keys: Vec<_> = (0..3).map(|_| new_key()).collect();
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    server
        .push_ok(
            &token,
            &[
                create_key(ids[0], "door", &keys[0], json!({})),
                create_key(
                    ids[1],
                    "gate",
                    &keys[1],
                    json!({"access": "READ", "status": "inactive"}),
                ),
            ],
        )
        .await;
    for key in &keys {
        for (method, resource) in [("GET", "devices"), ("POST", "sessions")] {
            server.verify(key.secret.expose(), method, resource).await;
        }
        // Keys where they do not belong: in a resource, in a name, in a URL.
        let misplaced =
            json!({"key": key.secret.expose(), "method": "GET", "resource": key.secret.expose()});
        assert_eq!(
            server
                .post_json("/v1/verify", None, &misplaced)
                .await
                .status,
            422
        );
        let refused = server
            .push_ok(
                &token,
                &[create_key(
                    Uuid::now_v7(),
                    key.secret.expose(),
                    &new_key(),
                    json!({}),
                )],
            )
            .await;
        assert_eq!(refused["results"][0]["outcome"], "refused", "{refused}");
        assert_eq!(
            server
                .send(
                    "GET",
                    &format!("/v1/verify/{}", key.secret.expose()),
                    &[],
                    None
                )
                .await
                .status,
            404
        );
    }
    server.pull(&token, 0).await;
    let responses = server.seen.lock().unwrap().clone();

    // The files as a crash leaves them (the last commits still in the WAL),
    // then after a restart and a graceful stop (the WAL checkpointed).
    server.kill();
    let crashed = server.files(&["server.db", "server.db-wal", "server.log"]);
    let wal = &crashed
        .iter()
        .find(|(name, _)| name == "server.db-wal")
        .unwrap()
        .1;
    assert!(!wal.is_empty(), "the WAL holds the last commits");
    let mut server = server.restart(&["--log-level", "debug"]);
    assert_eq!(server.stop().code(), Some(0), "a graceful stop");
    let stopped = server.files(&["server.db", "server.log"]);

    let log = server.log();
    assert!(
        log.contains("POST /v1/verify 200"),
        "the log has request lines: {log}"
    );
    for (files, when) in [
        (&crashed, "after a crash"),
        (&stopped, "after a graceful stop"),
    ] {
        let stored: Vec<u8> = files.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        // The search reads the records: the keys' names are there in the clear.
        assert!(
            contains(&stored, b"door") && contains(&stored, b"gate"),
            "the records are in the files {when}"
        );
        for (secret, what) in keys
            .iter()
            .map(|k| (k.secret.expose(), "key"))
            .chain([(token.as_str(), "token")])
        {
            // The body alone: the part no hint or prefix shares.
            let body = &secret.as_bytes()[secret.find('_').unwrap() + 1..];
            for (name, bytes) in files {
                assert!(
                    !contains(bytes, body),
                    "a {what} in the server's {name} {when}"
                );
            }
            assert!(!contains(&responses, body), "a {what} in the responses");
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn health_openapi_and_unknown_paths() {
    let server = Server::start(&[]);
    let health = server.send("GET", "/healthz", &[], None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let doc = server.send("GET", "/openapi.json", &[], None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.headers.get("content-type").unwrap(), "application/json");
    let doc = doc.json();
    for (method, path) in keyward_server::api::ROUTES {
        assert!(
            doc["paths"][path][method.as_str().to_lowercase()].is_object(),
            "{method} {path} is documented"
        );
    }
    for schema in [
        "VerifyRequest",
        "VerifyResponse",
        "PushRequest",
        "Change",
        "KeyFields",
        "PushResponse",
        "PullResponse",
        "KeyRecord",
        "ErrorBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is in the document"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["VerifyResponse"]["properties"]["result"]["enum"],
        json!([
            "VALID",
            "MALFORMED",
            "NOT_FOUND",
            "DISABLED",
            "EXPIRED",
            "FORBIDDEN"
        ])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["sync_token"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/v1/sync/push"]["post"]["security"].is_array());
}

#[tokio::test]
async fn tls_serves_https_and_plain_http_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, cert_pem) = support::self_signed_cert(dir.path());
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tls_connector(&cert_pem).connect(name, tcp).await.unwrap();
    let reply = exchange(
        hyper_util::rt::TokioIo::new(tls),
        "GET",
        "/healthz",
        &[],
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let attempt = tokio::time::timeout(std::time::Duration::from_secs(5), async move {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(plain)).await?;
        tokio::spawn(connection);
        let request = hyper::Request::get("/healthz")
            .header("host", "localhost")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
        sender
            .send_request(request)
            .await
            .map(|response| response.status())
    })
    .await;
    assert!(
        !matches!(attempt, Ok(Ok(status)) if status == 200),
        "{attempt:?}"
    );

    // Non-loopback plain HTTP is refused before anything is bound.
    let refused = run(dir.path(), &["--listen", "0.0.0.0:0"]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("refusing plain HTTP") && message.lines().count() == 1,
        "{message}"
    );
    assert!(
        !db_path(dir.path()).exists(),
        "refused before the database was touched"
    );
    let half = run(dir.path(), &["--tls-cert", cert.to_str().unwrap()]);
    assert_eq!(half.status.code(), Some(2), "a certificate without its key");
}

#[tokio::test]
async fn the_command_line_reports_bad_input_and_storage_problems() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(
        dir.path(),
        &["token", "create", "--account", "Acme", "--json"],
    );
    assert!(created.status.success());
    let value: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(value["token"].as_str().unwrap().starts_with("kwsync_"));
    assert_eq!(value["account"], "Acme");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(db_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database is owner-only");
    }
    let bad_name = run(dir.path(), &["token", "create", "--account", " "]);
    assert_eq!(bad_name.status.code(), Some(2));
    let unknown = run(dir.path(), &["token", "frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&unknown.stderr).lines().count(), 1);

    let not_a_db = dir.path().join("notes.txt");
    std::fs::write(
        &not_a_db,
        "these are not the tables you are looking for ".repeat(200),
    )
    .unwrap();
    let output = std::process::Command::new(BIN)
        .arg("--db")
        .arg(&not_a_db)
        .args(["token", "list"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

/// Sends `head` (and no more) on a raw connection and reads until the server
/// closes it: the raw response and how long that took, from before the connection.
fn raw_exchange(server: &Server, head: &str) -> (String, std::time::Duration) {
    use std::io::{Read, Write};
    // Before the connection exists, so no server timer can have started earlier.
    let started = std::time::Instant::now();
    let mut tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(HUNG)).unwrap();
    tcp.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response)
        .expect("the server closes the connection");
    (
        String::from_utf8_lossy(&response).into_owned(),
        started.elapsed(),
    )
}

/// Longer than any answer the timeout tests wait for takes, even on a loaded machine:
/// past it, the server hung.
const HUNG: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::test]
async fn slow_requests_get_a_408_and_silent_connections_are_closed() {
    let server = Server::start(&[
        "--body-timeout-ms",
        "300",
        "--request-timeout-ms",
        "1000",
        "--idle-timeout-ms",
        "1500",
    ]);
    let token = server.token("Acme");

    // A body that stops halfway: 408 once the body timeout has passed, and the connection ends.
    let (response, took) = raw_exchange(
        &server,
        &format!(
            "POST /v1/sync/push HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"changes\": ["
        ),
    );
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.to_ascii_lowercase().contains("connection: close"));
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["kind"], "timeout");
    // Not before the body timeout (an order, whatever the load); the upper bound only
    // says it did not hang, so it leaves a loaded machine a wide margin.
    assert!(
        took >= std::time::Duration::from_millis(300) && took < HUNG,
        "{took:?}"
    );

    // A request the server cannot answer in time (its database is held by
    // another writer): 408, and the change, applied once the database is
    // free, answers its stored result when sent again.
    let db = rusqlite::Connection::open(db_path(server.dir.path())).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let id = Uuid::now_v7();
    let push = [create_key(id, "late", &new_key(), json!({}))];
    let started = std::time::Instant::now();
    let reply = server.push(&token, &push).await;
    assert_eq!((reply.status, reply.kind().as_str()), (408, "timeout"));
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1000) && took < HUNG,
        "not before the request timeout: {took:?}"
    );
    db.execute_batch("COMMIT").unwrap();
    let again = server.push_ok(&token, &push).await;
    assert_eq!(again["results"][0]["outcome"], "applied");
    let pulled = server.pull(&token, 0).await;
    assert_eq!(find(&pulled, id).len(), 1, "applied once");

    // A connection that never says anything is closed after the idle timeout.
    let (response, took) = raw_exchange(&server, "");
    assert_eq!(response, "");
    assert!(
        took >= std::time::Duration::from_millis(1500) && took < HUNG,
        "not before the idle timeout: {took:?}"
    );

    // Timeouts that contradict each other are refused before the server starts.
    let output = run(
        server.dir.path(),
        &["--request-timeout-ms", "5000", "--idle-timeout-ms", "5000"],
    );
    assert_eq!(output.status.code(), Some(2));
}

/// A failed verification from `client` (as a trusted proxy reports it, if any).
async fn fail_from(server: &Server, forwarded_for: Option<&str>) -> u16 {
    let body = json!({"key": new_key().secret.expose(), "method": "GET", "resource": "devices"});
    let mut headers = vec![("content-type", "application/json")];
    if let Some(client) = forwarded_for {
        headers.push(("x-forwarded-for", client));
    }
    server
        .send(
            "POST",
            "/v1/verify",
            &headers,
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await
        .status
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_failure_budget() {
    let limits = [
        "--verify-failure-burst",
        "2",
        "--verify-failures-per-second",
        "0.01",
    ];
    // Without --trusted-proxy the header is the client's word: ignored.
    let server = Server::start(&limits);
    for _ in 0..2 {
        assert_eq!(fail_from(&server, Some("203.0.113.1")).await, 200);
    }
    assert_eq!(
        fail_from(&server, Some("203.0.113.2")).await,
        429,
        "a spoofed header buys no new budget"
    );
    // Behind the proxy (the test connects from 127.0.0.1), each client counts alone.
    let mut args = limits.to_vec();
    args.extend(["--trusted-proxy", "127.0.0.0/8"]);
    let proxied = Server::start(&args);
    for _ in 0..2 {
        assert_eq!(fail_from(&proxied, Some("203.0.113.1")).await, 200);
    }
    assert_eq!(fail_from(&proxied, Some("203.0.113.1")).await, 429);
    assert_eq!(
        fail_from(&proxied, Some("203.0.113.2")).await,
        200,
        "another device behind the proxy is not taken offline"
    );
    assert!(
        proxied.log().contains("from 203.0.113.1"),
        "the log names the client, not the proxy"
    );
    let refused = run(proxied.dir.path(), &["--trusted-proxy", "proxy.example"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[tokio::test]
async fn one_refused_change_never_holds_back_the_others() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let (gate, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&token, &[create_key(gate, "gate2", &key, json!({}))])
        .await;
    let pasted = new_key();
    let bad_name = create_key(
        Uuid::now_v7(),
        &format!("copy of {}", pasted.secret.expose()),
        &new_key(),
        json!({}),
    );
    let disable = change("key", "upsert", gate, Some(json!({"status": "inactive"})));
    let answer = server.push_ok(&token, &[bad_name.clone(), disable]).await;
    assert_eq!(answer["results"][0]["outcome"], "refused", "{answer}");
    let reason = answer["results"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("shaped like a full key"), "{reason}");
    assert!(
        !reason.contains(&pasted.secret.expose()[3..]),
        "never echoed"
    );
    assert_eq!(answer["results"][1]["outcome"], "applied", "{answer}");
    assert_eq!(
        server.verify(key.secret.expose(), "GET", "devices").await["result"],
        "DISABLED",
        "the deactivation went through"
    );
    // A replay answers the same, and still stores nothing of the refused change.
    let replay = server.push_ok(&token, &[bad_name]).await;
    assert_eq!(replay["results"][0], answer["results"][0]);
    assert!(!std::fs::read(db_path(server.dir.path()))
        .unwrap()
        .windows(20)
        .any(|w| w == &pasted.secret.expose().as_bytes()[3..23]));
}

#[tokio::test]
async fn the_server_keeps_the_highest_audit_head_each_desktop_showed() {
    let server = Server::start(&[]);
    let (laptop, tablet) = (
        server.token_labelled("Acme", "laptop"),
        server.token_labelled("Acme", "tablet"),
    );
    assert_eq!(
        audit_get(&server, &laptop).await,
        Value::Null,
        "nothing recorded yet"
    );
    let head = |seq: u64, byte: u8| json!({"seq": seq, "hash": hex::encode([byte; 32])});
    assert_eq!(
        audit_post(&server, &laptop, head(12, 1)).await.json(),
        head(12, 1)
    );
    assert_eq!(
        audit_post(&server, &laptop, head(9, 2)).await.json(),
        head(12, 1),
        "a shorter log does not overwrite what was seen"
    );
    assert_eq!(
        audit_post(&server, &laptop, head(20, 3)).await.json(),
        head(20, 3)
    );
    assert_eq!(audit_get(&server, &laptop).await, head(20, 3));
    assert_eq!(
        audit_get(&server, &tablet).await,
        Value::Null,
        "per desktop"
    );
    let bad = audit_post(&server, &laptop, json!({"seq": 1, "hash": "not hex"})).await;
    assert_eq!((bad.status, bad.kind().as_str()), (422, "invalid_request"));
    let list = run(server.dir.path(), &["token", "list", "--json"]);
    let tokens: Value = serde_json::from_slice(&list.stdout).unwrap();
    let labels: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["laptop", "tablet"]);
}

async fn audit_get(server: &Server, token: &str) -> Value {
    let bearer = format!("Bearer {token}");
    server
        .send("GET", "/v1/sync/audit", &[("authorization", &bearer)], None)
        .await
        .json()
}

async fn audit_post(server: &Server, token: &str, body: Value) -> support::Reply {
    server.post_json("/v1/sync/audit", Some(token), &body).await
}
