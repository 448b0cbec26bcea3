//! Building a hub from configuration and serving it on a listener until a shutdown signal.

use crate::access::AccessCache;
use crate::attachments::blob::fs::FsBlobStore;
use crate::attachments::blob::postgres::PgBlobStore;
use crate::attachments::blob::BlobStore;
use crate::auth::{Minter, Verifier};
use crate::bus::local::LocalBus;
use crate::bus::redis::RedisBus;
use crate::bus::Bus;
use crate::committer::Committer;
use crate::config::{PushArgs, ServeArgs, StoreArgs, DEMO_SECRET};
use crate::http::edge::{normalize_origin, Edge, EdgeSettings};
use crate::http::serve::ServeOptions;
use crate::hub::Hub;
use crate::push::{Push, Settings as PushSettings};
use crate::service::{AttachmentSettings, RoomService};
use crate::state::{AppState, Limits, Shared};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder).
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
        ])
        .context("metrics buckets")?
        .build_recorder();
    let handle = recorder.handle();
    if HANDLE.set(handle.clone()).is_ok() {
        // Only the first caller installs; a second hub in the same process shares it.
        metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
    }
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

/// Opens the configured store: Postgres when a URL is given, else SQLite under the data dir.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &args.database_url {
        Some(url) => Arc::new(
            PostgresStore::connect(url, args.db_pool)
                .await
                .context("connecting to Postgres (DATABASE_URL)")?,
        ),
        None => {
            let path = args.data_dir.join("yui.db");
            Arc::new(
                SqliteStore::open(&path)
                    .await
                    .with_context(|| format!("opening SQLite at {}", path.display()))?,
            )
        }
    })
}

/// Where attachment bytes go: Postgres in cluster mode (every node serves every attachment),
/// else files under the data directory.
pub async fn open_blobs(args: &StoreArgs) -> anyhow::Result<Arc<dyn BlobStore>> {
    Ok(match &args.database_url {
        Some(url) => Arc::new(
            PgBlobStore::connect(url, (args.db_pool / 4).max(2))
                .await
                .context("connecting the attachment store to Postgres")?,
        ),
        None => {
            let dir = args.data_dir.join("attachments");
            Arc::new(
                FsBlobStore::open(&dir)
                    .with_context(|| format!("opening attachments at {}", dir.display()))?,
            )
        }
    })
}

fn default_web_dir() -> Option<PathBuf> {
    let built = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web-client"));
    [PathBuf::from("web-client"), built]
        .into_iter()
        .find(|p| p.join("index.html").is_file())
}

fn node_name(args: &ServeArgs, listener: &TcpListener) -> String {
    if let Some(n) = &args.node {
        return n.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "yui".into());
    match listener.local_addr() {
        Ok(a) => format!("{host}:{}", a.port()),
        Err(_) => host,
    }
}

