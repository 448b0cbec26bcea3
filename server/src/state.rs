//! The hub's shared state: one cloneable handle ([`AppState`]) given to every handler and
//! connection task. Nothing here is global, so tests can run many hubs in one process.

use crate::auth::Verifier;
use crate::service::RoomService;
use metrics_exporter_prometheus::PrometheusHandle;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Limits and timings a connection needs (PROTOCOL.md 3.5), resolved from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    pub rate_grace: Duration,
    pub outbound_queue: usize,
    pub max_subscriptions: usize,
    pub bad_frame_streak: u32,
    pub hello_timeout: Duration,
    pub heartbeat: Duration,
}

/// A demo user for the sign-in list (`--demo` only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoUser {
    pub id: String,
    pub name: String,
    pub profession: String,
    pub org: String,
    pub town: String,
    pub role: String,
    pub token: String,
}

pub struct Shared {
    pub node: String,
    pub limits: Limits,
    /// Every room operation; the only way `ws` and `http` reach the hub and the store.
    pub service: RoomService,
    pub verifier: Verifier,
    pub metrics: PrometheusHandle,
    pub web_dir: Option<PathBuf>,
    /// The font PDF exports embed (`--export-font`).
    pub export_font: PathBuf,
    pub demo_users: Option<Vec<DemoUser>>,
    /// Cancelled when the node starts draining.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
    pub connection_permits: Arc<Semaphore>,
    pub next_conn_id: AtomicU64,
    /// Web Push (PROTOCOL.md 5.6): the VAPID key and subscriptions.
    pub push: Arc<crate::push::Push>,
}

pub type AppState = Arc<Shared>;
