//! The guarantees of PROTOCOL.md 3.4 that concern delivery, posts and read positions.

use std::collections::HashSet;
use yui_protocol::client::Request;
use yui_protocol::ids::{Body, ClientId};
use yui_protocol::server::ServerFrame;
use yui_tests::*;

fn assert_exact(seqs: &[u64], from: u64, to: u64, who: &str) {
    let want: Vec<u64> = (from..=to).collect();
    assert_eq!(
        seqs,
        want.as_slice(),
        "{who}: every seq exactly once, in order"
    );
}

#[tokio::test]
async fn concurrent_posters_and_a_mid_stream_join_see_every_seq_once_in_order() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let posters: Vec<User> = (0..5)
        .map(|i| User::member(&format!("poster{i}")))
        .collect();
    let readers: Vec<User> = (0..3)
        .map(|i| User::member(&format!("reader{i}")))
        .collect();
    let all: Vec<&User> = posters.iter().chain(readers.iter()).collect();
    let r = app.team_room(&coord, "res-busy", &all).await;

    let mut early = Vec::new();
    for u in &readers[..2] {
        let mut c = app.connect(u).await;
        c.subscribe(&r, None).await;
        early.push(c);
    }
    let mut tasks = Vec::new();
    for (i, p) in posters.iter().enumerate() {
        let mut c = app.connect(p).await;
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..40 {
                let f = c
                    .post(&r, &format!("p{i}-{n}"), &format!("記録 {i}-{n}"))
                    .await;
                acked.push(ack_seq(&f));
                // Rate limit is 20 frames/s with bursts of 40: stay inside it.
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            acked
        }));
    }
    // The third reader joins mid-stream with `since`.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let mut late = app.connect(&readers[2]).await;
    let since = 3;
    late.subscribe(&r, Some(since)).await;

    let mut acked = HashSet::new();
    for t in tasks {
        for s in t.await.unwrap_or_default() {
            assert!(acked.insert(s), "seq {s} acked twice");
        }
    }
    assert_eq!(acked.len(), 200);
    assert_eq!(acked.iter().max(), Some(&200));
    for (i, c) in early.iter_mut().enumerate() {
        let seqs = c.seqs_until(&r, 200).await;
        assert_exact(&seqs, 1, 200, &format!("early reader {i}"));
    }
    let seqs = late.seqs_until(&r, 200).await;
    assert_exact(&seqs, since + 1, 200, "late reader");
    // And nothing more arrives.
    for c in early.iter_mut().chain(std::iter::once(&mut late)) {
        let extra = c.drain(std::time::Duration::from_millis(300)).await;
        assert!(
            !extra.iter().any(|f| matches!(f, ServerFrame::Message(_))),
            "duplicate delivery: {extra:?}"
        );
    }
}

#[tokio::test]
async fn a_retried_post_commits_nothing_new() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut watcher = app.connect(&coord).await;
    watcher.subscribe(&r, None).await;
    let mut c = app.connect(&nurse).await;
    let first = c.post(&r, "visit-1", "訪問しました").await;
    let again = c.post(&r, "visit-1", "a different body").await;
    let (
        ServerFrame::Ack {
            seq: s1,
            id: i1,
            at: a1,
            ..
        },
        ServerFrame::Ack {
            seq: s2,
            id: i2,
            at: a2,
            ..
        },
    ) = (&first, &again)
    else {
        panic!("acks expected: {first:?} {again:?}")
    };
    assert_eq!((s1, i1, a1), (s2, i2, a2));
    let m = watcher.message(&r).await;
    assert_eq!(m.body, "訪問しました");
    assert_eq!(m.client_id.as_str(), "visit-1");
    let extra = watcher.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !extra.iter().any(|f| matches!(f, ServerFrame::Message(_))),
        "{extra:?}"
    );
    // Another author may use the same client_id: it is a different post.
    let mut d = app.connect(&coord).await;
    assert_eq!(ack_seq(&d.post(&r, "visit-1", "別の投稿").await), 2);
}

