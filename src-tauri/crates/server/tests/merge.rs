//! Conflicting edits from two desktops, on the real server and a real
//! database file: the same offline edits pushed in either order end in the
//! same record, with the security-conservative value, and the change that
//! arrives second is told how each field merged. The desktop whose earlier
//! pushed value a merge overrode is told on its next pull naming its origin.
//! The last test (`property`) runs random concurrent edits of a key through
//! the server in both orders and checks the merged key against each desktop's view.

mod support;

use serde_json::{json, Value};
use support::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Three desktops: C set the records up; A and B both pulled them, then edited offline.
struct Desktops {
    a: Uuid,
    b: Uuid,
    c: Uuid,
    /// When C set things up; A edits a minute later, B two minutes later.
    t0: OffsetDateTime,
}

impl Desktops {
    fn new() -> Desktops {
        Desktops {
            a: Uuid::now_v7(),
            b: Uuid::now_v7(),
            c: Uuid::now_v7(),
            t0: OffsetDateTime::now_utc() - Duration::hours(1),
        }
    }

    fn setup(&self, change: Value) -> Value {
        made_on(change, self.c, 0, self.t0)
    }

    fn on_a(&self, change: Value, base: u64) -> Value {
        made_on(change, self.a, base, self.t0 + Duration::minutes(1))
    }

    fn on_b(&self, change: Value, base: u64) -> Value {
        made_on(change, self.b, base, self.t0 + Duration::minutes(2))
    }
}

fn edit_key(id: Uuid, fields: Value) -> Value {
    change("key", "upsert", id, Some(fields))
}

fn edit_group(id: Uuid, fields: Value) -> Value {
    change("group", "upsert", id, Some(fields))
}

/// The one result of a one-change push.
fn only_result(reply: &Value) -> Value {
    let results = reply["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{reply}");
    results[0].clone()
}