/// Builds the hub's state: store, bus, hub, committer, dispatcher.
pub async fn build(
    args: &ServeArgs,
    listener: &TcpListener,
) -> anyhow::Result<(AppState, Vec<tokio::task::JoinHandle<()>>)> {
    let demo_secret = args.demo.then_some(DEMO_SECRET);
    let verifier = Verifier::from_args(&args.jwt, demo_secret)?;
    let metrics = metrics_handle()?;
    let store = open_store(&args.store).await?;
    let blobs = open_blobs(&args.store).await?;
    let (events, inbox) = Hub::inbox();
    let bus: Arc<dyn Bus> = match &args.redis_url {
        Some(url) if args.redis_cluster || crate::bus::cluster::is_cluster_url(url) => Arc::new(
            crate::bus::cluster::ClusterBus::connect(url, &args.redis_prefix, events.clone())
                .await
                .context("connecting to the Redis Cluster (REDIS_URL)")?,
        ),
        Some(url) => Arc::new(
            RedisBus::connect(url, &args.redis_prefix, events.clone())
                .await
                .context("connecting to Redis (REDIS_URL)")?,
        ),
        None => Arc::new(LocalBus),
    };
    let access = Arc::new(AccessCache::new(store.clone()));
    let hub = Hub::new(store.clone(), bus, access.clone(), events);
    let dispatcher = tokio::spawn(hub.clone().run_dispatcher(inbox));
    let shutdown = CancellationToken::new();
    let (indexed, indexer_task) = crate::indexer::spawn(store.clone(), shutdown.clone());
    let (committer, committer_task) = Committer::spawn(
        store.clone(),
        hub.clone(),
        crate::committer::Batching {
            max: args.limits.commit_batch,
            read_linger: Duration::from_millis(args.limits.read_linger_ms),
        },
        indexed,
    );
    let demo_users = if args.demo {
        let minter = Minter::from_args(&args.jwt, demo_secret)?;
        Some(crate::demo::seed(store.as_ref(), &minter).await?)
    } else {
        None
    };
    let node = node_name(args, listener);
    let push = Push::new(store.clone(), push_settings(&args.push), node.clone())
        .await
        .context("loading the VAPID key")?;
    let push_tasks = push.spawn(hub.clone(), shutdown.clone());
    let l = &args.limits;
    let state = Arc::new(Shared {
        node,
        limits: Limits {
            max_frame_bytes: l.max_frame_bytes,
            rate_per_second: l.rate_per_second,
            rate_burst: l.rate_burst,
            rate_grace: Duration::from_secs(l.rate_grace),
            outbound_queue: l.outbound_queue.max(1),
            max_subscriptions: l.max_subscriptions,
            bad_frame_streak: l.bad_frame_streak.max(1),
            hello_timeout: Duration::from_secs(l.hello_timeout),
            heartbeat: Duration::from_secs(l.heartbeat.max(1)),
        },
        service: RoomService::new(
            store,
            hub,
            access,
            committer,
            AttachmentSettings {
                blobs,
                max_bytes: l.max_attachment_bytes,
            },
        )
        .with_require_consent(args.require_consent),
        verifier,
        metrics,
        web_dir: args.web_dir.clone().or_else(default_web_dir),
        export_font: args.export_font.clone(),
        demo_users,
        shutdown,
        connections: TaskTracker::new(),
        connection_permits: Arc::new(Semaphore::new(l.max_connections)),
        next_conn_id: AtomicU64::new(1),
        push,
    });
    let gc = tokio::spawn(collect_unposted_attachments(
        state.clone(),
        Duration::from_secs(l.attachment_gc_interval.max(1)),
        Duration::from_secs(l.unposted_attachment_ttl),
    ));
    let mut tasks = vec![dispatcher, committer_task, indexer_task, gc];
    tasks.extend(push_tasks);
    Ok((state, tasks))
}

/// Every `interval`, deletes the attachments never posted that are older than `age`
/// (PROTOCOL.md 5.3). Every node of a cluster runs it; the deletes are conditional.
async fn collect_unposted_attachments(state: AppState, interval: Duration, age: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        if let Err(e) = state.service.collect_unposted(age).await {
            tracing::warn!(error = %e, "clean-up of unposted attachments failed; retried later");
        }
    }
}

fn push_settings(a: &PushArgs) -> PushSettings {
    PushSettings {
        allow_insecure: a.push_allow_insecure,
        subject: a.vapid_subject.clone(),
        window: Duration::from_secs(a.push_coalesce_seconds),
        lease: Duration::from_secs(a.push_lease_seconds.max(1)),
        ttl: Duration::from_secs(a.push_ttl_seconds),
        max_attempts: a.push_max_attempts.max(1),
        backoff: Duration::from_millis(a.push_backoff_ms),
        request_timeout: Duration::from_secs(10),
        presence_interval: Duration::from_millis(a.push_presence_ms.max(50)),
        test_delay: Duration::from_millis(a.push_test_delay_ms),
        digest: digest_settings(a),
    }
}