#[tokio::test]
async fn the_sender_gets_its_own_message_and_its_read_position_moves() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut a = app.connect(&nurse).await;
    let mut b = app.connect(&nurse).await;
    a.subscribe(&r, None).await;
    b.subscribe(&r, None).await;
    let seq = ack_seq(&a.post(&r, "c1", "体温36.5℃").await);
    assert_eq!(a.message(&r).await.seq, seq);
    assert_eq!(b.message(&r).await.seq, seq);
    // No receipt event for the author's own post.
    let extra = b.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !extra
            .iter()
            .any(|f| matches!(f, ServerFrame::Receipt { .. })),
        "{extra:?}"
    );
    let f = a
        .request(Request::Receipts {
            room: r.clone(),
            seq: None,
        })
        .await;
    let v = serde_json::to_value(&f).unwrap_or_default();
    assert_eq!(v["readers"][0]["user"]["id"], "nurse");
    assert_eq!(v["readers"][0]["seq"], seq);
    match a.subscribe(&r, None).await {
        ServerFrame::Subscribed {
            read_seq, last_seq, ..
        } => assert_eq!((read_seq, last_seq), (seq, seq)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn resume_with_since_misses_nothing() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut poster = app.connect(&coord).await;
    let mut reader = app.connect(&nurse).await;
    reader.subscribe(&r, None).await;
    for i in 0..5 {
        poster.post(&r, &format!("a{i}"), "before").await;
    }
    let seen = reader.seqs_until(&r, 5).await;
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    reader.close().await;
    for i in 0..7 {
        poster.post(&r, &format!("b{i}"), "while away").await;
    }
    let mut back = app.connect(&nurse).await;
    match back.subscribe(&r, Some(5)).await {
        ServerFrame::Subscribed { last_seq, .. } => assert_eq!(last_seq, 12),
        other => panic!("{other:?}"),
    }
    poster.post(&r, "c0", "after").await;
    assert_eq!(back.seqs_until(&r, 13).await, (6..=13).collect::<Vec<_>>());
    // `since` beyond last_seq is clamped: nothing is replayed.
    let mut other = app.connect(&nurse).await;
    match other.subscribe(&r, Some(1000)).await {
        ServerFrame::Subscribed { last_seq, .. } => assert_eq!(last_seq, 13),
        f => panic!("{f:?}"),
    }
    let extra = other.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !extra.iter().any(|f| matches!(f, ServerFrame::Message(_))),
        "{extra:?}"
    );
}