fn conflicts(result: &Value) -> Vec<Value> {
    result
        .get("conflicts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The conflict on `field` as (yours, kept, rule).
fn conflict_on(result: &Value, field: &str) -> Option<(String, String, String)> {
    conflicts(result)
        .into_iter()
        .find(|c| c["field"] == field)
        .map(|c| {
            let text = |name: &str| c[name].as_str().unwrap().to_string();
            (text("yours"), text("kept"), text("rule"))
        })
}

/// The record `id` as a pull from the start hands it out.
async fn record(server: &Server, token: &str, id: Uuid) -> Value {
    let pulled = server.pull(token, 0).await;
    let change = pulled["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(id))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not pulled: {pulled}"));
    change
        .get("key")
        .or_else(|| change.get("group"))
        .cloned()
        .unwrap_or(change)
}

/// What became of one arrival order: the record and the two changes' results.
struct Run {
    record: Value,
    a: Value,
    b: Value,
}

/// Pushes `setup` on a fresh server, then `a` and `b` one push each, in the
/// given order.
async fn run(setup: &[Value], id: Uuid, first: &Value, second: &Value, a_first: bool) -> Run {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    server.push_ok(&token, setup).await;
    let first = only_result(&server.push_ok(&token, std::slice::from_ref(first)).await);
    let second = only_result(&server.push_ok(&token, std::slice::from_ref(second)).await);
    let (a, b) = if a_first {
        (first, second)
    } else {
        (second, first)
    };
    Run {
        record: record(&server, &token, id).await,
        a,
        b,
    }
}

/// The same two changes in both arrival orders: (A first, B first).
async fn both_orders(setup: &[Value], id: Uuid, a: &Value, b: &Value) -> (Run, Run) {
    let a_first = run(setup, id, a, b, true).await;
    let b_first = run(setup, id, b, a, false).await;
    assert_eq!(
        a_first.record, b_first.record,
        "the arrival order must not matter"
    );
    (a_first, b_first)
}

#[tokio::test]
async fn the_same_fields_edited_offline_on_two_desktops_merge_the_same_in_either_order() {
    let desk = Desktops::new();
    let id = Uuid::now_v7();
    let setup = [desk.setup(create_key(
        id,
        "gate 1",
        &new_key(),
        json!({"description": "front"}),
    ))];
    let a = desk.on_a(
        edit_key(
            id,
            json!({"name": "gate north", "description": "north side", "status": "inactive",
                   "expires_at": "2027-01-15T08:00:00Z"}),
        ),
        1,
    );
    let b = desk.on_b(
        edit_key(
            id,
            json!({"name": "gate south", "description": null, "status": "active",
                   "expires_at": "2028-06-01T00:00:00Z"}),
        ),
        1,
    );
    let (a_first, b_first) = both_orders(&setup, id, &a, &b).await;

    let key = &a_first.record;
    assert_eq!(key["status"], "inactive", "inactive beats active");
    assert_eq!(
        key["expires_at"], "2027-01-15T08:00:00Z",
        "the earlier expiry wins"
    );
    assert_eq!(key["name"], "gate south", "the later change wins");
    assert_eq!(key["description"], Value::Null, "the later change wins");

    // A arrived first: nothing to merge yet. B lost status and expiry, and is told.
    assert!(conflicts(&a_first.a).is_empty());
    assert_eq!(
        conflict_on(&a_first.b, "status"),
        Some((
            "active".into(),
            "inactive".into(),
            "inactive beats active".into()
        ))
    );
    assert_eq!(
        conflict_on(&a_first.b, "expires_at"),
        Some((
            "2028-06-01T00:00:00Z".into(),
            "2027-01-15T08:00:00Z".into(),
            "the earlier expiry wins".into()
        ))
    );
    assert_eq!(
        conflict_on(&a_first.b, "name").map(|c| c.1),
        Some("gate south".into())
    );
    // B arrived first: A lost name and description, and is told.
    assert!(conflicts(&b_first.b).is_empty());
    assert_eq!(
        conflict_on(&b_first.a, "name"),
        Some((
            "gate north".into(),
            "gate south".into(),
            "the later change wins".into()
        ))
    );
    assert_eq!(
        conflict_on(&b_first.a, "description"),
        Some((
            "north side".into(),
            "(none)".into(),
            "the later change wins".into()
        ))
    );
    assert_eq!(
        conflict_on(&b_first.a, "status").map(|c| c.1),
        Some("inactive".into())
    );
    let reported = &conflicts(&b_first.a)[0];
    assert_eq!(
        (&reported["entity"], &reported["id"], &reported["name"]),
        (&json!("key"), &json!(id), &json!("gate south"))
    );
}

#[tokio::test]
async fn sequential_edits_are_not_conflicts() {
    let server = Server::start(&["--flush-interval-ms", "600000"]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let (id, key) = (Uuid::now_v7(), new_key());
    server
        .push_ok(
            &token,
            &[desk.setup(create_key(id, "gate 1", &key, json!({})))],
        )
        .await;
    // A use on the server moves the record's revision but is no edit of a field.
    server.verify(key.secret.expose(), "GET", "devices").await;
    server.pull(&token, 0).await;

    // The same desktop twice, without pulling in between: its own edits follow each other.
    for status in ["inactive", "active"] {
        let result = only_result(
            &server
                .push_ok(
                    &token,
                    &[desk.on_a(edit_key(id, json!({ "status": status })), 1)],
                )
                .await,
        );
        assert_eq!(result["outcome"], "applied");
        assert!(conflicts(&result).is_empty(), "{result}");
    }
    assert_eq!(record(&server, &token, id).await["status"], "active");

    // Another desktop that pulled after those edits: no conflict either.
    let head = server.pull(&token, 0).await["cursor"].as_u64().unwrap();
    let result = only_result(
        &server
            .push_ok(
                &token,
                &[desk.on_b(edit_key(id, json!({"status": "inactive"})), head)],
            )
            .await,
    );
    assert!(conflicts(&result).is_empty(), "{result}");
    // A field nobody else touched, from a desktop that has not pulled: no conflict.
    let result = only_result(
        &server
            .push_ok(
                &token,
                &[made_on(
                    edit_key(id, json!({"description": "north"})),
                    Uuid::now_v7(),
                    1,
                    OffsetDateTime::now_utc(),
                )],
            )
            .await,
    );
    assert!(conflicts(&result).is_empty(), "{result}");

    // But A, still at its old base, reactivating after B's deactivation: both changed it.
    let result = only_result(
        &server
            .push_ok(
                &token,
                &[desk.on_a(edit_key(id, json!({"status": "active"})), 1)],
            )
            .await,
    );
    assert_eq!(
        conflict_on(&result, "status"),
        Some((
            "active".into(),
            "inactive".into(),
            "inactive beats active".into()
        ))
    );
    assert_eq!(record(&server, &token, id).await["status"], "inactive");
}

#[tokio::test]
async fn read_against_write_keeps_the_later_and_makes_the_key_inactive() {
    let desk = Desktops::new();
    let id = Uuid::now_v7();
    let setup = [desk.setup(create_key(
        id,
        "timing",
        &new_key(),
        json!({"access": "READ_WRITE", "allow_unbind": false, "groups": []}),
    ))];
    let a = desk.on_a(
        edit_key(
            id,
            json!({"access": "READ", "allow_unbind": false, "groups": []}),
        ),
        1,
    );
    let b = desk.on_b(
        edit_key(
            id,
            json!({"access": "WRITE", "allow_unbind": false, "groups": []}),
        ),
        1,
    );
    let (a_first, b_first) = both_orders(&setup, id, &a, &b).await;
    assert_eq!(
        (&a_first.record["access"], &a_first.record["status"]),
        (&json!("WRITE"), &json!("inactive"))
    );
    let why = "neither side's permissions include the other's: the later change's are kept and the key is made inactive";
    assert_eq!(
        conflict_on(&a_first.b, "access"),
        Some(("WRITE".into(), "WRITE".into(), why.into()))
    );
    assert_eq!(
        conflict_on(&a_first.b, "status"),
        Some(("active".into(), "inactive".into(), why.into()))
    );
    assert_eq!(
        conflict_on(&b_first.a, "access"),
        Some(("READ".into(), "WRITE".into(), why.into()))
    );
    assert_eq!(
        conflict_on(&b_first.a, "status").map(|c| c.1),
        Some("inactive".into())
    );
}

#[tokio::test]
async fn the_lesser_permissions_win_whole_judged_by_what_they_allow() {
    let desk = Desktops::new();
    let (gate, id) = (Uuid::now_v7(), Uuid::now_v7());
    let setup = [
        desk.setup(edit_group(
            gate,
            json!({"name": "gate", "scopes": ["passings:write"]}),
        )),
        desk.setup(create_key(
            id,
            "gate 1",
            &new_key(),
            json!({"access": "WRITE", "allow_unbind": false, "groups": []}),
        )),
    ];
    // A narrows the key to a group; B, later, lets it unbind devices. A
    // desktop sends the three together, as it holds them.
    let a = desk.on_a(
        edit_key(
            id,
            json!({"access": "WRITE", "allow_unbind": false, "groups": [gate]}),
        ),
        2,
    );
    let b = desk.on_b(
        edit_key(
            id,
            json!({"access": "WRITE", "allow_unbind": true, "groups": []}),
        ),
        2,
    );
    let (a_first, b_first) = both_orders(&setup, id, &a, &b).await;
    let key = &a_first.record;
    assert_eq!(
        (
            &key["access"],
            &key["allow_unbind"],
            &key["groups"],
            &key["status"]
        ),
        (
            &json!("WRITE"),
            &json!(false),
            &json!([gate]),
            &json!("active")
        )
    );
    let rule = "the lesser permissions win (access type, unbind and groups judged together)";
    assert_eq!(
        conflict_on(&a_first.b, "access"),
        Some((
            "WRITE, unbind".into(),
            "WRITE, groups: gate".into(),
            rule.into()
        ))
    );
    assert_eq!(
        conflict_on(&b_first.a, "access"),
        Some((
            "WRITE, groups: gate".into(),
            "WRITE, groups: gate".into(),
            rule.into()
        ))
    );
    assert!(conflict_on(&b_first.a, "status").is_none());
}

#[tokio::test]
async fn group_scopes_changed_on_both_sides_keep_only_what_both_grant() {
    let desk = Desktops::new();
    let id = Uuid::now_v7();
    let setup = [desk.setup(edit_group(
        id,
        json!({"name": "ops", "scopes": ["devices:read", "devices:write"]}),
    ))];
    let a = desk.on_a(
        edit_group(id, json!({"scopes": ["devices:read", "sessions:read"]})),
        1,
    );
    let b = desk.on_b(
        edit_group(
            id,
            json!({"scopes": ["devices:read", "devices:write", "passings:write"]}),
        ),
        1,
    );
    let (a_first, b_first) = both_orders(&setup, id, &a, &b).await;
    assert_eq!(a_first.record["scopes"], json!(["devices:read"]));
    let rule = "a group keeps only the scopes both sides grant";
    assert_eq!(
        conflict_on(&a_first.b, "scopes"),
        Some((
            "devices:read, devices:write, passings:write".into(),
            "devices:read".into(),
            rule.into()
        ))
    );
    assert_eq!(
        conflict_on(&b_first.a, "scopes"),
        Some((
            "devices:read, sessions:read".into(),
            "devices:read".into(),
            rule.into()
        ))
    );

    // The merged scopes are nobody's own: not even B, whose change came last,
    // can put its own back before it has pulled them; after a pull it can.
    let server = Server::start(&[]);
    let token = server.token("Acme");
    server.push_ok(&token, &setup).await;
    // Each desktop pushes its own change (a push is one desktop's).
    server.push_ok(&token, std::slice::from_ref(&a)).await;
    server.push_ok(&token, std::slice::from_ref(&b)).await;
    let wider = json!({"scopes": ["devices:read", "devices:write", "passings:write"]});
    let again = desk.on_b(edit_group(id, wider.clone()), 1);
    let result = only_result(&server.push_ok(&token, &[again]).await);
    assert_eq!(
        conflict_on(&result, "scopes").map(|c| c.1),
        Some("devices:read".into())
    );
    let head = server.pull(&token, 0).await["cursor"].as_u64().unwrap();
    let after_pull = desk.on_b(edit_group(id, wider), head);
    let result = only_result(&server.push_ok(&token, &[after_pull]).await);
    assert!(conflicts(&result).is_empty(), "{result}");
    assert_eq!(
        record(&server, &token, id).await["scopes"],
        json!(["devices:read", "devices:write", "passings:write"])
    );
}

#[tokio::test]
async fn a_name_taken_on_the_server_gets_a_number() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    server
        .push_ok(
            &token,
            &[desk.on_a(create_key(ids[0], "kiosk", &new_key(), json!({})), 0)],
        )
        .await;
    // B made a "Kiosk" offline too: names are compared ignoring case.
    let reply = server
        .push_ok(
            &token,
            &[
                desk.on_b(create_key(ids[1], "Kiosk", &new_key(), json!({})), 0),
                desk.on_b(create_key(ids[2], "KIOSK", &new_key(), json!({})), 0),
            ],
        )
        .await;
    let results = reply["results"].as_array().unwrap();
    assert_eq!(
        conflict_on(&results[0], "name"),
        Some((
            "Kiosk".into(),
            "Kiosk (2)".into(),
            "name already taken on the server".into()
        ))
    );
    assert_eq!(
        conflict_on(&results[1], "name").map(|c| c.1),
        Some("KIOSK (3)".into())
    );
    assert_eq!(conflicts(&results[1])[0]["name"], "KIOSK (3)");
    assert_eq!(record(&server, &token, ids[1]).await["name"], "Kiosk (2)");
    assert_eq!(record(&server, &token, ids[2]).await["name"], "KIOSK (3)");

    // A rename into a taken name too; a key keeps its own name whatever its case.
    server
        .push_ok(
            &token,
            &[desk.on_a(create_key(ids[3], "lobby", &new_key(), json!({})), 0)],
        )
        .await;
    let head = server.pull(&token, 0).await["cursor"].as_u64().unwrap();
    let reply = server
        .push_ok(
            &token,
            &[
                desk.on_a(edit_key(ids[3], json!({"name": "kiosk"})), head),
                desk.on_a(edit_key(ids[0], json!({"name": "KIOSK"})), head),
            ],
        )
        .await;
    assert_eq!(
        conflicts(&reply["results"][0]),
        [
            json!({"entity": "key", "id": ids[3], "name": "kiosk (4)", "field": "name", "yours": "kiosk",
                "kept": "kiosk (4)", "rule": "name already taken on the server"})
        ]
    );
    assert!(conflicts(&reply["results"][1]).is_empty());
    assert_eq!(record(&server, &token, ids[0]).await["name"], "KIOSK");

    // A long name stays within the 64-character limit.
    let long = "x".repeat(64);
    let reply = server
        .push_ok(
            &token,
            &[
                create_key(Uuid::now_v7(), &long, &new_key(), json!({})),
                create_key(Uuid::now_v7(), &long, &new_key(), json!({})),
            ],
        )
        .await;
    let kept = conflict_on(&reply["results"][1], "name").unwrap().1;
    assert_eq!(kept, format!("{} (2)", "x".repeat(60)));

    // Groups alike; a deleted record's name is free again.
    let (ops, ops_too) = (Uuid::now_v7(), Uuid::now_v7());
    let reply = server
        .push_ok(
            &token,
            &[
                edit_group(ops, json!({"name": "ops"})),
                edit_group(ops_too, json!({"name": "Ops"})),
                change("key", "delete", ids[1], None),
                create_key(Uuid::now_v7(), "kiosk (2)", &new_key(), json!({})),
            ],
        )
        .await;
    assert_eq!(
        conflict_on(&reply["results"][1], "name").map(|c| c.1),
        Some("Ops (2)".into())
    );
    assert!(conflicts(&reply["results"][3]).is_empty(), "{reply}");
}

#[tokio::test]
async fn an_edit_and_a_delete_from_two_desktops_delete_and_say_so() {
    let desk = Desktops::new();
    let id = Uuid::now_v7();
    let setup = [desk.setup(create_key(id, "gate 1", &new_key(), json!({})))];
    let a = desk.on_a(change("key", "delete", id, None), 1);
    let b = desk.on_b(edit_key(id, json!({"status": "inactive"})), 1);
    let a_first = run(&setup, id, &a, &b, true).await;
    let b_first = run(&setup, id, &b, &a, false).await;
    for tombstone in [&a_first.record, &b_first.record] {
        assert_eq!(tombstone["op"], "delete", "{tombstone}");
        assert!(tombstone.get("key").is_none());
    }

    assert_eq!(a_first.b["outcome"], "already_deleted");
    assert_eq!(
        conflict_on(&a_first.b, "deleted"),
        Some((
            "edited: status".into(),
            "deleted".into(),
            "deleted beats edited".into()
        ))
    );
    assert_eq!(conflicts(&a_first.b)[0]["name"], "gate 1");
    assert_eq!(b_first.a["outcome"], "applied");
    assert_eq!(
        conflict_on(&b_first.a, "deleted"),
        Some((
            "deleted".into(),
            "deleted".into(),
            "deleted beats edited (dropped edits made on another desktop: status)".into()
        ))
    );

    // A desktop's own edit after its own delete is no conflict: it is just late.
    let server = Server::start(&[]);
    let token = server.token("Acme");
    server.push_ok(&token, &setup).await;
    server.push_ok(&token, std::slice::from_ref(&a)).await;
    let late = desk.on_a(edit_key(id, json!({"status": "inactive"})), 1);
    let result = only_result(&server.push_ok(&token, &[late]).await);
    assert_eq!(result["outcome"], "already_deleted");
    assert!(conflicts(&result).is_empty(), "{result}");
}

#[tokio::test]
async fn a_replayed_push_answers_its_stored_conflicts() {
    let (server, token, desk, id) = one_key().await;
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(id, json!({"status": "inactive"})), 1)],
        )
        .await;
    let b = [desk.on_b(edit_key(id, json!({"status": "active"})), 1)];
    let first = server.push(&token, &b).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        conflict_on(&only_result(&first.json()), "status").map(|c| c.1),
        Some("inactive".into())
    );
    // Meanwhile A reactivates after a pull: the replay still answers as the first time.
    let head = server.pull(&token, 0).await["cursor"].as_u64().unwrap();
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(id, json!({"status": "active"})), head)],
        )
        .await;
    let pulled = server.pull(&token, 0).await;
    let again = server.push(&token, &b).await;
    assert_eq!(
        again.body, first.body,
        "a replay answers exactly the first result"
    );
    assert_eq!(server.pull(&token, 0).await, pulled, "and changes nothing");
}

