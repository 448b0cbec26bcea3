//! PROTOCOL.md 5.4 and the mute of 5.5: residents' profiles, consents and `--require-consent`,
//! the town directory, a user's room settings, and people listed by reading (五十音順).

use serde_json::{json, Value};
use std::time::Duration;
use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

fn fast(args: &mut yui_server::config::ServeArgs) {
    args.limits.rate_per_second = 1000;
    args.limits.rate_burst = 1000;
}

fn consent_gate(args: &mut yui_server::config::ServeArgs) {
    fast(args);
    args.require_consent = true;
}

async fn fast_app() -> TestApp {
    spawn_app_with(Options {
        tune: Some(fast),
        ..Options::default()
    })
    .await
}

fn named(mut u: User, name: &str) -> User {
    u.name = name.into();
    u
}

fn profile() -> Value {
    json!({
        "name": " 山田 ハナ ",
        "kana": "やまだ はな",
        "birth_year": 1940,
        "household": [{"name": "山田 太郎", "relation": "長男（同居、就労なし）"}],
        "notes": "8050 世帯。\r\n長男の支援も相談中。"
    })
}

fn consent() -> Value {
    json!({
        "given_by": "山田 ハナ",
        "relation": "本人",
        "date": "2026-11-20",
        "explained_by": "ケアマネ 佐藤",
        "scope": "訪問看護・訪問介護・薬局の間での記録の共有"
    })
}