#[tokio::test]
async fn catch_up_of_a_long_history_streams_in_pages() {
    // 450 posts at once over HTTP: above the per-user HTTP rate limit (5.1).
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            a.limits.rate_per_second = 10_000;
            a.limits.rate_burst = 10_000;
        }),
        ..Default::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-long", &[&nurse]).await;
    for i in 0..450 {
        let (s, b) = app
            .call(
                &coord,
                "POST",
                "/api/rooms/res-long/messages",
                Some(
                    serde_json::json!({"client_id": format!("h{i}"), "body": format!("記録 {i}")}),
                ),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let mut c = app.connect(&nurse).await;
    c.subscribe(&r, Some(0)).await;
    assert_eq!(c.seqs_until(&r, 450).await, (1..=450).collect::<Vec<_>>());
}

/// A `read` commits with the next post (or after the read linger): the connection's own next
/// frame is not held behind it, the post is acked first and takes the read with it, and a read
/// with no post to ride along with waits for the linger, no longer.
#[tokio::test]
async fn a_read_rides_with_the_next_post_and_holds_up_no_frame() {
    const LINGER_MS: u64 = 1500;
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.read_linger_ms = LINGER_MS),
        ..Options::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut poster = app.connect(&coord).await;
    poster.subscribe(&r, None).await;
    poster.post(&r, "m1", "note").await;
    let mut n = app.connect(&nurse).await;
    n.subscribe(&r, None).await;

    let started = std::time::Instant::now();
    n.send(
        &Request::Read {
            room: r.clone(),
            seq: 1,
        },
        Some("read1"),
    )
    .await;
    n.send(
        &Request::Post {
            room: r.clone(),
            post: yui_protocol::post::NewPost::note(
                ClientId::parse("n1").unwrap_or_else(|e| panic!("{e}")),
                Body::parse("訪問しました").unwrap_or_else(|e| panic!("{e}")),
            ),
        },
        Some("post1"),
    )
    .await;
    let mut order = Vec::new();
    while order.len() < 2 {
        let f = n
            .wait_for("the two acks", |f| {
                matches!(frame_ref(f), Some("read1") | Some("post1"))
            })
            .await;
        order.push(frame_ref(&f).unwrap_or_default().to_string());
        if order.len() == 1 {
            assert_eq!(ack_seq(&f), 2, "the post is acked first: {f:?}");
        } else {
            assert_eq!(ack_seq(&f), 1, "the read's ack: {f:?}");
        }
    }
    assert_eq!(order, ["post1", "read1"]);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(LINGER_MS),
        "the post ended the read's wait: {:?}",
        started.elapsed()
    );
    let rc = poster
        .wait_for("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    assert!(matches!(rc, ServerFrame::Receipt { seq: 1, .. }), "{rc:?}");

    // Alone, a read is committed at the end of the linger: acked, and durable, then.
    let started = std::time::Instant::now();
    let f = n
        .request(Request::Read {
            room: r.clone(),
            seq: 2,
        })
        .await;
    assert_eq!(ack_seq(&f), 2);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(LINGER_MS - 50),
        "acked after {waited:?}, before the linger ended"
    );
    n.close().await;
    poster.close().await;
    app.stop().await.unwrap_or_else(|e| panic!("{e}"));
}