/// A pull as desktop `origin` makes it (`None`: as a client that names no origin).
async fn pull_as(
    server: &Server,
    token: &str,
    origin: Option<Uuid>,
    since: u64,
    limit: u32,
) -> Value {
    let origin = origin.map(|o| format!("&origin={o}")).unwrap_or_default();
    server
        .pull_with(token, &format!("since={since}&limit={limit}{origin}"))
        .await
}

/// The notices a desktop gets pulling everything from `since`.
async fn notices(server: &Server, token: &str, origin: Uuid, since: u64) -> Vec<Value> {
    conflicts(&pull_as(server, token, Some(origin), since, 1000).await)
}

fn notice(
    entity: &str,
    id: Uuid,
    name: &str,
    field: &str,
    yours: &str,
    kept: &str,
    rule: &str,
) -> Value {
    json!({"entity": entity, "id": id, "name": name, "field": field, "yours": yours, "kept": kept, "rule": rule})
}

#[tokio::test]
async fn an_overridden_name_is_told_once_to_the_desktop_that_pushed_it_first() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let (gate, lobby) = (Uuid::now_v7(), Uuid::now_v7());
    server
        .push_ok(
            &token,
            &[
                desk.setup(create_key(gate, "gate 1", &new_key(), json!({}))),
                desk.setup(create_key(lobby, "lobby", &new_key(), json!({}))),
            ],
        )
        .await;
    // A renames first (revision 3); B, whose rename is later, wins (revision 4).
    let a = only_result(
        &server
            .push_ok(
                &token,
                &[desk.on_a(edit_key(gate, json!({"name": "gate north"})), 2)],
            )
            .await,
    );
    assert!(conflicts(&a).is_empty(), "{a}");
    let b = only_result(
        &server
            .push_ok(
                &token,
                &[desk.on_b(edit_key(gate, json!({"name": "gate south"})), 2)],
            )
            .await,
    );
    assert_eq!(b["revision"], 4);
    assert_eq!(
        conflict_on(&b, "name").map(|c| c.1),
        Some("gate south".into())
    );

    let told = [notice(
        "key",
        gate,
        "gate south",
        "name",
        "gate north",
        "gate south",
        "the later change wins",
    )];
    assert_eq!(notices(&server, &token, desk.a, 0).await, told);
    // From the cursor A's own push left it at, too.
    assert_eq!(notices(&server, &token, desk.a, 3).await, told);
    // Once per cursor range: a pull from the cursor that brought it has none.
    let cursor = pull_as(&server, &token, Some(desk.a), 0, 1000).await["cursor"]
        .as_u64()
        .unwrap();
    assert_eq!(cursor, 4);
    let again = pull_as(&server, &token, Some(desk.a), cursor, 1000).await;
    assert_eq!(
        (again["changes"].clone(), again.get("conflicts")),
        (json!([]), None)
    );

    // The winner, another desktop and a pull without an origin are told nothing.
    assert!(notices(&server, &token, desk.b, 0).await.is_empty());
    assert!(notices(&server, &token, desk.c, 0).await.is_empty());
    assert!(notices(&server, &token, Uuid::now_v7(), 0).await.is_empty());
    let plain = pull_as(&server, &token, None, 0, 1000).await;
    assert!(plain.get("conflicts").is_none(), "{plain}");

    // Page by page, the notice comes with the page whose range holds its revision.
    let first = pull_as(&server, &token, Some(desk.a), 0, 1).await;
    assert_eq!(
        (first["changes"][0]["id"].clone(), first["cursor"].clone()),
        (json!(lobby), json!(2))
    );
    assert!(conflicts(&first).is_empty(), "{first}");
    let second = pull_as(&server, &token, Some(desk.a), 2, 1).await;
    assert_eq!(second["changes"][0]["id"], json!(gate));
    assert_eq!(conflicts(&second), told);
    let third = pull_as(&server, &token, Some(desk.a), 4, 1).await;
    assert!(conflicts(&third).is_empty(), "{third}");
}

