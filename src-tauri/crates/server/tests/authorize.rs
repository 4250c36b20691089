//! `GET /v1/authorize` against the real server, as Traefik and Caddy call it
//! (`X-Forwarded-Method`/`X-Forwarded-Uri`), on SQLite and on PostgreSQL (a
//! throwaway cluster); nginx's `X-Original-*` and a real nginx are in
//! tests/gateway.rs.

mod support;

use serde_json::{json, Value};
use support::postgres::Cluster;
use support::*;
use uuid::Uuid;

/// A prefix and a route, as a gateway in front of `/api` would be set up.
const RULE: [&str; 4] = [
    "--authorize-prefix",
    "/api",
    "--authorize-route",
    "/v2/readers=devices",
];

/// `GET /v1/authorize` for `method path`, with the key (if any) in `X-API-Key`.
async fn authorize(server: &Server, key: Option<&str>, method: &str, path: &str) -> Reply {
    let mut headers = vec![("x-forwarded-method", method), ("x-forwarded-uri", path)];
    if let Some(key) = key {
        headers.push(("x-api-key", key));
    }
    server.send("GET", "/v1/authorize", &headers, None).await
}

fn header(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get(name)
        .map(|value| value.to_str().unwrap().to_string())
}

/// The value of one series in the server's `/metrics`, 0 when absent.
async fn metric(server: &Server, series: &str) -> u64 {
    let reply = server.send("GET", "/metrics", &[], None).await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn authorize_answers_the_verification_of_the_forwarded_request() {
    answers_the_verification_of_the_forwarded_request(Server::start(&RULE)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_answers_the_verification_of_the_forwarded_request_on_postgres() {
    let cluster = Cluster::start();
    let server = Server::start_postgres(&cluster.database("keyward"), &RULE);
    answers_the_verification_of_the_forwarded_request(server).await;
}

async fn answers_the_verification_of_the_forwarded_request(server: Server) {
    let token = server.token("Acme");
    let group = Uuid::now_v7();
    let keys: Vec<_> = (0..5).map(|_| new_key()).collect();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let a_minute_ago = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::minutes(1));
    server
        .push_ok(
            &token,
            &[
                change(
                    "group",
                    "upsert",
                    group,
                    Some(json!({"name": "readers", "scopes": ["devices:read"]})),
                ),
                create_key(ids[0], "reader", &keys[0], json!({"access": "READ"})),
                create_key(ids[1], "off", &keys[1], json!({"status": "inactive"})),
                create_key(
                    ids[2],
                    "scoped",
                    &keys[2],
                    json!({"access": "READ_WRITE", "groups": [group]}),
                ),
                create_key(
                    ids[3],
                    "device",
                    &keys[3],
                    json!({"access": "WRITE", "allow_unbind": true}),
                ),
                create_key(
                    ids[4],
                    "replaced",
                    &keys[4],
                    json!({"expires_at": a_minute_ago}),
                ),
            ],
        )
        .await;
    let key = |n: usize| Some(keys[n].secret.expose());
    let unknown = new_key();

    let valid = authorize(&server, key(0), "GET", "/api/devices/7?x=1").await;
    assert_eq!(valid.status, 204);
    assert!(valid.body.is_empty());
    assert_eq!(header(&valid, "x-keyward-key-id"), Some(ids[0].to_string()));
    assert_eq!(header(&valid, "x-keyward-result").as_deref(), Some("VALID"));
    // The bearer token works as well as X-API-Key.
    let bearer = format!("Bearer {}", keys[0].secret.expose());
    let by_bearer = server
        .send(
            "GET",
            "/v1/authorize",
            &[
                ("authorization", &bearer),
                ("x-forwarded-method", "HEAD"),
                ("x-forwarded-uri", "/api/sessions"),
            ],
            None,
        )
        .await;
    assert_eq!(by_bearer.status, 204);

    // (key, method, path, status, result, key id)
    type Case<'a> = (
        Option<&'a str>,
        &'a str,
        &'a str,
        u16,
        &'a str,
        Option<Uuid>,
    );
    let refused: [Case; 10] = [
        (
            key(0),
            "POST",
            "/api/devices",
            403,
            "FORBIDDEN",
            Some(ids[0]),
        ),
        (key(1), "GET", "/api/devices", 401, "DISABLED", Some(ids[1])),
        // A key whose grace (its expiry) ended.
        (key(4), "GET", "/api/devices", 401, "EXPIRED", Some(ids[4])),
        (
            key(2),
            "GET",
            "/api/sessions",
            403,
            "FORBIDDEN",
            Some(ids[2]),
        ),
        // The route maps /v2/readers to devices, which the group allows.
        (
            key(2),
            "GET",
            "/api/v2/readers/1",
            204,
            "VALID",
            Some(ids[2]),
        ),
        // Outside the prefix, or an unknown method: no key may.
        (key(2), "GET", "/devices", 403, "FORBIDDEN", Some(ids[2])),
        (
            key(0),
            "OPTIONS",
            "/api/devices",
            403,
            "FORBIDDEN",
            Some(ids[0]),
        ),
        // A DELETE on devices is an unbind.
        (
            key(3),
            "DELETE",
            "/api/devices/9",
            204,
            "VALID",
            Some(ids[3]),
        ),
        (
            Some("kw_nonsense"),
            "GET",
            "/api/devices",
            401,
            "MALFORMED",
            None,
        ),
        (
            Some(unknown.secret.expose()),
            "GET",
            "/api/devices",
            401,
            "NOT_FOUND",
            None,
        ),
    ];
    for (presented, method, path, status, result, id) in refused {
        let reply = authorize(&server, presented, method, path).await;
        assert_eq!(reply.status, status, "{method} {path}");
        assert_eq!(header(&reply, "x-keyward-result").as_deref(), Some(result));
        if status != 204 {
            assert_eq!(
                reply.json(),
                json!({"result": result, "key_id": id.map(|id| id.to_string())})
            );
        }
        if status == 401 {
            assert_eq!(
                header(&reply, "www-authenticate").as_deref(),
                Some("Bearer")
            );
        }
    }

    let missing = authorize(&server, None, "GET", "/api/devices").await;
    assert_eq!(
        (missing.status, missing.kind().as_str()),
        (401, "unauthorized")
    );
    // A gateway that forwards nothing, or two families that disagree, is misconfigured.
    let bare = server
        .send(
            "GET",
            "/v1/authorize",
            &[("x-api-key", keys[0].secret.expose())],
            None,
        )
        .await;
    assert_eq!(
        (bare.status, bare.kind().as_str()),
        (400, "invalid_request")
    );
    let disagreeing = server
        .send(
            "GET",
            "/v1/authorize",
            &[
                ("x-api-key", keys[0].secret.expose()),
                ("x-forwarded-method", "GET"),
                ("x-original-method", "POST"),
                ("x-forwarded-uri", "/api/devices"),
            ],
            None,
        )
        .await;
    assert_eq!(disagreeing.status, 400);

    // Counted as /v1/verify's are: each verification by its result, each
    // answer by route and status; the 400s and the keyless 401 verified nothing.
    for (result, count) in [
        ("VALID", 4),
        ("FORBIDDEN", 4),
        ("DISABLED", 1),
        ("EXPIRED", 1),
        ("MALFORMED", 1),
        ("NOT_FOUND", 1),
    ] {
        let series = format!("keyward_verifications_total{{result=\"{result}\"}}");
        assert_eq!(metric(&server, &series).await, count, "{series}");
    }
    for (status, count) in [(204, 4), (403, 4), (401, 5), (400, 2)] {
        let series = format!(
            "keyward_http_requests_total{{route=\"/v1/authorize\",method=\"GET\",status=\"{status}\"}}"
        );
        assert_eq!(metric(&server, &series).await, count, "{series}");
    }

    // A use through the gateway is a use: the next pull brings its time.
    let pulled = server.pull(&token, 0).await;
    let reader = pulled["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(ids[0]))
        .unwrap();
    assert!(reader["key"]["last_used_at"].is_string(), "{reader}");
}

#[tokio::test]
async fn authorize_failures_are_rate_limited_and_valid_keys_never_are() {
    let server = Server::start(&[
        "--verify-failure-burst",
        "3",
        "--verify-failures-per-second",
        "0.01",
    ]);
    let token = server.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(
            &token,
            &[create_key(id, "kiosk", &key, json!({"access": "READ"}))],
        )
        .await;
    // Asking without a key guesses nothing: never charged.
    for _ in 0..5 {
        assert_eq!(
            authorize(&server, None, "GET", "/devices").await.status,
            401
        );
    }
    for _ in 0..3 {
        let forbidden = authorize(&server, Some(key.secret.expose()), "POST", "/devices").await;
        assert_eq!(forbidden.status, 403);
    }
    let limited = authorize(&server, Some(new_key().secret.expose()), "GET", "/devices").await;
    assert_eq!(
        (limited.status, limited.kind().as_str()),
        (429, "rate_limited")
    );
    assert!(limited.headers.get("retry-after").is_some());
    assert!(
        limited.headers.get("x-keyward-result").is_none(),
        "a refused guess learns nothing"
    );
    let valid = authorize(&server, Some(key.secret.expose()), "GET", "/devices").await;
    assert_eq!(valid.status, 204, "a valid key is never refused");
    // The failures of /v1/authorize and /v1/verify share the address's budget.
    let verify = server
        .post_json(
            "/v1/verify",
            None,
            &json!({"key": new_key().secret.expose(), "method": "GET", "resource": "devices"}),
        )
        .await;
    assert_eq!(verify.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_failures_on_one_instance_count_on_every_instance_of_one_postgres() {
    let cluster = Cluster::start();
    let url = cluster.database("keyward");
    let limit = [
        "--verify-failure-burst",
        "3",
        "--verify-failures-per-second",
        "0.01",
    ];
    let (one, other) = (
        Server::start_postgres(&url, &limit),
        Server::start_postgres(&url, &limit),
    );
    let token = one.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    one.push_ok(
        &token,
        &[create_key(id, "kiosk", &key, json!({"access": "READ"}))],
    )
    .await;
    for _ in 0..3 {
        let forbidden = authorize(&one, Some(key.secret.expose()), "POST", "/devices").await;
        assert_eq!(forbidden.status, 403);
    }
    let limited = authorize(&other, Some(new_key().secret.expose()), "GET", "/devices").await;
    assert_eq!(
        (limited.status, limited.kind().as_str()),
        (429, "rate_limited"),
        "the other instance charges the same budget"
    );
    let valid = authorize(&other, Some(key.secret.expose()), "GET", "/devices").await;
    assert_eq!(valid.status, 204, "a valid key is never refused");
    assert_eq!(
        header(&valid, "x-keyward-key-id"),
        Some(id.to_string()),
        "a key pushed through one instance verifies on the other"
    );
    let verify = one
        .post_json(
            "/v1/verify",
            None,
            &json!({"key": new_key().secret.expose(), "method": "GET", "resource": "devices"}),
        )
        .await;
    assert_eq!(verify.status, 429);
    let rate_limited = "keyward_verifications_rate_limited_total";
    assert_eq!(metric(&one, rate_limited).await, 1);
    assert_eq!(metric(&other, rate_limited).await, 1);
    assert_eq!(
        metric(&one, r#"keyward_verifications_total{result="FORBIDDEN"}"#).await,
        3
    );
}

#[tokio::test]
async fn no_key_reaches_the_log_or_an_answer_of_authorize() {
    no_key_reaches_the_log_or_an_answer(Server::start(&["--log-level", "debug"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_reaches_the_json_log_or_an_answer_of_authorize_on_postgres() {
    let cluster = Cluster::start();
    let server = Server::start_postgres(
        &cluster.database("keyward"),
        &["--log-level", "debug", "--log-format", "json"],
    );
    no_key_reaches_the_log_or_an_answer(server).await;
}

async fn no_key_reaches_the_log_or_an_answer(mut server: Server) {
    let token = server.token("Acme");
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(&token, &[create_key(id, "kiosk", &key, json!({}))])
        .await;
    let secret = key.secret.expose();
    let mut answers: Vec<Value> = Vec::new();
    for (method, path) in [
        ("GET", "/devices".to_string()),
        ("POST", format!("/{secret}")),
        ("GET", format!("/devices?key={secret}")),
        (secret, "/devices".to_string()),
    ] {
        let reply = authorize(&server, Some(secret), method, &path).await;
        answers.push(json!({
            "status": reply.status,
            "headers": format!("{:?}", reply.headers),
            "body": String::from_utf8_lossy(&reply.body),
        }));
    }
    let bearer = format!("Bearer {secret}");
    let stray = server
        .send("GET", "/v1/authorize", &[("authorization", &bearer)], None)
        .await;
    answers.push(json!(String::from_utf8_lossy(&stray.body)));
    assert_eq!(server.stop().code(), Some(0));
    let log = server.log();
    assert!(log.contains("GET /v1/authorize 204"), "{log}");
    let body = &secret[3..];
    assert!(!log.contains(body), "the key in the log: {log}");
    let answers = serde_json::to_string(&answers).unwrap();
    assert!(!answers.contains(body), "the key in an answer: {answers}");
}

#[test]
fn a_bad_resource_rule_is_refused_at_start() {
    for args in [
        &["--authorize-route", "/v2/readers"][..],
        &["--authorize-route", "/v2=Devices"][..],
        &["--authorize-prefix", "api"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let output = run(dir.path(), &all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("route") || stderr.contains("prefix"),
            "{stderr}"
        );
        assert!(!db_path(dir.path()).exists(), "nothing was created");
    }
}
