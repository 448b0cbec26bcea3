//! Upgrade (`GET /ws`), `hello` and `welcome`: what happens before a connection's session.

use super::session::Session;
use super::writer::Writer;
use crate::error::ApiError;
use crate::hub::conn::text;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tracing::Instrument;
use yui_protocol::claims::Identity;
use yui_protocol::client::{parse_frame, Frame, Request};
use yui_protocol::ids::Ref;
use yui_protocol::limits::close;
use yui_protocol::server::{ServerFrame, WelcomeUser};

/// The socket's read chunk, held by every connection for its whole life (issue 14: an idle
/// connection within 10 KiB). Most frames (`read`, `ping`, `confirm`, a short note) fit in one
/// chunk; a note of a few hundred characters of Japanese takes two reads, the largest post
/// (4,000 characters, ~12 KiB) a dozen.
const READ_BUFFER: usize = 1024;

/// `GET /ws`: upgrades, with small buffers so an idle connection costs little memory.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "node draining").into_response();
    }
    let Ok(permit) = state.connection_permits.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max = state.limits.max_frame_bytes;
    let tracker = state.connections.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            // A task of the connection's own: axum's upgrade task would otherwise keep its own
            // state beside ours for the connection's whole life.
            tracker.spawn(run(state, socket, permit));
            std::future::ready(())
        })
}

/// The connection's task. Not an `async fn`: the span-instrumented future is returned as it is,
/// instead of being held inside another future (which would reserve its size twice).
fn run(
    state: AppState,
    mut socket: WebSocket,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> {
    let id = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::info_span!("conn", conn = id, node = %state.node, user = tracing::field::Empty);
    async move {
        // Held until the connection ends: it counts toward `--max-connections`.
        let _permit = permit;
        // Boxed: the handshake's state is freed once it is done, so an idle connection's task
        // does not keep room for it.
        let Some(identity) = Box::pin(hello(&state, &mut socket)).await else {
            return;
        };
        tracing::Span::current().record("user", identity.user.id.as_str());
        tracing::debug!("connected");
        let (tx, rx) = mpsc::channel(state.limits.outbound_queue);
        let conn = state.service.connect(id, identity, tx);
        let missed_pongs = Arc::new(AtomicU32::new(0));
        let (sink, stream) = socket.split();
        let writer = Writer {
            state: state.clone(),
            conn: conn.clone(),
            missed_pongs: missed_pongs.clone(),
        };
        let writer = tokio::spawn(writer.run(sink, rx).in_current_span());
        let mut session = Session::new(state.clone(), conn.clone(), missed_pongs);
        session.read_loop(stream).await;
        state.service.disconnect(&conn).await;
        let _ = writer.await;
        tracing::debug!(code = ?conn.closer.code(), "disconnected");
    }
    .instrument(span)
}

/// Waits for `hello`; answers `welcome`, or `unauthorized` and close 4001.
async fn hello(state: &AppState, socket: &mut WebSocket) -> Option<Identity> {
    let first = tokio::time::timeout(state.limits.hello_timeout, socket.recv()).await;
    let (r#ref, result) = match first {
        Err(_) => {
            close_with(socket, close::UNAUTHORIZED).await;
            return None;
        }
        Ok(None) => return None,
        // A `hello` past the frame limit closes 1009, one that is not UTF-8 1007, like any
        // other frame; a broken socket just ends.
        Ok(Some(Err(e))) => {
            let code = super::session::read_error_code(e);
            if code != close::GOING_AWAY {
                close_with(socket, code).await;
            }
            return None;
        }
        Ok(Some(Ok(Message::Text(t)))) => match parse_frame(t.as_str()) {
            Ok(Frame {
                r#ref,
                request: Request::Hello { token },
            }) => (r#ref, state.verifier.verify(&token).map_err(ApiError::from)),
            Ok(Frame { r#ref, .. }) => (r#ref, Err(ApiError::unauthorized("say hello first"))),
            Err(e) => (e.r#ref, Err(ApiError::unauthorized("say hello first"))),
        },
        Ok(Some(Ok(Message::Close(_)))) => return None,
        Ok(Some(Ok(_))) => (None, Err(ApiError::unauthorized("say hello first"))),
    };
    metrics::counter!("yui_frames_in_total", "type" => "hello").increment(1);
    let identity = match result {
        Ok(identity) => identity,
        Err(e) => return refuse(socket, r#ref, e, close::UNAUTHORIZED).await,
    };
    let rooms = async {
        state.service.remember(&identity).await?;
        state.service.rooms_of(&identity).await
    }
    .await;
    let rooms = match rooms {
        Ok(rooms) => rooms,
        Err(e) => return refuse(socket, r#ref, e, close::GOING_AWAY).await,
    };
    let welcome = ServerFrame::Welcome {
        r#ref,
        user: WelcomeUser {
            id: identity.user.id.clone(),
            name: identity.user.name.clone(),
            profession: identity.user.profession,
            org: identity.user.org.clone(),
            town: identity.town.clone(),
            role: identity.role,
        },
        node: state.node.clone(),
        heartbeat: state.limits.heartbeat.as_secs(),
        rooms,
    };
    socket.send(Message::Text(text(&welcome))).await.ok()?;
    Some(identity)
}

/// Answers the handshake with an error, then closes with `code`.
async fn refuse(
    socket: &mut WebSocket,
    r#ref: Option<Ref>,
    e: ApiError,
    code: u16,
) -> Option<Identity> {
    e.log();
    let frame = ServerFrame::error(r#ref, e.code(), e.to_string());
    let _ = socket.send(Message::Text(text(&frame))).await;
    close_with(socket, code).await;
    None
}

async fn close_with(socket: &mut WebSocket, code: u16) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(""),
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}
