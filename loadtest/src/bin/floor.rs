//! `yui-floor`: the floor Yui is measured against. A bare tokio-tungstenite broadcast server
//! with no auth and no storage that speaks just enough of the protocol (hello, subscribe, post)
//! for `yui-loadtest` to drive it with the same frames, and sends the same `message` frames.

use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Default)]
struct Room {
    seq: u64,
    subscribers: Vec<mpsc::Sender<Utf8Bytes>>,
}

type Rooms = Arc<Mutex<HashMap<String, Room>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:9000".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let listener = TcpListener::bind(&listen).await?;
    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream, rooms.clone()));
    }
}

#[derive(serde::Deserialize)]
struct In {
    #[serde(rename = "type")]
    t: String,
    room: Option<String>,
    client_id: Option<String>,
    body: Option<String>,
    #[serde(rename = "ref")]
    r: Option<String>,
}

async fn serve(stream: TcpStream, rooms: Rooms) {
    // Small buffers, as the hub has: the floor is a fair floor.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(8192);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(1024);
    let writer = tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if sink.feed(Message::Text(t)).await.is_err() {
                return;
            }
            while let Ok(t) = rx.try_recv() {
                if sink.feed(Message::Text(t)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(f) = serde_json::from_str::<In>(text.as_str()) else {
            continue;
        };
        let r = f.r.map(|r| format!(r#","ref":"{r}""#)).unwrap_or_default();
        let room = f.room.unwrap_or_default();
        let reply = match f.t.as_str() {
            "hello" => format!(
                r#"{{"type":"welcome","user":{{}},"node":"floor","heartbeat":25,"rooms":[]{r}}}"#
            ),
            "subscribe" => {
                let mut rs = rooms.lock().unwrap_or_else(|p| p.into_inner());
                let entry = rs.entry(room.clone()).or_default();
                entry.subscribers.push(tx.clone());
                format!(
                    r#"{{"type":"subscribed","room":"{room}","last_seq":{},"read_seq":0{r}}}"#,
                    entry.seq
                )
            }
            "post" => {
                // Sent under the room's lock (try_send never waits), so seq order holds.
                let seq = {
                    let mut rs = rooms.lock().unwrap_or_else(|p| p.into_inner());
                    let entry = rs.entry(room.clone()).or_default();
                    entry.seq += 1;
                    let m = serde_json::json!({
                        "type": "message", "room": room, "seq": entry.seq, "id": format!("{room}-{}", entry.seq),
                        "client_id": f.client_id, "author": {"id": "floor", "name": "floor", "profession": "other", "org": "floor"},
                        "kind": "note", "body": f.body, "at": "2026-01-01T00:00:00.000Z",
                    });
                    let frame = Utf8Bytes::from(m.to_string());
                    for s in &entry.subscribers {
                        let _ = s.try_send(frame.clone());
                    }
                    entry.seq
                };
                format!(
                    r#"{{"type":"ack","room":"{room}","seq":{seq},"id":"x","at":"2026-01-01T00:00:00.000Z"{r}}}"#
                )
            }
            _ => continue,
        };
        if tx.send(Utf8Bytes::from(reply)).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
