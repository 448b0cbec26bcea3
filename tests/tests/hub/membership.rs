//! Membership changes seen live: room_added, removal ends delivery at once.

use serde_json::json;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

#[tokio::test]
async fn an_added_member_gets_room_added_on_every_connection() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let pt = User::member("pt");
    let r = app.team_room(&coord, "res-a", &[]).await;
    let mut a = app.connect(&pt).await;
    let mut b = app.connect(&pt).await;
    assert!(a.welcome_rooms().is_empty());
    let (s, _) = app
        .call(&coord, "PUT", "/api/rooms/res-a/members/pt", None)
        .await;
    assert_eq!(s, 204);
    for c in [&mut a, &mut b] {
        let f = c
            .wait_for("room_added", |f| matches!(f, ServerFrame::RoomAdded { .. }))
            .await;
        let ServerFrame::RoomAdded { room } = f else {
            unreachable!()
        };
        assert_eq!(room.room, r);
        assert_eq!(room.kind, yui_protocol::model::RoomKind::Team);
    }
    // Not again when the role changes.
    app.call(
        &coord,
        "PUT",
        "/api/rooms/res-a/members/pt",
        Some(json!({"role":"owner"})),
    )
    .await;
    let extra = a.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !extra
            .iter()
            .any(|f| matches!(f, ServerFrame::RoomAdded { .. })),
        "{extra:?}"
    );
    assert!(matches!(
        a.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
}

#[tokio::test]
async fn a_removed_member_stops_receiving_at_once() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let cw = User::member("cw");
    let r = app.team_room(&coord, "res-a", &[&cw]).await;
    let mut c = app.connect(&cw).await;
    let mut idle = app.connect(&cw).await;
    c.subscribe(&r, None).await;
    let mut p = app.connect(&coord).await;
    p.post(&r, "m1", "before").await;
    assert_eq!(c.message(&r).await.seq, 1);
    let (s, _) = app
        .call(&coord, "DELETE", "/api/rooms/res-a/members/cw", None)
        .await;
    assert_eq!(s, 204);
    let f = c
        .wait_for("unsubscribed", |f| {
            matches!(f, ServerFrame::Unsubscribed { .. })
        })
        .await;
    let v = serde_json::to_value(&f).unwrap_or_default();
    assert_eq!(
        (v["room"].as_str(), v["reason"].as_str()),
        (Some("res-a"), Some("removed"))
    );
    let f = idle
        .wait_for("unsubscribed", |f| {
            matches!(f, ServerFrame::Unsubscribed { .. })
        })
        .await;
    assert!(matches!(
        f,
        ServerFrame::Unsubscribed {
            reason: Some(_),
            ..
        }
    ));
    p.post(&r, "m2", "after").await;
    let extra = c.drain(std::time::Duration::from_millis(400)).await;
    assert!(
        !extra
            .iter()
            .any(|f| matches!(f, ServerFrame::Message(_) | ServerFrame::Receipt { .. })),
        "{extra:?}"
    );
    assert_eq!(
        error_code(&c.subscribe(&r, None).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        error_code(&c.post(&r, "m3", "still here?").await),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn coordinators_manage_but_do_not_read_unless_they_join() {
    let app = spawn_app().await;
    let admin = User::admin("root");
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    // The admin creates the room for the misaki town; the coordinator is not a member.
    let (s, _) = app
        .call(
            &admin,
            "PUT",
            "/api/rooms/res-b",
            Some(json!({"kind":"team","title":"t","town":"misaki"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = app
        .call(&coord, "PUT", "/api/rooms/res-b/members/nurse", None)
        .await;
    assert_eq!(s, 204, "a coordinator of the town manages members");
    let mut c = app.connect(&coord).await;
    let r = room("res-b");
    assert_eq!(
        error_code(&c.subscribe(&r, None).await),
        ErrorCode::NotFound
    );
    let (s, _) = app
        .call(&coord, "GET", "/api/rooms/res-b/messages", None)
        .await;
    assert_eq!(s, 404, "care records are shown only to the team");
    // Adding oneself is possible, and it is in the access log.
    let (s, _) = app
        .call(&coord, "PUT", "/api/rooms/res-b/members/coord", None)
        .await;
    assert_eq!(s, 204);
    assert!(matches!(
        c.subscribe(&r, None).await,
        ServerFrame::Subscribed { .. }
    ));
    let (_, b) = app
        .call(&admin, "GET", "/api/audit?room=res-b&user=coord", None)
        .await;
    let e = &b["entries"][0];
    assert_eq!(
        (e["action"].as_str(), e["target"].as_str()),
        (Some("member_added"), Some("coord"))
    );
    let _ = nurse;
}