fn digest_settings(a: &PushArgs) -> Option<crate::push::digest::DigestSettings> {
    let (url, from) = match (&a.smtp_url, &a.smtp_from) {
        (Some(u), Some(f)) => (u.clone(), f.clone()),
        (Some(_), None) => {
            tracing::error!("--smtp-url without --smtp-from: email digests are off");
            return None;
        }
        _ => return None,
    };
    let interval = match a.digest_test_interval_ms {
        Some(ms) => Duration::from_millis(ms.max(1)),
        None => Duration::from_secs(a.digest_minutes.max(1) * 60),
    };
    Some(crate::push::digest::DigestSettings {
        smtp_url: url,
        from,
        interval,
        check: (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)),
    })
}

/// How the HTTP edge is configured: the origins, the rate, demo mode.
pub fn edge_settings(args: &ServeArgs) -> anyhow::Result<EdgeSettings> {
    let allowed_origins = args
        .allowed_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| {
            normalize_origin(o).with_context(|| {
                format!("--allowed-origin {o:?}: expected scheme://host[:port] (http or https)")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(EdgeSettings {
        max_body_bytes: args
            .limits
            .max_frame_bytes
            .max(yui_protocol::limits::MAX_FRAME_BYTES),
        max_attachment_bytes: args.limits.max_attachment_bytes,
        rate_per_second: args.limits.rate_per_second,
        rate_burst: args.limits.rate_burst,
        allowed_origins,
    })
}

/// The accept loop's guards; the pending cap at most a quarter of the open-file limit, so
/// idle sockets can never take the descriptors the store and real users need.
pub fn serve_options(args: &ServeArgs) -> ServeOptions {
    let mut max_pending = args.limits.max_pending_connections.max(1);
    if let Ok((soft, _)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let quarter = usize::try_from(soft / 4).unwrap_or(usize::MAX).max(1);
        if quarter < max_pending {
            tracing::info!(
                max_pending = quarter,
                open_file_limit = soft,
                "pending connections capped at a quarter of the open-file limit"
            );
            max_pending = quarter;
        }
    }
    ServeOptions {
        header_read_timeout: Duration::from_secs(args.limits.header_timeout.max(1)),
        max_pending,
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains: stops accepting,
/// closes every connection with 1001 (each finishes the commit it is waiting for), and waits
/// up to the grace period.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    edge: EdgeSettings,
    options: ServeOptions,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = state.shutdown.clone();
    let router = crate::http::app(state.clone(), crate::ws::routes(), Edge::new(edge));
    {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = token.cancelled() => {}
            }
            token.cancel();
        });
    }
    crate::http::serve::serve(
        listener,
        router,
        options,
        token.clone(),
        state.connections.clone(),
    )
    .await;
    token.cancel();
    tracing::info!(connections = state.service.connection_count(), "draining");
    state.connections.close();
    if tokio::time::timeout(grace, state.connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing the remaining connections");
    }
    Ok(())
}

/// Builds and serves until `shutdown`; the library's one entry point (`yui serve` and the
/// tests). Prints where it listens (and, with `--demo`, a sign-in link per demo user).
pub async fn run(
    args: ServeArgs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Check the key before anything else, so a missing secret is the first thing said.
    Verifier::from_args(&args.jwt, args.demo.then_some(DEMO_SECRET))?;
    let addr = listener.local_addr().context("listener address")?;
    let (state, tasks) = build(&args, &listener).await?;
    println!("Yui listening on http://{addr} (WebSocket ws://{addr}/ws)");
    if args.demo {
        crate::demo::print_tokens(&state, addr);
    }
    let grace = Duration::from_secs(args.limits.shutdown_grace);
    let edge = edge_settings(&args)?;
    let options = serve_options(&args);
    let result = serve(listener, state, edge, options, grace, shutdown).await;
    for t in tasks {
        t.abort();
    }
    result
}