#[tokio::test]
async fn a_later_arriving_deactivation_is_told_to_the_desktop_whose_activation_it_beat() {
    let (server, token, desk, id) = one_key().await;
    // A deactivates and, after a pull, activates again; B, which had not seen
    // either, deactivates afterwards: inactive beats active.
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(id, json!({"status": "inactive"})), 1)],
        )
        .await;
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(id, json!({"status": "active"})), 2)],
        )
        .await;
    server
        .push_ok(
            &token,
            &[desk.on_b(edit_key(id, json!({"status": "inactive"})), 1)],
        )
        .await;
    assert_eq!(record(&server, &token, id).await["status"], "inactive");
    assert_eq!(
        notices(&server, &token, desk.a, 0).await,
        [notice(
            "key",
            id,
            "gate 1",
            "status",
            "active",
            "inactive",
            "inactive beats active"
        )]
    );
    assert!(notices(&server, &token, desk.b, 0).await.is_empty());
}

#[tokio::test]
async fn a_replayed_push_adds_no_notice() {
    let (server, token, desk, id) = one_key().await;
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(id, json!({"name": "gate north"})), 1)],
        )
        .await;
    let b = [desk.on_b(edit_key(id, json!({"name": "gate south"})), 1)];
    let first = server.push_ok(&token, &b).await;
    let told = notices(&server, &token, desk.a, 0).await;
    assert_eq!(told.len(), 1, "{told:?}");
    for _ in 0..2 {
        assert_eq!(server.push_ok(&token, &b).await, first);
    }
    assert_eq!(notices(&server, &token, desk.a, 0).await, told);
}