async fn actions(app: &TestApp, admin: &User, room: &str) -> Vec<String> {
    let (s, b) = app
        .call(admin, "GET", &format!("/api/audit?room={room}"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    b["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect()
}

/// The message names the field: `field: …`, or serde's "missing field `field`".
fn names(message: &str, field: &str) -> bool {
    message.starts_with(field) || message.contains(&format!("missing field `{field}`"))
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_resident_profile_is_kept_shown_to_readers_and_logged() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let admin = User::admin("admin");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "yamada", &[&nurse]).await;

    let (s, b) = app
        .call(&coord, "PUT", "/api/rooms/yamada/resident", Some(profile()))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["name"], "山田 ハナ");
    assert_eq!(b["id"], "yamada", "no v1 id: the room's id");
    assert_eq!(b["kana"], "やまだ はな");
    assert_eq!(b["birth_year"], 1940);
    assert_eq!(b["household"][0]["relation"], "長男（同居、就労なし）");
    assert_eq!(b["notes"], "8050 世帯。\n長男の支援も相談中。");

    // Readers see it in the room and in their room list (the summary's short form).
    let (s, b) = app.call(&nurse, "GET", "/api/rooms/yamada", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resident"]["kana"], "やまだ はな");
    assert_eq!(b["resident"]["household"][0]["name"], "山田 太郎");
    let (_, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    let summary = &b["rooms"][0];
    assert_eq!(summary["room"], r.as_str());
    assert_eq!(
        summary["resident"],
        json!({"id":"yamada","name":"山田 ハナ","kana":"やまだ はな"})
    );
    assert!(summary.get("notes").is_none() && summary["resident"].get("notes").is_none());
    let c = app.connect(&nurse).await;
    assert_eq!(c.welcome_rooms()[0]["resident"]["kana"], "やまだ はな");

    // The v1 resident of PUT /api/rooms is the same one: its name, the profile's; its id kept.
    let (s, b) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/yamada",
            Some(json!({"kind":"team","title":"山田様","town":"misaki",
                        "resident":{"id":"R-7","name":"山田 はな"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resident"]["id"], "R-7");
    assert_eq!(b["resident"]["name"], "山田 はな");
    assert_eq!(b["resident"]["kana"], "やまだ はな", "the rest stays");
    let (_, b) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/yamada/resident",
            Some(json!({"name":"山田 ハナ"})),
        )
        .await;
    assert_eq!(b["id"], "R-7");
    assert!(b.get("kana").is_none(), "a PUT replaces the profile: {b}");
    assert_eq!(b["household"], json!([]));

    // Managers only: a plain member is forbidden, others see no room.
    let (s, b) = app
        .call(&nurse, "PUT", "/api/rooms/yamada/resident", Some(profile()))
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let outsider = User::member("outsider");
    let other_coord = User::coordinator("coord-b").in_town("kawabe");
    let other_member = User::member("kb-nurse").in_town("kawabe");
    for u in [&outsider, &other_coord, &other_member] {
        let (s, b) = app
            .call(u, "PUT", "/api/rooms/yamada/resident", Some(profile()))
            .await;
        assert_eq!((s, code(&b)), (404, "not_found"), "{}", u.id);
        let (s, _) = app.call(u, "GET", "/api/rooms/yamada", None).await;
        assert_eq!(s, 404, "{}", u.id);
    }
    // An admin manages every town's rooms.
    let (s, _) = app
        .call(&admin, "PUT", "/api/rooms/yamada/resident", Some(profile()))
        .await;
    assert_eq!(s, 200);
    // A town room has no resident.
    app.town_room(&coord, "misaki-board").await;
    let (s, b) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/misaki-board/resident",
            Some(profile()),
        )
        .await;
    assert_eq!((s, code(&b)), (400, "bad_request"), "{b}");

    let logged = actions(&app, &admin, "yamada").await;
    assert_eq!(
        logged.iter().filter(|a| *a == "resident_updated").count(),
        3,
        "{logged:?}"
    );
}

#[tokio::test]
async fn a_resident_profile_refuses_hostile_and_out_of_range_values_naming_the_field() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    app.team_room(&coord, "r1", &[]).await;
    let cases = [
        (json!({"name":"山田\u{202e}ハナ"}), "name"),
        (json!({"name":"  "}), "name"),
        (json!({"name":"a".repeat(101)}), "name"),
        (json!({"name":"山田","kana":"山田"}), "kana"),
        (json!({"name":"山田","kana":"yamada"}), "kana"),
        (json!({"name":"山田","kana":"ｶﾀｶﾅ"}), "kana"),
        (json!({"name":"山田","birth_year":1899}), "birth_year"),
        (json!({"name":"山田","birth_year":2999}), "birth_year"),
        (json!({"name":"山田","birth_year":"1940"}), "birth_year"),
        (
            json!({"name":"山田","household":vec![json!({"name":"a","relation":"b"}); 11]}),
            "household",
        ),
        (
            json!({"name":"山田","household":[{"name":"a\u{0}","relation":"妻"}]}),
            "household[0].name",
        ),
        (
            json!({"name":"山田","household":[{"name":"a","relation":"x".repeat(51)}]}),
            "household[0].relation",
        ),
        (json!({"name":"山田","notes":"あ".repeat(2001)}), "notes"),
        (json!({"name":"山田","notes":"bell\u{7}"}), "notes"),
        (json!({"kana":"やまだ"}), "name"),
    ];
    for (body, field) in cases {
        let (s, b) = app
            .call(&coord, "PUT", "/api/rooms/r1/resident", Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{body}: {b}");
        let message = b["error"]["message"].as_str().unwrap_or("");
        assert!(names(message, field), "{body}: {message}");
        assert!(!message.contains('\u{202e}') && !message.contains('\u{7}'));
    }
    // Nothing of it was kept.
    let (_, b) = app.call(&coord, "GET", "/api/rooms/r1", None).await;
    assert!(b.get("resident").is_none(), "{b}");
    // A lone surrogate is refused with the field's path.
    let resp = app
        .http
        .put(app.url("/api/rooms/r1/resident"))
        .bearer_auth(app.token(&coord))
        .header("content-type", "application/json")
        .body(r#"{"name":"\ud800"}"#)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn consents_are_recorded_by_managers_read_by_members_withdrawn_once_never_erased() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let admin = User::admin("admin");
    let nurse = User::member("nurse");
    app.team_room(&coord, "yamada", &[&nurse]).await;

    let (s, b) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/consents",
            Some(consent()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty());
    assert_eq!(b["given_by"], "山田 ハナ");
    assert_eq!(b["relation"], "本人");
    assert_eq!(b["date"], "2026-11-20");
    assert_eq!(b["recorded_by"], json!({"id":"coord","name":coord.name}));
    assert!(b["recorded_at"].is_string());
    assert_eq!(b["withdrawal"], Value::Null);

    // Members read; they do not record or withdraw.
    let (s, b) = app
        .call(&nurse, "GET", "/api/rooms/yamada/consents", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["consents"][0]["id"], id.as_str());
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/yamada/consents",
            Some(consent()),
        )
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let withdraw = format!("/api/rooms/yamada/consents/{id}/withdraw");
    let (s, _) = app
        .call(
            &nurse,
            "POST",
            &withdraw,
            Some(json!({"date":"2026-11-25"})),
        )
        .await;
    assert_eq!(s, 403);
    // Those who cannot see the room see no consents.
    for u in [
        User::member("outsider"),
        User::coordinator("coord-b").in_town("kawabe"),
    ] {
        let (s, _) = app
            .call(&u, "GET", "/api/rooms/yamada/consents", None)
            .await;
        assert_eq!(s, 404, "{}", u.id);
        let (s, _) = app
            .call(&u, "POST", "/api/rooms/yamada/consents", Some(consent()))
            .await;
        assert_eq!(s, 404, "{}", u.id);
    }

    // Bad consents are refused, naming the field; nothing is kept.
    let mut future = consent();
    future["date"] = json!("2999-01-01");
    let bad = [
        (
            json!({"relation":"本人","date":"2026-11-20","explained_by":"x"}),
            "given_by",
        ),
        (
            json!({"given_by":"a","relation":"本人","date":"20-11-2026","explained_by":"x"}),
            "date",
        ),
        (
            json!({"given_by":"a","relation":"本人","date":"2026-02-30","explained_by":"x"}),
            "date",
        ),
        (
            json!({"given_by":"a\u{2066}","relation":"本人","date":"2026-11-20","explained_by":"x"}),
            "given_by",
        ),
        (
            json!({"given_by":"a","relation":"","date":"2026-11-20","explained_by":"x"}),
            "relation",
        ),
        (
            json!({"given_by":"a","relation":"本人","date":"2026-11-20","explained_by":"x","document":"../etc"}),
            "document",
        ),
        (
            json!({"given_by":"a","relation":"本人","date":"2026-11-20","explained_by":"x","document":"att-1"}),
            "document",
        ),
        (future, "date"),
    ];
    for (body, field) in bad {
        let (s, b) = app
            .call(
                &coord,
                "POST",
                "/api/rooms/yamada/consents",
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 400, "{body}: {b}");
        let message = b["error"]["message"].as_str().unwrap_or("");
        assert!(names(message, field), "{body}: {message}");
    }

    // A withdrawal before the consent's date, or in the future, is refused.
    let (s, b) = app
        .call(
            &coord,
            "POST",
            &withdraw,
            Some(json!({"date":"2026-11-19"})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = app
        .call(
            &coord,
            "POST",
            &withdraw,
            Some(json!({"date":"2999-01-01"})),
        )
        .await;
    assert_eq!(s, 400);
    // Withdrawn once, with who and when; the consent stays listed.
    let (s, b) = app
        .call(
            &coord,
            "POST",
            &withdraw,
            Some(json!({"date":"2026-11-25","note":"ご家族の意向により"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["withdrawal"]["date"], "2026-11-25");
    assert_eq!(b["withdrawal"]["note"], "ご家族の意向により");
    assert_eq!(b["withdrawal"]["recorded_by"]["id"], "coord");
    let (s, b) = app
        .call(
            &admin,
            "POST",
            &withdraw,
            Some(json!({"date":"2026-11-26"})),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "conflict"), "{b}");
    let (s, _) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/consents/nosuch/withdraw",
            Some(json!({"date":"2026-11-25"})),
        )
        .await;
    assert_eq!(s, 404);
    // A new consent: newest first, the withdrawn one kept.
    let (s, _) = app
        .call(
            &admin,
            "POST",
            "/api/rooms/yamada/consents",
            Some(consent()),
        )
        .await;
    assert_eq!(s, 201);
    let (_, b) = app
        .call(&nurse, "GET", "/api/rooms/yamada/consents", None)
        .await;
    let list = b["consents"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2, "{b}");
    assert_eq!(list[0]["withdrawal"], Value::Null);
    assert_eq!(list[1]["id"], id.as_str());
    assert_eq!(list[1]["withdrawal"]["date"], "2026-11-25");

    let logged = actions(&app, &admin, "yamada").await;
    assert_eq!(
        logged.iter().filter(|a| *a == "consent_recorded").count(),
        2
    );
    assert_eq!(
        logged.iter().filter(|a| *a == "consent_withdrawn").count(),
        1
    );
}

#[tokio::test]
async fn require_consent_refuses_posts_until_a_consent_stands_reads_go_on() {
    let app = spawn_app_with(Options {
        tune: Some(consent_gate),
        ..Options::default()
    })
    .await;
    let (_, config) = app.call_token(None, "GET", "/api/config", None).await;
    assert_eq!(config["require_consent"], true);
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "yamada", &[&nurse]).await;
    let mut c = app.connect(&nurse).await;
    assert!(matches!(
        c.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));

    let post = |n: u32| json!({"client_id": format!("h-{n}"), "body": "訪問しました"});
    let (s, b) = app
        .call(&nurse, "POST", "/api/rooms/yamada/messages", Some(post(1)))
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"), "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("同意書を登録してください"));
    let f = c.post(&r, "w-1", "訪問しました").await;
    assert_eq!(error_code(&f), ErrorCode::Forbidden, "{f:?}");
    // Reads still work.
    let (s, b) = app
        .call(&nurse, "GET", "/api/rooms/yamada/messages", None)
        .await;
    assert_eq!(s, 200, "{b}");
    // Town rooms need no consent.
    let board = app.town_room(&coord, "board").await;
    let (s, _) = app
        .call(&coord, "POST", "/api/rooms/board/messages", Some(post(2)))
        .await;
    assert_eq!(s, 201, "{board}");

    // A consent lifts it, on WebSocket and HTTP alike.
    let (s, b) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/consents",
            Some(consent()),
        )
        .await;
    assert_eq!(s, 201);
    let id = b["id"].as_str().unwrap_or_default().to_string();
    let f = c.post(&r, "w-1", "訪問しました").await;
    assert!(matches!(f, ServerFrame::Ack { .. }), "{f:?}");
    let (s, b) = app
        .call(&nurse, "POST", "/api/rooms/yamada/messages", Some(post(3)))
        .await;
    assert_eq!(s, 201, "{b}");

    // Withdrawn: refused again.
    let (s, _) = app
        .call(
            &coord,
            "POST",
            &format!("/api/rooms/yamada/consents/{id}/withdraw"),
            Some(json!({"date":"2026-11-25"})),
        )
        .await;
    assert_eq!(s, 200);
    let f = c.post(&r, "w-2", "再訪問").await;
    assert_eq!(error_code(&f), ErrorCode::Forbidden, "{f:?}");
    // A retry of a post committed while the consent stood gets its first answer again.
    let f = c.post(&r, "w-1", "訪問しました").await;
    assert!(matches!(f, ServerFrame::Ack { seq: Some(1), .. }), "{f:?}");
    let (s, b) = app
        .call(&nurse, "POST", "/api/rooms/yamada/messages", Some(post(3)))
        .await;
    assert_eq!((s, b["seq"].clone()), (200, json!(2)), "{b}");
    let (s, _) = app
        .call(&nurse, "POST", "/api/rooms/yamada/messages", Some(post(4)))
        .await;
    assert_eq!(s, 403);
    let (_, b) = app
        .call(&nurse, "GET", "/api/rooms/yamada/messages", None)
        .await;
    assert_eq!(b["messages"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn without_require_consent_posts_need_no_consent() {
    let app = fast_app().await;
    let (_, config) = app.call_token(None, "GET", "/api/config", None).await;
    assert_eq!(config["require_consent"], false);
    let coord = User::coordinator("coord");
    let r = app.team_room(&coord, "yamada", &[]).await;
    let mut c = app.connect(&coord).await;
    let f = c.post(&r, "w-1", "訪問しました").await;
    assert!(matches!(f, ServerFrame::Ack { .. }), "{f:?}");
}

#[tokio::test]
async fn members_are_listed_by_reading() {
    let app = fast_app().await;
    let coord = named(User::coordinator("a-coord"), "わたなべ 市役所");
    let users = [
        named(User::member("u1"), "さとう"),
        named(User::member("u2"), "アオキ"),
        named(User::member("u3"), "かとう"),
        named(User::member("u4"), "ｲﾄｳ"),
    ];
    for u in &users {
        app.call(u, "GET", "/api/me/rooms", None).await;
    }
    app.call(&coord, "GET", "/api/me/rooms", None).await;
    let refs: Vec<&User> = users.iter().collect();
    let r = app.team_room(&coord, "r1", &refs).await;
    let expected = ["アオキ", "ｲﾄｳ", "かとう", "さとう", "わたなべ 市役所"];
    let (_, b) = app.call(&coord, "GET", "/api/rooms/r1", None).await;
    let names: Vec<&str> = b["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, expected, "{b}");
    let mut c = app.connect(&users[0]).await;
    let ServerFrame::Subscribed { members, .. } = c.subscribe(&r, None).await else {
        panic!("not subscribed")
    };
    let names: Vec<String> = members
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.name.into_string())
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn a_mute_round_trips_shows_in_the_room_list_and_expires() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "yamada", &[&nurse]).await;
    app.town_room(&coord, "board").await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(8))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (s, b) = app
        .call(
            &nurse,
            "PUT",
            "/api/me/rooms/yamada/settings",
            Some(json!({"muted_until": until})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b, json!({"room":"yamada","muted_until": until}));
    let muted = |b: &Value, room: &str| {
        b["rooms"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["room"] == room).cloned())
            .map(|x| x["muted_until"].clone())
    };
    let (_, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(muted(&b, "yamada"), Some(json!(until)));
    assert_eq!(muted(&b, "board"), Some(Value::Null), "{b}");
    // Only the user's own: another member's list is unchanged.
    let (_, b) = app.call(&coord, "GET", "/api/me/rooms", None).await;
    assert_eq!(muted(&b, "yamada"), Some(Value::Null));
    let c = app.connect(&nurse).await;
    let w = c.welcome_rooms();
    assert!(w
        .iter()
        .any(|x| x["room"] == "yamada" && x["muted_until"] == json!(until)));

    // A town room the user reads can be muted too; null unmutes; a past time is null.
    let (s, _) = app
        .call(
            &nurse,
            "PUT",
            "/api/me/rooms/board/settings",
            Some(json!({"muted_until": until})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .call(
            &nurse,
            "PUT",
            "/api/me/rooms/board/settings",
            Some(json!({"muted_until": null})),
        )
        .await;
    assert_eq!((s, b["muted_until"].clone()), (200, Value::Null));
    let (_, b) = app
        .call(
            &nurse,
            "PUT",
            "/api/me/rooms/board/settings",
            Some(json!({"muted_until": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(b["muted_until"], Value::Null);

    // Expiry: a mute ending in a moment is shown, then null.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.call(
        &nurse,
        "PUT",
        "/api/me/rooms/yamada/settings",
        Some(json!({"muted_until": soon})),
    )
    .await;
    let (_, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(muted(&b, "yamada"), Some(json!(soon)));
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let (_, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(muted(&b, "yamada"), Some(Value::Null));

    // Bad times and rooms the user may not read.
    for bad in [
        json!({"muted_until":"tomorrow"}),
        json!({"muted_until":"2999-01-01T00:00:00Z"}),
        json!({"muted_until": 5}),
    ] {
        let (s, b) = app
            .call(
                &nurse,
                "PUT",
                "/api/me/rooms/yamada/settings",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("muted_until"),
            "{b}"
        );
    }
    let outsider = User::member("outsider");
    for room in ["yamada", "nosuch"] {
        let (s, b) = app
            .call(
                &outsider,
                "PUT",
                &format!("/api/me/rooms/{room}/settings"),
                Some(json!({"muted_until": until})),
            )
            .await;
        assert_eq!((s, code(&b)), (404, "not_found"));
    }
    // The coordinator manages the room but does not read it: 404 too.
    let admin = User::admin("admin");
    let (s, _) = app
        .call(
            &admin,
            "PUT",
            "/api/me/rooms/yamada/settings",
            Some(json!({"muted_until": until})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_directory_finds_a_towns_users_for_its_coordinators_and_admins() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let admin = User::admin("admin");
    let mut sato = named(User::member("Sato.N"), "佐藤 花子");
    sato.org = "みさき訪問看護ステーション".into();
    let mut kato = named(User::member("kato"), "カトウ タロウ");
    kato.org = "Misaki Pharmacy".into();
    let far = named(User::member("far"), "佐藤 遠い").in_town("kawabe");
    for u in [&sato, &kato, &far, &coord] {
        let (s, _) = app.call(u, "GET", "/api/me/rooms", None).await;
        assert_eq!(s, 200);
    }
    // Known only from a member's profile (no token, so no town): not listed.
    let r = app.team_room(&coord, "r1", &[]).await;
    app.call(
        &coord,
        "PUT",
        &format!("/api/rooms/{r}/members/ghost"),
        Some(json!({"name":"佐藤 幽霊"})),
    )
    .await;

    let find = |q: &str| format!("/api/towns/misaki/users?q={}", urlencode(q));
    let ids = |b: &Value| -> Vec<String> {
        b["users"]
            .as_array()
            .map(|u| {
                u.iter()
                    .filter_map(|x| x["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (s, b) = app.call(&coord, "GET", &find("佐藤"), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        ids(&b),
        ["Sato.N"],
        "another town's 佐藤 and the profile-only one are not listed"
    );
    assert_eq!(b["users"][0]["org"], "みさき訪問看護ステーション");
    assert_eq!(b["users"][0]["profession"], "nurse");
    assert!(b["users"][0]["last_seen"].is_string(), "{b}");
    assert_eq!(b["more"], false);
    // Org, id (case-insensitive), kana folded (かとう finds カトウ), full-width Latin.
    for (q, want) in [
        ("ステーション", "Sato.N"),
        ("sato.n", "Sato.N"),
        ("かとう", "kato"),
        ("ＰＨＡＲＭ", "kato"),
        ("pharmacy", "kato"),
    ] {
        let (_, b) = app.call(&coord, "GET", &find(q), None).await;
        assert_eq!(ids(&b), [want], "{q}: {b}");
    }
    // No query: everyone of the town, by reading.
    let (_, b) = app
        .call(&admin, "GET", "/api/towns/misaki/users", None)
        .await;
    assert_eq!(ids(&b), ["kato", "Sato.N", "coord"], "{b}");
    let (_, b) = app.call(&coord, "GET", &find("nobody"), None).await;
    assert_eq!(ids(&b), Vec::<String>::new());

    // Others: a member of the town is forbidden; another town's users get not_found.
    let (s, b) = app
        .call(&sato, "GET", "/api/towns/misaki/users?q=a", None)
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let other_coord = User::coordinator("coord-b").in_town("kawabe");
    let (s, b) = app
        .call(&other_coord, "GET", "/api/towns/misaki/users", None)
        .await;
    assert_eq!((s, code(&b)), (404, "not_found"));
    let (s, _) = app.call(&far, "GET", "/api/towns/misaki/users", None).await;
    assert_eq!(s, 404);
    // Bad queries and town ids.
    let (s, b) = app
        .call(&coord, "GET", &find(&"あ".repeat(101)), None)
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = app.call(&coord, "GET", &find("a\u{202e}b"), None).await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(&admin, "GET", "/api/towns/Misaki/users", None)
        .await;
    assert_eq!(s, 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn the_directory_is_bounded() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    for i in 0..55 {
        let (s, _) = app
            .call(
                &User::member(&format!("u{i:02}")),
                "GET",
                "/api/me/rooms",
                None,
            )
            .await;
        assert_eq!(s, 200);
    }
    let (_, b) = app
        .call(&coord, "GET", "/api/towns/misaki/users?q=u", None)
        .await;
    assert_eq!(b["users"].as_array().map(Vec::len), Some(50));
    assert_eq!(b["more"], true);
}

#[tokio::test]
async fn a_settings_call_needs_a_token_and_a_json_object() {
    let app = fast_app().await;
    let (s, _) = app
        .call_token(None, "PUT", "/api/me/rooms/r/settings", Some(json!({})))
        .await;
    assert_eq!(s, 401);
    let nurse = User::member("nurse");
    let r = app
        .team_room(&User::coordinator("coord"), "r", &[&nurse])
        .await;
    let mut c = app.connect(&nurse).await;
    // Reading the room on the WebSocket is untouched by a mute.
    app.call(
        &nurse,
        "PUT",
        "/api/me/rooms/r/settings",
        Some(json!({"muted_until": null})),
    )
    .await;
    let f = c
        .request(Request::Receipts {
            room: r.clone(),
            seq: None,
        })
        .await;
    assert!(matches!(f, ServerFrame::Receipts { .. }), "{f:?}");
}

fn demo(args: &mut yui_server::config::ServeArgs) {
    fast(args);
    args.demo = true;
}

#[tokio::test]
async fn the_demo_town_has_profiles_with_kana_households_and_consents() {
    let app = spawn_app_with(Options {
        tune: Some(demo),
        ..Options::default()
    })
    .await;
    let sw = User::member("sw-yoshida");
    let (s, b) = app.call(&sw, "GET", "/api/rooms/res-hayashi", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resident"]["kana"], "はやし きよ・はやし たかし");
    assert_eq!(b["resident"]["household"].as_array().map(Vec::len), Some(2));
    let (_, b) = app
        .call(&sw, "GET", "/api/rooms/res-hayashi/consents", None)
        .await;
    assert_eq!(b["consents"][0]["withdrawal"], Value::Null, "{b}");
    let (_, b) = app.call(&sw, "GET", "/api/me/rooms", None).await;
    let rooms = b["rooms"].as_array().cloned().unwrap_or_default();
    assert!(
        rooms
            .iter()
            .any(|r| r["resident"]["kana"] == "はやし きよ・はやし たかし"),
        "{b}"
    );
    // One room is left without a consent, to show --require-consent.
    let ph = User::member("ph-suzuki");
    let (_, b) = app
        .call(&ph, "GET", "/api/rooms/res-ikeda/consents", None)
        .await;
    assert_eq!(b["consents"], json!([]));
}

#[tokio::test]
async fn a_title_or_resident_change_reaches_the_members_room_lists_live() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let outsider = User::member("outsider");
    app.team_room(&coord, "yamada", &[&nurse]).await;
    let mut a = app.connect(&nurse).await;
    let mut b = app.connect(&nurse).await;
    let mut o = app.connect(&outsider).await;
    let (s, _) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/yamada",
            Some(json!({"kind":"team","title":"山田 ハナ さん（独居）","town":"misaki"})),
        )
        .await;
    assert_eq!(s, 200);
    let updated = |f: &ServerFrame| matches!(f, ServerFrame::RoomUpdated { .. });
    for c in [&mut a, &mut b] {
        let ServerFrame::RoomUpdated { room } = c.wait_for("room_updated", updated).await else {
            unreachable!()
        };
        assert_eq!(room.title.as_str(), "山田 ハナ さん（独居）");
    }
    app.call(&coord, "PUT", "/api/rooms/yamada/resident", Some(profile()))
        .await;
    let ServerFrame::RoomUpdated { room } = a.wait_for("room_updated", updated).await else {
        unreachable!()
    };
    assert_eq!(
        room.resident.and_then(|r| r.kana).as_deref(),
        Some("やまだ はな")
    );
    let extra = o.drain(Duration::from_millis(300)).await;
    assert!(!extra.iter().any(updated), "{extra:?}");
}

/// Uploads a scanned form to `room` as `who`; its attachment id.
async fn upload_scan(app: &TestApp, who: &User, room: &str) -> String {
    let resp = app
        .http
        .post(app.url(&format!("/api/rooms/{room}/attachments")))
        .query(&[("name", "同意書.pdf")])
        .bearer_auth(app.token(who))
        .header("content-type", "application/pdf")
        .body(yui_tests::images::pdf())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap_or_default();
    v["id"].as_str().unwrap_or_default().to_string()
}

fn with_document(id: &str) -> Value {
    let mut c = consent();
    c["document"] = json!(id);
    c
}

async fn open_attachment(app: &TestApp, who: &User, id: &str) -> u16 {
    app.http
        .get(app.url(&format!("/api/attachments/{id}")))
        .bearer_auth(app.token(who))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
        .as_u16()
}

fn message_of(b: &Value) -> &str {
    b["error"]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_consents_document_is_the_recorders_upload_or_an_attachment_posted_in_the_room() {
    let app = fast_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let outsider = User::member("outsider");
    app.team_room(&coord, "yamada", &[&nurse]).await;
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    let record = |doc: String| {
        let app = &app;
        let coord = &coord;
        async move {
            app.call(
                coord,
                "POST",
                "/api/rooms/yamada/consents",
                Some(with_document(&doc)),
            )
            .await
        }
    };
    // Another user's upload never posted: not the recorder's to give away.
    let nurses = upload_scan(&app, &nurse, "yamada").await;
    let (s, b) = record(nurses).await;
    assert_eq!(s, 400, "{b}");
    assert!(message_of(&b).contains("another user's"), "{b}");
    // The recorder's own upload never posted: the consent keeps it.
    let doc = upload_scan(&app, &coord, "yamada").await;
    assert_eq!(
        open_attachment(&app, &nurse, &doc).await,
        404,
        "not yet kept"
    );
    let (s, b) = record(doc.clone()).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["document"], doc.as_str());
    assert_eq!(
        open_attachment(&app, &nurse, &doc).await,
        200,
        "a member opens it"
    );
    assert_eq!(open_attachment(&app, &outsider, &doc).await, 404);
    // A second consent may name the same kept scan; a note may not take it.
    let (s, b) = record(doc.clone()).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/messages",
            Some(json!({"client_id":"doc-0","body":"同意書","attachments":[doc]})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(message_of(&b).contains("consent"), "{b}");
    // An attachment posted in a note of the room, even another member's, may be named.
    let posted = upload_scan(&app, &nurse, "yamada").await;
    let (s, _) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/yamada/messages",
            Some(json!({"client_id":"doc-1","body":"同意書を添付します","attachments":[posted]})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, b) = record(posted).await;
    assert_eq!(s, 201, "{b}");
    // Another room's attachment, and an unknown id, are refused alike.
    let elsewhere = upload_scan(&app, &coord, "tanaka").await;
    for id in [elsewhere, "att-unknown".to_string()] {
        let (s, b) = record(id).await;
        assert_eq!(s, 400, "{b}");
        assert!(message_of(&b).contains("no attachment of this room"), "{b}");
    }
}

#[tokio::test]
async fn under_require_consent_the_first_consent_carries_its_scan_and_it_is_kept() {
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            consent_gate(a);
            a.limits.unposted_attachment_ttl = 1;
            a.limits.attachment_gc_interval = 1;
        }),
        ..Options::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "yamada", &[&nurse]).await;
    // No consent yet: posting the scan in a note is refused ...
    let doc = upload_scan(&app, &coord, "yamada").await;
    let (s, b) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/messages",
            Some(json!({"client_id":"doc-1","body":"同意書を添付します","attachments":[doc]})),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    // ... but the consent itself carries it, and posts go through afterwards.
    let (s, b) = app
        .call(
            &coord,
            "POST",
            "/api/rooms/yamada/consents",
            Some(with_document(&doc)),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/yamada/messages",
            Some(json!({"client_id":"n-1","body":"同意書を確認しました"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    // The clean-up of unposted uploads (1 s old here) deletes an upload left alone but keeps
    // the consent's scan.
    let left = upload_scan(&app, &coord, "yamada").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while open_attachment(&app, &coord, &left).await != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unposted upload was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(open_attachment(&app, &nurse, &doc).await, 200);
    let (s, b) = app
        .call(&nurse, "GET", "/api/rooms/yamada/consents", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["consents"][0]["document"], doc.as_str());
}
