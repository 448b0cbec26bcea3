//! The HTTP API of PROTOCOL.md section 4, with its status codes and error shape.

use serde_json::{json, Value};
use yui_tests::*;

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn no_valid_token_is_401_before_anything_else() {
    let app = spawn_app().await;
    for (method, path) in [
        ("GET", "/api/rooms/BAD%20ID"),
        ("PUT", "/api/rooms/x"),
        ("GET", "/api/me/rooms"),
        ("GET", "/api/audit"),
        ("GET", "/api/nowhere"),
    ] {
        let (s, b) = app.call_token(None, method, path, None).await;
        assert_eq!((s, code(&b)), (401, "unauthorized"), "{method} {path}: {b}");
        let (s, _) = app.call_token(Some("garbage"), method, path, None).await;
        assert_eq!(s, 401);
    }
    let expired = sign(&User::member("u").claims(-60, "yui"), SECRET);
    let (s, b) = app
        .call_token(Some(&expired), "GET", "/api/me/rooms", None)
        .await;
    assert_eq!((s, code(&b)), (401, "unauthorized"));
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{b}"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let coord = User::coordinator("coord");
    let room = app.team_room(&coord, "res-m", &[]).await;
    let mut c = app.connect(&coord).await;
    c.post(&room, "c1", "x").await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    for name in [
        "yui_posts_committed_total",
        "yui_commit_seconds",
        "yui_frames_in_total",
        "yui_connections",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
}

#[tokio::test]
async fn creating_and_updating_rooms() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let admin = User::admin("root");
    let nurse = User::member("nurse");
    let far = User::coordinator("far").in_town("other-town");
    let body = json!({"kind":"team","title":"中村 トメ さん","town":"misaki","resident":{"id":"R-1","name":"中村 トメ"}});
    let (s, b) = app
        .call(&coord, "PUT", "/api/rooms/res-nakamura", Some(body.clone()))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["resident"]["name"], "中村 トメ");
    assert_eq!(b["members"][0]["id"], "coord");
    assert_eq!(b["members"][0]["role"], "owner");
    let (s, b) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/res-nakamura",
            Some(json!({"kind":"team","title":"中村さん","town":"misaki"})),
        )
        .await;
    assert_eq!((s, b["title"].as_str()), (200, Some("中村さん")));
    let (s, b) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/res-nakamura",
            Some(json!({"kind":"town","title":"x","town":"misaki"})),
        )
        .await;
    assert_eq!((s, code(&b)), (409, "conflict"));
    let (s, b) = app
        .call(&nurse, "PUT", "/api/rooms/res-x", Some(body.clone()))
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let (s, _) = app
        .call(&far, "PUT", "/api/rooms/res-x", Some(body.clone()))
        .await;
    assert_eq!(s, 403, "a coordinator of another town");
    let (s, b) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/res-y",
            Some(json!({"kind":"team","title":"","town":"misaki"})),
        )
        .await;
    assert_eq!((s, code(&b)), (400, "bad_request"));
    let (s, _) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/res-y",
            Some(json!({"kind":"club","title":"t","town":"misaki"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/Res%20Y",
            Some(json!({"kind":"team","title":"t","town":"misaki"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, b) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/res-y",
            Some(json!({"title":"t"})),
        )
        .await;
    assert_eq!((s, code(&b)), (400, "bad_request"));
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("kind")),
        "{b}"
    );
    // Readers and managers see it; others get 404.
    let (s, _) = app
        .call(&nurse, "GET", "/api/rooms/res-nakamura", None)
        .await;
    assert_eq!(s, 404);
    let (s, b) = app
        .call(&admin, "GET", "/api/rooms/res-nakamura", None)
        .await;
    assert_eq!((s, b["kind"].as_str()), (200, Some("team")));
    let (s, _) = app
        .call(&coord, "GET", "/api/rooms/res-nowhere", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn members_are_managed_by_owners_coordinators_and_admins() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let doctor = User::member("doctor");
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let (s, b) = app
        .call(&nurse, "PUT", "/api/rooms/res-a/members/doctor", None)
        .await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let (s, _) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/res-a/members/nurse",
            Some(json!({"role":"owner"})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(
            &nurse,
            "PUT",
            "/api/rooms/res-a/members/doctor",
            Some(json!({"name":"井上 彩","profession":"doctor","org":"美咲中央病院"})),
        )
        .await;
    assert_eq!(s, 204, "an owner manages members");
    let (s, b) = app.call(&nurse, "GET", "/api/rooms/res-a", None).await;
    assert_eq!(s, 200);
    let doc = b["members"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["id"] == "doctor").cloned())
        .unwrap_or_default();
    assert_eq!(
        (
            doc["name"].as_str(),
            doc["profession"].as_str(),
            doc["role"].as_str()
        ),
        (Some("井上 彩"), Some("doctor"), Some("member"))
    );
    // The doctor's own token then wins over the profile given by the API.
    let _ = app.connect(&doctor).await;
    let (_, b) = app.call(&nurse, "GET", "/api/rooms/res-a", None).await;
    let doc = b["members"]
        .as_array()
        .and_then(|m| m.iter().find(|x| x["id"] == "doctor").cloned())
        .unwrap_or_default();
    assert_eq!(doc["name"].as_str(), Some(doctor.name.as_str()));
    let (s, _) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/res-a/members/doctor",
            Some(json!({"role":"boss"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(&coord, "PUT", "/api/rooms/res-a/members/bad%20id", None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(&coord, "DELETE", "/api/rooms/res-a/members/doctor", None)
        .await;
    assert_eq!(s, 204);
    let (s, b) = app
        .call(&coord, "DELETE", "/api/rooms/res-a/members/doctor", None)
        .await;
    assert_eq!((s, code(&b)), (404, "not_found"));
    app.town_room(&coord, "misaki-board").await;
    let (s, _) = app
        .call(&coord, "PUT", "/api/rooms/misaki-board/members/nurse", None)
        .await;
    assert_eq!(s, 400, "town rooms have no explicit members");
}

#[tokio::test]
async fn messages_and_receipts_over_http() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":"h1","body":"服薬確認済み"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let first = b.clone();
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":"h1","body":"retry"})),
        )
        .await;
    assert_eq!((s, &b), (200, &first), "a retry gets the first answer");
    let (s, b) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":"h2","body":"x".repeat(4001)})),
        )
        .await;
    assert_eq!((s, code(&b)), (413, "too_large"));
    let (s, _) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":"h3","body":"x","kind":"notice"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(
            &nurse,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"body":"no client id"})),
        )
        .await;
    assert_eq!(s, 400);
    let resp = app
        .http
        .post(app.url("/api/rooms/res-a/messages"))
        .bearer_auth(app.token(&nurse))
        .body("{broken")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 400);
    for i in 2..=6 {
        app.call(
            &coord,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":format!("c{i}"),"body":"note"})),
        )
        .await;
    }
    let (s, b) = app
        .call(&nurse, "GET", "/api/rooms/res-a/messages?limit=2", None)
        .await;
    assert_eq!(s, 200);
    let seqs: Vec<u64> = b["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!((seqs, b["more"].as_bool()), (vec![5, 6], Some(true)));
    let (_, b) = app
        .call(&nurse, "GET", "/api/rooms/res-a/messages?before=3", None)
        .await;
    assert_eq!(b["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(b["more"], false);
    let (s, _) = app
        .call(&nurse, "GET", "/api/rooms/res-a/messages?limit=0", None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(&nurse, "GET", "/api/rooms/res-a/messages?before=abc", None)
        .await;
    assert_eq!(s, 400);
    let (s, b) = app
        .call(&nurse, "GET", "/api/rooms/res-a/receipts", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["audience"], 2);
    let readers: Vec<(String, u64)> = b["readers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["user"]["id"].as_str().unwrap_or_default().into(),
                r["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(readers, vec![("coord".into(), 6), ("nurse".into(), 1)]);
    let outsider = User::member("outsider");
    for (m, p) in [
        ("GET", "/api/rooms/res-a/messages"),
        ("GET", "/api/rooms/res-a/receipts"),
    ] {
        assert_eq!(app.call(&outsider, m, p, None).await.0, 404);
    }
    let (s, _) = app
        .call(
            &outsider,
            "POST",
            "/api/rooms/res-a/messages",
            Some(json!({"client_id":"z","body":"x"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = app.call(&nurse, "GET", "/api/me/rooms", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["rooms"][0]["room"], "res-a");
    assert_eq!(b["rooms"][0]["unread"], 5);
}

#[tokio::test]
async fn the_access_log_records_history_reads_and_membership_changes() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let admin = User::admin("root");
    let far = User::coordinator("far").in_town("other-town");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut n = app.connect(&nurse).await;
    n.post(&r, "c1", "note").await;
    n.request(yui_protocol::client::Request::History {
        room: r.clone(),
        before: None,
        limit: 10,
    })
    .await;
    n.subscribe(&r, Some(0)).await;
    app.call(&nurse, "GET", "/api/rooms/res-a/messages", None)
        .await;
    app.call(&coord, "DELETE", "/api/rooms/res-a/members/nurse", None)
        .await;
    let (s, b) = app.call(&nurse, "GET", "/api/audit", None).await;
    assert_eq!((s, code(&b)), (403, "forbidden"));
    let (s, b) = app.call(&coord, "GET", "/api/audit?room=res-a", None).await;
    assert_eq!(s, 200);
    let actions: Vec<String> = b["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        vec![
            "member_removed",
            "read_history",
            "read_history",
            "read_history",
            "member_added",
            "room_created"
        ],
        "newest first: {b}"
    );
    let removed = &b["entries"][0];
    assert_eq!(
        (removed["actor"]["id"].as_str(), removed["target"].as_str()),
        (Some("coord"), Some("nurse"))
    );
    assert!(removed["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let (_, b) = app
        .call(&coord, "GET", "/api/audit?user=nurse&limit=2", None)
        .await;
    assert_eq!(b["entries"].as_array().map(Vec::len), Some(2));
    let (_, b) = app.call(&far, "GET", "/api/audit", None).await;
    assert_eq!(
        b["entries"].as_array().map(Vec::len),
        Some(0),
        "another town's coordinator sees none of it"
    );
    let (_, b) = app.call(&admin, "GET", "/api/audit", None).await;
    assert_eq!(b["entries"].as_array().map(Vec::len), Some(6));
}
