//! WebSocket edges of PROTOCOL.md 5.1 (issue 10, item 7): a frame refused for the rate limit
//! answers `rate_limited` with its `ref`; a text frame that is not UTF-8 closes 1007; a `hello`
//! over the frame limit closes 1009, like any other frame.

use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

#[tokio::test]
async fn a_rate_limited_frame_gets_its_ref_back() {
    let app = spawn_app_with(Options {
        tune: Some(|a| {
            a.limits.rate_per_second = 1;
            a.limits.rate_burst = 2;
        }),
        ..Default::default()
    })
    .await;
    let mut c = app.connect(&User::member("u1")).await;
    // More frames than the burst at once: every one refused names its own ref, also a frame
    // that is not a valid request but is a JSON object with a string ref.
    let refs: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for r in &refs {
        c.send(&Request::Ping, Some(r)).await;
    }
    c.send_raw(r#"{"type":"no-such-frame","ref":"odd"}"#).await;
    c.send_raw(r#"{"type":"ping","ref":7}"#).await;
    c.send_raw("not json").await;
    let frames = c.drain(Duration::from_millis(500)).await;
    let limited: Vec<Option<&str>> = frames
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
        .map(frame_ref)
        .collect();
    let answered: Vec<&str> = frames.iter().filter_map(frame_ref).collect();
    assert!(limited.len() >= 6, "{frames:?}");
    for r in refs.iter().chain([&"odd".to_string()]) {
        assert!(
            answered.contains(&r.as_str()),
            "frame {r} got no answer carrying its ref: {frames:?}"
        );
    }
    assert!(
        limited.contains(&Some("odd")),
        "the invalid frame was refused with its ref: {limited:?}"
    );
    // A ref that is not a string, and no JSON at all: refused without a ref.
    assert!(
        limited.iter().filter(|r| r.is_none()).count() >= 2,
        "{limited:?}"
    );
}

/// A raw WebSocket after a good `hello`.
async fn raw_after_hello(
    app: &TestApp,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hello = Request::Hello {
        token: app.token(&User::member("u1")),
    }
    .to_json(None);
    ws.send(WsMessage::Text(hello.into()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match ws.next().await {
        Some(Ok(WsMessage::Text(t))) => assert!(t.as_str().contains("welcome"), "{t}"),
        other => panic!("expected welcome, got {other:?}"),
    }
    ws
}

/// The close code the hub ends `ws` with.
async fn close_code<S>(ws: &mut S) -> Option<u16>
where
    S: StreamExt<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => panic!("not closed within {WAIT:?}"),
            Ok(Some(Ok(WsMessage::Close(c)))) => return c.map(|c| u16::from(c.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(None) | Ok(Some(Err(_))) => return None,
        }
    }
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_1007() {
    let app = spawn_app().await;
    let mut ws = raw_after_hello(&app).await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    ws.send(WsMessage::Frame(frame))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code(&mut ws).await, Some(1007));
}

#[tokio::test]
async fn a_hello_over_the_frame_limit_closes_1009() {
    let app = spawn_app().await;
    let mut c = Client::open(&app.ws_url()).await;
    c.send_raw(&format!(
        r#"{{"type":"hello","token":"{}"}}"#,
        "x".repeat(70 * 1024)
    ))
    .await;
    assert_eq!(c.closed().await, Closed::Code(1009));
    // A hello that is not UTF-8 closes 1007.
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let frame = Frame::message(vec![0xc3, 0x28], OpCode::Data(Data::Text), true);
    ws.send(WsMessage::Frame(frame))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(close_code(&mut ws).await, Some(1007));
}
