//! Errors and limits of PROTOCOL.md 3.5: each bad input gets its error and the connection
//! stays, until a limit says otherwise.

use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

async fn error_for(c: &mut Client, raw: &str) -> (ErrorCode, Option<String>) {
    c.send_raw(raw).await;
    let f = c
        .wait_for("error", |f| matches!(f, ServerFrame::Error { .. }))
        .await;
    (error_code(&f), frame_ref(&f).map(str::to_owned))
}

#[tokio::test]
async fn bad_frames_get_bad_request_and_the_connection_stays() {
    let app = spawn_app().await;
    let mut c = app.connect(&User::member("u1")).await;
    assert_eq!(
        error_for(&mut c, "{not json").await,
        (ErrorCode::BadRequest, None)
    );
    assert_eq!(
        error_for(&mut c, r#"{"type":"dance","ref":"d"}"#).await,
        (ErrorCode::BadRequest, Some("d".into()))
    );
    assert_eq!(
        error_for(&mut c, r#"{"type":"post","room":"r","ref":"m"}"#).await,
        (ErrorCode::BadRequest, Some("m".into()))
    );
    assert_eq!(
        error_for(
            &mut c,
            r#"{"type":"subscribe","room":"Bad Room","ref":"b"}"#
        )
        .await,
        (ErrorCode::BadRequest, Some("b".into()))
    );
    assert_eq!(
        error_for(&mut c, r#"{"type":"ping","ref":7}"#).await.0,
        ErrorCode::BadRequest
    );
    assert_eq!(
        error_for(
            &mut c,
            &format!(r#"{{"type":"ping","ref":"{}"}}"#, "x".repeat(65))
        )
        .await
        .0,
        ErrorCode::BadRequest
    );
    assert_eq!(
        error_for(
            &mut c,
            r#"{"type":"post","room":"r","client_id":"c","body":"   ","ref":"w"}"#
        )
        .await
        .0,
        ErrorCode::BadRequest
    );
    assert_eq!(
        error_for(&mut c, r#"{"type":"subscribe","room":"r","since":-1}"#)
            .await
            .0,
        ErrorCode::BadRequest
    );
    c.send_binary(vec![1, 2, 3]).await;
    let f = c
        .wait_for("error", |f| matches!(f, ServerFrame::Error { .. }))
        .await;
    assert_eq!(error_code(&f), ErrorCode::BadRequest);
    // Nine bad frames in a row so far; a good one resets the streak.
    assert!(matches!(
        c.request(Request::Ping).await,
        ServerFrame::Pong { .. }
    ));
}

#[tokio::test]
async fn a_body_too_long_is_too_large() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let r = app.team_room(&coord, "res-a", &[]).await;
    let mut c = app.connect(&coord).await;
    let body = "あ".repeat(4001);
    let raw =
        format!(r#"{{"type":"post","room":"{r}","client_id":"c1","body":"{body}","ref":"big"}}"#);
    assert_eq!(
        error_for(&mut c, &raw).await,
        (ErrorCode::TooLarge, Some("big".into()))
    );
    // 4000 is fine, and nothing of the refused one was committed.
    let f = c.post(&r, "c2", &"あ".repeat(4000)).await;
    assert_eq!(ack_seq(&f), 1);
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_1009() {
    let app = spawn_app().await;
    let mut c = app.connect(&User::member("u1")).await;
    c.send_raw(&format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(70 * 1024)
    ))
    .await;
    assert_eq!(c.closed().await, Closed::Code(1009));
}

#[tokio::test]
async fn ten_bad_frames_in_a_row_close_1008() {
    let app = spawn_app().await;
    let mut c = app.connect(&User::member("u1")).await;
    for _ in 0..9 {
        assert_eq!(error_for(&mut c, "nope").await.0, ErrorCode::BadRequest);
    }
    c.send_raw("nope").await;
    assert_eq!(c.closed().await, Closed::Code(1008));
    let errors = c.drain(std::time::Duration::from_millis(10)).await;
    assert!(errors.iter().any(|f| matches!(
        f,
        ServerFrame::Error {
            code: ErrorCode::BadRequest,
            ..
        }
    )));
}

#[tokio::test]
async fn too_many_frames_are_rate_limited_then_closed_4008() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.rate_grace = 1),
        ..Default::default()
    })
    .await;
    let mut c = app.connect(&User::member("u1")).await;
    for _ in 0..60 {
        c.send(&Request::Ping, None).await;
    }
    let frames = c.drain(std::time::Duration::from_millis(500)).await;
    let pongs = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Pong { .. }))
        .count();
    let limited = frames
        .iter()
        .filter(|f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        })
        .count();
    assert!((40..=45).contains(&pongs), "burst of 40: {pongs} pongs");
    assert!(limited >= 15, "{limited} rate_limited");
    // Keep sending faster than the rate: closed with 4008 after the grace period (1 s here).
    for _ in 0..300 {
        if !c.try_send_raw(r#"{"type":"ping"}"#).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(c.closed().await, Closed::Code(4008));
}

#[tokio::test]
async fn subscriptions_are_limited() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.max_subscriptions = 2),
        ..Default::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let rooms = [
        app.team_room(&coord, "r1", &[]).await,
        app.team_room(&coord, "r2", &[]).await,
        app.team_room(&coord, "r3", &[]).await,
    ];
    let mut c = app.connect(&coord).await;
    assert!(matches!(
        c.subscribe(&rooms[0], None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(matches!(
        c.subscribe(&rooms[1], None).await,
        ServerFrame::Subscribed { .. }
    ));
    assert!(
        matches!(
            c.subscribe(&rooms[0], None).await,
            ServerFrame::Subscribed { .. }
        ),
        "re-subscribing counts once"
    );
    assert_eq!(
        error_code(&c.subscribe(&rooms[2], None).await),
        ErrorCode::BadRequest
    );
    c.request(Request::Unsubscribe {
        room: rooms[0].clone(),
    })
    .await;
    assert!(matches!(
        c.subscribe(&rooms[2], None).await,
        ServerFrame::Subscribed { .. }
    ));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_4009() {
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            a.limits.outbound_queue = 8;
            // 400 posts at once over HTTP: above the per-user HTTP rate limit (5.1).
            a.limits.rate_per_second = 10_000;
            a.limits.rate_burst = 10_000;
        }),
        ..Default::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut slow = app.connect(&nurse).await;
    slow.subscribe(&r, None).await;
    // Large posts fill the socket buffers, then the 8-event queue.
    let body = "記".repeat(4000);
    let mut last = 0;
    for i in 0..400 {
        let (s, b) = app
            .call(
                &coord,
                "POST",
                "/api/rooms/res-a/messages",
                Some(serde_json::json!({"client_id": format!("m{i}"), "body": body})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        last = b["seq"].as_u64().unwrap_or(0);
    }
    assert_eq!(slow.closed().await, Closed::Code(4009));
    // Resuming with since gets everything.
    let mut again = app.connect(&nurse).await;
    again.subscribe(&r, Some(0)).await;
    assert_eq!(
        again.seqs_until(&r, last).await,
        (1..=last).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rooms_one_may_not_read_are_not_found_whether_or_not_they_exist() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let outsider = User::member("outsider");
    let r = app.team_room(&coord, "res-secret", &[]).await;
    let mut c = app.connect(&outsider).await;
    let exists = c.subscribe(&r, None).await;
    let missing = c.subscribe(&room("res-nowhere"), None).await;
    let msg = |f: &ServerFrame| match f {
        ServerFrame::Error { code, message, .. } => (*code, message.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(msg(&exists), msg(&missing));
    assert_eq!(msg(&exists).0, ErrorCode::NotFound);
    for req in [
        Request::History {
            room: r.clone(),
            before: None,
            limit: 10,
        },
        Request::Receipts {
            room: r.clone(),
            seq: None,
        },
        Request::Read {
            room: r.clone(),
            seq: 1,
        },
    ] {
        assert_eq!(error_code(&c.request(req).await), ErrorCode::NotFound);
    }
    assert_eq!(
        error_code(&c.post(&r, "x", "hi").await),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn town_rooms_are_read_by_the_town_and_posted_by_coordinators() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let elsewhere = User::member("far").in_town("other-town");
    let foreign_coord = User::coordinator("fc").in_town("other-town");
    let admin = User::admin("root");
    let board = app.town_room(&coord, "misaki-board").await;
    let mut n = app.connect(&nurse).await;
    assert!(matches!(
        n.subscribe(&board, None).await,
        ServerFrame::Subscribed { members: None, .. }
    ));
    assert_eq!(
        error_code(&n.post(&board, "x", "I am no coordinator").await),
        ErrorCode::Forbidden
    );
    let mut c = app.connect(&coord).await;
    let f = c
        .request(Request::Post {
            room: board.clone(),
            post: yui_protocol::post::NewPost::note(
                yui_protocol::ids::ClientId::parse("k").unwrap_or_else(|e| panic!("{e}")),
                yui_protocol::ids::Body::parse("x").unwrap_or_else(|e| panic!("{e}")),
            )
            .with_kind(yui_protocol::model::MessageKind::Note),
        })
        .await;
    assert_eq!(
        error_code(&f),
        ErrorCode::BadRequest,
        "a note in a town room"
    );
    let seq = ack_seq(&c.post(&board, "n1", "【お知らせ】研修会のご案内").await);
    let m = n.message(&board).await;
    assert_eq!(
        (m.seq, m.kind),
        (seq, yui_protocol::model::MessageKind::Notice)
    );
    let mut far = app.connect(&elsewhere).await;
    assert_eq!(
        error_code(&far.subscribe(&board, None).await),
        ErrorCode::NotFound
    );
    let mut fc = app.connect(&foreign_coord).await;
    assert_eq!(
        error_code(&fc.post(&board, "y", "not my town").await),
        ErrorCode::NotFound
    );
    let mut a = app.connect(&admin).await;
    assert_eq!(
        ack_seq(&a.post(&board, "z", "from the admin").await),
        seq + 1
    );
    // Audience: the town's users known to the directory (coord and nurse).
    let f = n
        .request(Request::Receipts {
            room: board.clone(),
            seq: None,
        })
        .await;
    let v = serde_json::to_value(&f).unwrap_or_default();
    assert_eq!(v["audience"], 2, "{v}");
}