#[tokio::test]
async fn intersected_scopes_and_incomparable_permissions_are_told_to_the_other_desktop() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let (ops, timing, timing_2) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    server
        .push_ok(
            &token,
            &[
                desk.setup(edit_group(
                    ops,
                    json!({"name": "ops", "scopes": ["devices:read", "devices:write"]}),
                )),
                desk.setup(create_key(timing, "timing", &new_key(), json!({}))),
                desk.setup(create_key(timing_2, "timing 2", &new_key(), json!({}))),
            ],
        )
        .await;
    let scopes_a = desk.on_a(
        edit_group(ops, json!({"scopes": ["devices:read", "sessions:read"]})),
        3,
    );
    let scopes_b = desk.on_b(
        edit_group(
            ops,
            json!({"scopes": ["devices:read", "devices:write", "passings:write"]}),
        ),
        3,
    );
    let read = |id| {
        desk.on_a(
            edit_key(
                id,
                json!({"access": "READ", "allow_unbind": false, "groups": []}),
            ),
            3,
        )
    };
    let write = |id| {
        desk.on_b(
            edit_key(
                id,
                json!({"access": "WRITE", "allow_unbind": false, "groups": []}),
            ),
            3,
        )
    };
    // A first on `ops` and `timing`; B first on `timing 2`.
    for change in [
        scopes_a,
        scopes_b,
        read(timing),
        write(timing),
        write(timing_2),
        read(timing_2),
    ] {
        server.push_ok(&token, &[change]).await;
    }
    let why = "neither side's permissions include the other's: the later change's are kept and the key is made inactive";
    assert_eq!(
        notices(&server, &token, desk.a, 0).await,
        [
            notice(
                "group",
                ops,
                "ops",
                "scopes",
                "devices:read, sessions:read",
                "devices:read",
                "a group keeps only the scopes both sides grant"
            ),
            notice("key", timing, "timing", "access", "READ", "WRITE", why),
            notice("key", timing, "timing", "status", "active", "inactive", why),
        ]
    );
    // B's WRITE stayed on `timing 2`, but the key it left active was made inactive.
    assert_eq!(
        notices(&server, &token, desk.b, 0).await,
        [notice(
            "key", timing_2, "timing 2", "status", "active", "inactive", why
        )]
    );
}

#[tokio::test]
async fn a_delete_that_drops_an_earlier_pushed_edit_tells_its_desktop() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let (gate, lobby) = (Uuid::now_v7(), Uuid::now_v7());
    server
        .push_ok(
            &token,
            &[
                desk.setup(create_key(gate, "gate 1", &new_key(), json!({}))),
                desk.setup(create_key(lobby, "lobby", &new_key(), json!({}))),
            ],
        )
        .await;
    let edit = |id| {
        desk.on_a(
            edit_key(id, json!({"status": "inactive", "description": "north"})),
            2,
        )
    };
    let delete = |id| desk.on_b(change("key", "delete", id, None), 2);
    // `gate`: A's edit arrives first and B's delete drops it; `lobby`: the
    // delete arrives first and A's edit, told in its own result, overrode nothing.
    for change in [edit(gate), delete(gate), delete(lobby), edit(lobby)] {
        server.push_ok(&token, &[change]).await;
    }
    assert_eq!(
        notices(&server, &token, desk.a, 0).await,
        [notice(
            "key",
            gate,
            "gate 1",
            "deleted",
            "edited: description, status",
            "deleted",
            "deleted beats edited"
        )]
    );
    assert!(notices(&server, &token, desk.b, 0).await.is_empty());
}

