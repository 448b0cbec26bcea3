//! The accept loop (PROTOCOL.md 5.1): serves the router over HTTP/1.1 (with WebSocket
//! upgrades) on a listener until cancelled.
//!
//! - Headers must be complete within the header-read timeout (also for each later request on a
//!   kept-alive connection), or hyper closes the connection.
//! - A connection is *pending* from its accept until its first response (a WebSocket's is the
//!   101). At most `max_pending` are; one more closes the oldest pending connection, so an
//!   attacker holding idle or trickling sockets only ever pushes out their own oldest, while a
//!   real client, which sends its request at once, is answered long before it is the oldest.
//! - An accept error never ends the loop: a per-connection one is skipped; running out of file
//!   descriptors (EMFILE, ENFILE) or buffers closes the oldest pending connection, or waits a
//!   moment when there is none, so the loop neither spins nor stops.
//! - On shutdown it stops accepting; pending connections that have not sent a request are
//!   closed, the others finish their request (hyper's graceful shutdown).

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the accept loop guards itself.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time to send complete request headers (PROTOCOL.md 5.1: 10 s).
    pub header_read_timeout: Duration,
    /// Most connections still before their first response.
    pub max_pending: usize,
}

/// Pending connections by accept order, each with the token that closes it. A
/// `std::sync::Mutex`: held for a map operation only, never across an `.await`.
#[derive(Default)]
struct Pending {
    conns: Mutex<BTreeMap<u64, CancellationToken>>,
}

impl Pending {
    /// Registers connection `id`; closes the oldest when `max` are pending already.
    fn admit(&self, id: u64, max: usize) -> CancellationToken {
        let token = CancellationToken::new();
        let evicted = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            let mut evicted = Vec::new();
            while conns.len() >= max.max(1) {
                match conns.pop_first() {
                    Some((_, t)) => evicted.push(t),
                    None => break,
                }
            }
            conns.insert(id, token.clone());
            evicted
        };
        if !evicted.is_empty() {
            metrics::counter!("yui_pending_evicted_total").increment(evicted.len() as u64);
        }
        for t in evicted {
            t.cancel();
        }
        token
    }

    /// Closes the oldest pending connection, if any (to free a file descriptor).
    fn evict_oldest(&self) -> bool {
        let oldest = {
            let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
            conns.pop_first()
        };
        match oldest {
            Some((_, t)) => {
                metrics::counter!("yui_pending_evicted_total").increment(1);
                t.cancel();
                true
            }
            None => false,
        }
    }

    fn release(&self, id: u64) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.remove(&id);
    }

    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Where one connection is: whether a request has started, whether it is still pending.
struct ConnState {
    id: u64,
    pending: Arc<Pending>,
    started: AtomicBool,
    released: AtomicBool,
}

impl ConnState {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.pending.release(self.id);
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled; each connection's task is
/// spawned on `tracker` (the caller waits for it, with its grace period).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let pending = Arc::new(Pending::default());
    let mut next_id: u64 = 0;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                on_accept_error(&e, &pending, &shutdown).await;
                continue;
            }
        };
        next_id += 1;
        let closer = pending.admit(next_id, options.max_pending);
        metrics::gauge!("yui_http_pending").set(pending.len() as f64);
        let conn = Arc::new(ConnState {
            id: next_id,
            pending: pending.clone(),
            started: AtomicBool::new(false),
            released: AtomicBool::new(false),
        });
        tracker.spawn(serve_connection(
            stream,
            router.clone(),
            options.header_read_timeout,
            conn,
            closer,
            shutdown.clone(),
        ));
    }
}

async fn on_accept_error(e: &io::Error, pending: &Pending, shutdown: &CancellationToken) {
    // A connection that went away before it was accepted: nothing to do.
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) {
        return;
    }
    let out_of_resources = matches!(
        e.raw_os_error(),
        Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM)
    );
    metrics::counter!("yui_accept_errors_total").increment(1);
    if out_of_resources && pending.evict_oldest() {
        tracing::warn!(error = %e, "accept: out of resources; closed the oldest pending connection");
        // Let the evicted connection's task close its socket before accepting again.
        tokio::task::yield_now().await;
        return;
    }
    tracing::warn!(error = %e, "accept failed; waiting before the next one");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        _ = shutdown.cancelled() => {}
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    header_read_timeout: Duration,
    conn: Arc<ConnState>,
    closer: CancellationToken,
    shutdown: CancellationToken,
) {
    // Small frames must leave at once: without TCP_NODELAY a reply can wait ~40 ms for the
    // client's delayed ACK (Nagle), which is all of the tail latency.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    let service = {
        let conn = conn.clone();
        tower::service_fn(move |req: Request<Incoming>| {
            let router = router.clone();
            let conn = conn.clone();
            conn.started.store(true, Ordering::Release);
            async move {
                let resp = router.oneshot(req.map(axum::body::Body::new)).await;
                // Its first request answered (or upgraded): no longer pending.
                conn.release();
                resp
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let io = TokioIo::new(stream);
    let mut served = pin!(builder
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades());
    let mut draining = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended");
                }
                break;
            }
            _ = closer.cancelled() => break,
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                if !conn.started.load(Ordering::Acquire) {
                    break;
                }
                served.as_mut().graceful_shutdown();
            }
        }
    }
    conn.release();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_pending_connection_makes_room() {
        let p = Pending::default();
        let a = p.admit(1, 2);
        let b = p.admit(2, 2);
        assert!(!a.is_cancelled() && !b.is_cancelled());
        let c = p.admit(3, 2);
        assert!(a.is_cancelled(), "the oldest goes");
        assert!(!b.is_cancelled() && !c.is_cancelled());
        p.release(2);
        let d = p.admit(4, 2);
        assert!(
            !c.is_cancelled() && !d.is_cancelled(),
            "a released one left room"
        );
        assert!(p.evict_oldest());
        assert!(c.is_cancelled());
        assert_eq!(p.len(), 1);
    }
}