/// A read still lingering for a post when the hub drains is answered before the 1001 close,
/// as a frame being handled then is.
#[tokio::test]
async fn a_lingering_read_is_acked_before_the_drain_closes() {
    let app = spawn_app_with(Options {
        tune: Some(|a| a.limits.read_linger_ms = 1000),
        ..Options::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let r = app.team_room(&coord, "res-a", &[]).await;
    let mut c = app.connect(&coord).await;
    c.post(&r, "m1", "note").await;
    c.send(
        &Request::Read {
            room: r.clone(),
            seq: 1,
        },
        Some("read1"),
    )
    .await;
    // The read is queued and waiting for a post when the drain begins.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stopped = tokio::spawn(app.stop());
    assert_eq!(c.closed().await, Closed::Code(1001));
    let before_close = c.drain(std::time::Duration::ZERO).await;
    let ack = before_close
        .iter()
        .find(|f| frame_ref(f) == Some("read1"))
        .unwrap_or_else(|| panic!("no answer to the read before the close: {before_close:?}"));
    assert_eq!(ack_seq(ack), 1, "{ack:?}");
    stopped
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn read_positions_only_move_forward_and_are_clamped() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut poster = app.connect(&coord).await;
    poster.subscribe(&r, None).await;
    for i in 0..5 {
        poster.post(&r, &format!("m{i}"), "note").await;
    }
    let mut n = app.connect(&nurse).await;
    let f = n
        .request(Request::Read {
            room: r.clone(),
            seq: 3,
        })
        .await;
    assert_eq!(ack_seq(&f), 3);
    let rc = poster
        .wait_for("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    let ServerFrame::Receipt { user, seq, .. } = rc else {
        unreachable!()
    };
    assert_eq!((user.id.as_str(), seq), ("nurse", 3));
    // Backwards: the current position comes back and no receipt is sent.
    assert_eq!(
        ack_seq(
            &n.request(Request::Read {
                room: r.clone(),
                seq: 1
            })
            .await
        ),
        3
    );
    // Beyond last_seq: clamped.
    assert_eq!(
        ack_seq(
            &n.request(Request::Read {
                room: r.clone(),
                seq: 99
            })
            .await
        ),
        5
    );
    let rc = poster
        .wait_for("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    assert!(matches!(rc, ServerFrame::Receipt { seq: 5, .. }), "{rc:?}");
    let extra = poster.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        !extra
            .iter()
            .any(|f| matches!(f, ServerFrame::Receipt { .. })),
        "{extra:?}"
    );
    // The reader's own other connection sees the receipt too.
    let mut n2 = app.connect(&nurse).await;
    n2.subscribe(&r, None).await;
    poster.post(&r, "m5", "note").await;
    n.request(Request::Read {
        room: r.clone(),
        seq: 6,
    })
    .await;
    let rc = n2
        .wait_for("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
        .await;
    assert!(matches!(rc, ServerFrame::Receipt { seq: 6, .. }), "{rc:?}");
    // receipts: every position above 0, with the audience.
    let f = n
        .request(Request::Receipts {
            room: r.clone(),
            seq: None,
        })
        .await;
    let v = serde_json::to_value(&f).unwrap_or_default();
    assert_eq!(v["audience"], 2);
    let readers: Vec<(String, u64)> = v["readers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|x| {
            (
                x["user"]["id"].as_str().unwrap_or_default().to_string(),
                x["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        readers,
        vec![("coord".to_string(), 6), ("nurse".to_string(), 6)]
    );
}

#[tokio::test]
async fn history_pages_backwards() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let r = app.team_room(&coord, "res-a", &[]).await;
    let mut c = app.connect(&coord).await;
    for i in 0..12 {
        c.post(&r, &format!("m{i}"), &format!("note {i}")).await;
    }
    let page = |f: ServerFrame| match f {
        ServerFrame::History { messages, more, .. } => {
            (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), more)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        page(
            c.request(Request::History {
                room: r.clone(),
                before: None,
                limit: 5
            })
            .await
        ),
        ((8..=12).collect(), true)
    );
    assert_eq!(
        page(
            c.request(Request::History {
                room: r.clone(),
                before: Some(8),
                limit: 5
            })
            .await
        ),
        ((3..=7).collect(), true)
    );
    assert_eq!(
        page(
            c.request(Request::History {
                room: r.clone(),
                before: Some(3),
                limit: 5
            })
            .await
        ),
        (vec![1, 2], false)
    );
    // Default limit 50, larger limits clamped to 200.
    c.send_raw(r#"{"type":"history","room":"res-a","limit":100000,"ref":"big"}"#)
        .await;
    assert_eq!(page(c.reply("big").await).0.len(), 12);
}

#[tokio::test]
async fn unsubscribe_stops_events() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = app.team_room(&coord, "res-a", &[&nurse]).await;
    let mut n = app.connect(&nurse).await;
    n.subscribe(&r, None).await;
    let f = n.request(Request::Unsubscribe { room: r.clone() }).await;
    let v = serde_json::to_value(&f).unwrap_or_default();
    assert_eq!(v["type"], "unsubscribed");
    assert!(v.get("reason").is_none());
    let mut p = app.connect(&coord).await;
    p.post(&r, "x", "after unsubscribe").await;
    let extra = n.drain(std::time::Duration::from_millis(400)).await;
    assert!(
        !extra.iter().any(|f| matches!(f, ServerFrame::Message(_))),
        "{extra:?}"
    );
}

#[tokio::test]
async fn acked_posts_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = Backend::fresh().await;
    let opts = Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let app = spawn_on(backend.clone(), opts.clone()).await;
    let coord = User::coordinator("coord");
    let r = app.team_room(&coord, "res-a", &[]).await;
    let mut c = app.connect(&coord).await;
    for i in 0..20 {
        c.post(&r, &format!("m{i}"), "note").await;
    }
    app.stop().await.unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_on(backend, opts).await;
    let mut c = app.connect(&coord).await;
    c.subscribe(&r, Some(0)).await;
    assert_eq!(c.seqs_until(&r, 20).await, (1..=20).collect::<Vec<_>>());
}