#[tokio::test]
async fn an_overriding_name_that_was_taken_is_told_as_it_ended() {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let (gate, south) = (Uuid::now_v7(), Uuid::now_v7());
    server
        .push_ok(
            &token,
            &[
                desk.setup(create_key(gate, "gate 1", &new_key(), json!({}))),
                desk.setup(create_key(south, "Gate South", &new_key(), json!({}))),
            ],
        )
        .await;
    server
        .push_ok(
            &token,
            &[desk.on_a(edit_key(gate, json!({"name": "gate north"})), 2)],
        )
        .await;
    server
        .push_ok(
            &token,
            &[desk.on_b(edit_key(gate, json!({"name": "gate south"})), 2)],
        )
        .await;
    assert_eq!(
        notices(&server, &token, desk.a, 0).await,
        [notice(
            "key",
            gate,
            "gate south (2)",
            "name",
            "gate north",
            "gate south (2)",
            "the later change wins"
        )]
    );
}

#[tokio::test]
async fn the_openapi_document_has_the_pull_origin_and_its_conflicts() {
    let server = Server::start(&[]);
    let doc = server.send("GET", "/openapi.json", &[], None).await.json();
    let parameters = doc["paths"]["/v1/sync/pull"]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "origin" && p["in"] == "query"),
        "{parameters:?}"
    );
    let response = &doc["components"]["schemas"]["PullResponse"];
    assert!(
        response["properties"]["conflicts"].is_object(),
        "{response}"
    );
    assert!(doc["components"]["schemas"]["Conflict"]["properties"]["kept"].is_object());
}

/// A server holding one key "gate 1" that both desktops have pulled.
async fn one_key() -> (Server, String, Desktops, Uuid) {
    let server = Server::start(&[]);
    let token = server.token("Acme");
    let desk = Desktops::new();
    let id = Uuid::now_v7();
    server
        .push_ok(
            &token,
            &[desk.setup(create_key(id, "gate 1", &new_key(), json!({})))],
        )
        .await;
    (server, token, desk, id)
}

// ---------------------------------------------------------------------------
// The merge as a property: random concurrent edits of one key by two
// desktops, pushed in both orders on the real server.

mod property {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use keyward_model::access::{decide, Grant, Request};
    use keyward_model::{AccessType, Action, KeyStatus, Method, Scope};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use serde_json::{json, Value};
    use time::{Duration, OffsetDateTime};
    use uuid::Uuid;

    use super::support::*;

    const GROUPS: usize = 3;
    const RESOURCES: [&str; 3] = ["devices", "sessions", "passings"];
    /// The probes: every method on every resource a scope can name, and one no scope names.
    const PROBED: [&str; 4] = ["devices", "sessions", "passings", "elsewhere"];

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expiry {
        Past,
        Soon,
        Later,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Permissions {
        access: AccessType,
        allow_unbind: bool,
        /// Indexes into the case's groups.
        groups: BTreeSet<usize>,
    }

    /// What the security of a key depends on, as a desktop would hold it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct View {
        permissions: Permissions,
        status: KeyStatus,
        expiry: Option<Expiry>,
    }

    /// One desktop's offline edit: the fields it names (`None`: left alone).
    #[derive(Debug, Clone)]
    struct Patch {
        /// Seconds after the other desktop's earliest possible edit: ties happen.
        at: i64,
        status: Option<KeyStatus>,
        /// `Some(None)` clears the expiry.
        expiry: Option<Option<Expiry>>,
        permissions: Option<Permissions>,
        name: Option<&'static str>,
        description: Option<Option<&'static str>>,
    }

    #[derive(Debug, Clone)]
    struct Case {
        scopes: [BTreeSet<Scope>; GROUPS],
        base: View,
        a: Patch,
        b: Patch,
    }

    impl View {
        /// This view with `patch` laid over it: what its desktop holds after the edit.
        fn then(&self, patch: &Patch) -> View {
            View {
                permissions: patch
                    .permissions
                    .clone()
                    .unwrap_or_else(|| self.permissions.clone()),
                status: patch.status.unwrap_or(self.status),
                expiry: patch.expiry.unwrap_or(self.expiry),
            }
        }

        /// Whether a key so set is VALID for `request` (at a time when `Past`
        /// has expired and `Soon` and `Later` have not).
        fn allows(&self, scopes: &[BTreeSet<Scope>; GROUPS], request: &Request) -> bool {
            if self.status != KeyStatus::Active || self.expiry == Some(Expiry::Past) {
                return false;
            }
            let union: BTreeSet<Scope> = self
                .permissions
                .groups
                .iter()
                .flat_map(|g| scopes[*g].iter().cloned())
                .collect();
            let grant = Grant {
                access: self.permissions.access,
                allow_unbind: self.permissions.allow_unbind,
                scopes: (!self.permissions.groups.is_empty()).then_some(&union),
            };
            decide(&grant, request).is_ok()
        }
    }

    fn any_permissions() -> impl Strategy<Value = Permissions> {
        (
            prop::sample::select(AccessType::ALL.to_vec()),
            any::<bool>(),
            prop::collection::btree_set(0..GROUPS, 0..=GROUPS),
        )
            .prop_map(|(access, unbind, groups)| Permissions {
                access,
                allow_unbind: unbind && access != AccessType::Read,
                groups,
            })
    }

    // Weighted towards live keys, so that most merged keys answer some probe VALID.
    fn any_status() -> impl Strategy<Value = KeyStatus> {
        prop_oneof![4 => Just(KeyStatus::Active), 1 => Just(KeyStatus::Inactive)]
    }

    fn any_expiry() -> impl Strategy<Value = Option<Expiry>> {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(Expiry::Past)),
            2 => Just(Some(Expiry::Soon)),
            2 => Just(Some(Expiry::Later)),
        ]
    }

    fn any_scopes() -> impl Strategy<Value = BTreeSet<Scope>> {
        prop::collection::btree_set(
            (
                prop::sample::select(RESOURCES.to_vec()),
                prop::sample::select(Action::ALL.to_vec()),
            )
                .prop_map(|(resource, action)| Scope::new(resource, action)),
            1..6,
        )
    }

    fn any_patch() -> impl Strategy<Value = Patch> {
        (
            0i64..3,
            prop::option::weighted(0.5, any_status()),
            prop::option::weighted(0.4, any_expiry()),
            prop::option::weighted(0.75, any_permissions()),
            prop::option::of(prop::sample::select(vec!["north", "south"])),
            prop::option::of(prop::option::of(prop::sample::select(vec![
                "north side",
                "south side",
            ]))),
        )
            .prop_map(
                |(at, status, expiry, permissions, name, description)| Patch {
                    at,
                    status,
                    expiry,
                    permissions,
                    name,
                    description,
                },
            )
    }

    fn any_case() -> impl Strategy<Value = Case> {
        (
            [any_scopes(), any_scopes(), any_scopes()],
            any_permissions(),
            any_status(),
            any_expiry(),
            any_patch(),
            any_patch(),
        )
            .prop_map(|(scopes, permissions, status, expiry, a, b)| Case {
                scopes,
                base: View {
                    permissions,
                    status,
                    expiry,
                },
                a,
                b,
            })
    }

    /// One account on the server and its desktops: `setup` made the records,
    /// `a` and `b` edit them. Their tokens were made in that order in every
    /// account, so a tie in time is broken the same way in each.
    struct Account {
        setup: String,
        a: String,
        b: String,
    }

    struct World {
        server: Server,
        now: OffsetDateTime,
        /// Pushed A first, then B.
        a_first: Account,
        /// Pushed B first, then A.
        b_first: Account,
        cases: AtomicUsize,
        /// Cases where both desktops changed the permissions and the merged key
        /// stayed active and VALID for some probe: the merge rule really judged.
        judged: AtomicUsize,
        /// Cases whose merged key answered VALID to some probe.
        some_valid: AtomicUsize,
    }

    impl World {
        fn new() -> World {
            // Every probe of an inactive or narrowed key is a failure: no limit.
            let server = Server::start(&["--verify-failure-burst", "1000000000"]);
            let token = |account: &str, desktop: &str| server.token_labelled(account, desktop);
            let account = |name: &str| Account {
                setup: token(name, "setup"),
                a: token(name, "desktop A"),
                b: token(name, "desktop B"),
            };
            let a_first = account("A first");
            let b_first = account("B first");
            let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
            World {
                server,
                now,
                a_first,
                b_first,
                cases: AtomicUsize::new(0),
                judged: AtomicUsize::new(0),
                some_valid: AtomicUsize::new(0),
            }
        }

        fn expiry_at(&self, expiry: Option<Expiry>) -> Value {
            match expiry {
                None => Value::Null,
                Some(Expiry::Past) => json!(rfc3339(self.now - Duration::days(2))),
                Some(Expiry::Soon) => json!(rfc3339(self.now + Duration::days(2))),
                Some(Expiry::Later) => json!(rfc3339(self.now + Duration::days(30))),
            }
        }

        fn permissions_json(permissions: &Permissions, groups: &[Uuid]) -> Value {
            let ids: Vec<Uuid> = permissions.groups.iter().map(|g| groups[*g]).collect();
            json!({"access": permissions.access.as_str(), "allow_unbind": permissions.allow_unbind, "groups": ids})
        }

        fn patch_change(&self, id: Uuid, patch: &Patch, groups: &[Uuid], case: usize) -> Value {
            let mut fields = serde_json::Map::new();
            if let Some(status) = patch.status {
                fields.insert("status".into(), json!(status.as_str()));
            }
            if let Some(expiry) = patch.expiry {
                fields.insert("expires_at".into(), self.expiry_at(expiry));
            }
            if let Some(permissions) = &patch.permissions {
                let flat = World::permissions_json(permissions, groups);
                fields.extend(flat.as_object().unwrap().clone());
            }
            if let Some(name) = patch.name {
                fields.insert("name".into(), json!(format!("key {case} {name}")));
            }
            if let Some(description) = patch.description {
                fields.insert("description".into(), json!(description));
            }
            change("key", "upsert", id, Some(Value::Object(fields)))
        }

        /// Pushes `changes` with `token`; every one must apply. Their results.
        async fn applied(&self, token: &str, changes: &[Value]) -> Result<Vec<Value>, String> {
            let reply = self
                .server
                .post_json("/v1/sync/push", Some(token), &json!({ "changes": changes }))
                .await;
            if reply.status != 200 {
                return Err(format!(
                    "push answered {}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
            let results = reply.json()["results"].as_array().cloned().unwrap();
            match results.iter().find(|r| r["outcome"] != "applied") {
                Some(result) => Err(format!("a change was not applied: {result}")),
                None => Ok(results),
            }
        }

        /// Sets the case up in `account`, pushes its two edits in the given
        /// order: the key's record as pulled afterwards (groups as indexes,
        /// without what differs between accounts), and its full key.
        async fn run(
            &self,
            account: &Account,
            case: usize,
            c: &Case,
            a_first: bool,
        ) -> Result<(Value, String), String> {
            let t0 = self.now - Duration::hours(1);
            let groups: Vec<Uuid> = (0..GROUPS).map(|_| Uuid::now_v7()).collect();
            let (id, key) = (Uuid::now_v7(), new_key());
            let mut setup: Vec<Value> = groups
                .iter()
                .enumerate()
                .map(|(g, group)| {
                    let scopes: Vec<String> = c.scopes[g].iter().map(Scope::to_string).collect();
                    let name = format!("group {case} {g}");
                    change(
                        "group",
                        "upsert",
                        *group,
                        Some(json!({"name": name, "scopes": scopes})),
                    )
                })
                .collect();
            let mut fields = World::permissions_json(&c.base.permissions, &groups);
            fields["status"] = json!(c.base.status.as_str());
            fields["expires_at"] = self.expiry_at(c.base.expiry);
            fields["description"] = json!("as set up");
            setup.push(create_key(id, &format!("key {case}"), &key, fields));
            let setup: Vec<Value> = setup
                .into_iter()
                .map(|change| made_on(change, Uuid::nil(), 0, t0))
                .collect();
            let results = self.applied(&account.setup, &setup).await?;
            // Both desktops pulled everything the setup made, then went offline.
            let base = results.last().unwrap()["revision"].as_u64().unwrap();
            let edit = |patch: &Patch| {
                let at = t0 + Duration::minutes(1) + Duration::seconds(patch.at);
                made_on(
                    self.patch_change(id, patch, &groups, case),
                    Uuid::nil(),
                    base,
                    at,
                )
            };
            let (a, b) = (edit(&c.a), edit(&c.b));
            let order = if a_first {
                [(&account.a, a), (&account.b, b)]
            } else {
                [(&account.b, b), (&account.a, a)]
            };
            for (token, change) in order {
                self.applied(token, &[change]).await?;
            }
            let pulled = self.server.pull(&account.setup, base).await;
            let mut record = pulled["changes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|change| change["id"] == json!(id))
                .and_then(|change| change.get("key").cloned())
                .ok_or_else(|| format!("key {id} not pulled after its edits: {pulled}"))?;
            let mut indexes: Vec<usize> = record["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| groups.iter().position(|known| json!(known) == *g).unwrap())
                .collect();
            indexes.sort();
            record["groups"] = json!(indexes);
            let object = record.as_object_mut().unwrap();
            object.remove("verifier");
            object.remove("hint");
            Ok((record, key.secret.expose().to_string()))
        }

        async fn check(&self, c: &Case) -> Result<(), TestCaseError> {
            let case = self.cases.fetch_add(1, Ordering::Relaxed);
            let fail = |message: String| TestCaseError::fail(message);
            let (a_first, key) = self.run(&self.a_first, case, c, true).await.map_err(fail)?;
            let (b_first, _) = self
                .run(&self.b_first, case, c, false)
                .await
                .map_err(fail)?;
            if a_first != b_first {
                return Err(fail(format!(
                    "the arrival order changed the record:\nA first: {a_first}\nB first: {b_first}"
                )));
            }
            // Each desktop's own view of the key, had it seen the other's edit
            // before making its own: the other's fields, its own laid over them.
            // (Where both named every security field, that is base + its own patch.)
            let a_view = c.base.then(&c.b).then(&c.a);
            let b_view = c.base.then(&c.a).then(&c.b);
            let mut valid = 0;
            for method in Method::ALL {
                for resource in PROBED {
                    let request = Request::new(method, resource, false).unwrap();
                    let method = format!("{method:?}").to_uppercase();
                    let answer = self.server.verify(&key, &method, resource).await;
                    if answer["result"] != "VALID" {
                        continue;
                    }
                    valid += 1;
                    let (by_a, by_b) = (
                        a_view.allows(&c.scopes, &request),
                        b_view.allows(&c.scopes, &request),
                    );
                    if !(by_a && by_b) {
                        return Err(fail(format!(
                            "{method} {resource} is VALID on the server, wider than desktop {}'s own view \
                             (A's view {a_view:?}, B's view {b_view:?}); merged record: {a_first}",
                            if by_a { "B" } else { "A" }
                        )));
                    }
                }
            }
            if valid > 0 {
                self.some_valid.fetch_add(1, Ordering::Relaxed);
                if c.a.permissions.is_some() && c.b.permissions.is_some() {
                    self.judged.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        }
    }

    /// Two desktops edit one key offline — status, expiry, permissions (access
    /// type, unbind and groups as one), name, description, any of them — and
    /// push in either order: the server ends with the same record either way,
    /// and the merged key is never VALID for a request that either desktop's
    /// own view of it refuses (unless the merge made it inactive). Groups'
    /// scopes, the base record and ties in time are random too.
    /// `KEYWARD_MERGE_CASES` sets how many cases run (default 256).
    #[test]
    fn concurrent_edits_merge_to_one_record_never_wider_than_either_desktop_saw() {
        let cases: u32 = std::env::var("KEYWARD_MERGE_CASES")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(256);
        let world = World::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = Config {
            cases,
            max_shrink_iters: 500,
            failure_persistence: None,
            ..Config::default()
        };
        let started = std::time::Instant::now();
        let result =
            TestRunner::new(config).run(&any_case(), |case| runtime.block_on(world.check(&case)));
        let (ran, judged, some_valid) = (
            world.cases.load(Ordering::Relaxed),
            world.judged.load(Ordering::Relaxed),
            world.some_valid.load(Ordering::Relaxed),
        );
        eprintln!(
            "merge property: {ran} cases (incl. shrinking) in {:?}; {some_valid} merged keys VALID somewhere, \
             {judged} of them with permissions edited on both desktops",
            started.elapsed()
        );
        if let Err(err) = result {
            panic!("{err}");
        }
        assert!(
            judged * 20 >= ran,
            "too few cases exercised the permission merge on a live key to prove much: {judged} of {ran}"
        );
    }
}
