//! Web Push (PROTOCOL.md 5.6): telling users who are away that a room has something new,
//! without saying what.
//!
//! - [`vapid`]: the hub's P-256 key (made once, kept in the store) and the VAPID header.
//! - [`policy`]: is a message urgent, does it mention a user, has the user muted the room.
//! - [`fanout`]: after a message is committed on this node (a bounded queue fed by the hub,
//!   never on the commit path), who gets a push: readers of the room with a subscription, no
//!   connection subscribed to the room on any node, not muted (urgent and mentions ignore mute);
//!   queued in the store's outbox, one row per subscription and room.
//! - [`digest`]: email digests (rooms and unread counts, no text), once per user per interval.
//! - [`presence`]: this node's subscribed (user, room) pairs, kept in the store with an expiry,
//!   so every node knows who is here.
//! - [`sender`]: claims due rows (a lease; Postgres `FOR UPDATE SKIP LOCKED`), encrypts the
//!   payload (RFC 8291 `aes128gcm`), signs VAPID, POSTs, and ends each row: sent (the coalescing
//!   window starts), dropped, retried with backoff, or the subscription removed (404, 410).

pub mod digest;
pub mod fanout;
pub mod policy;
pub mod presence;
pub mod sender;
pub mod vapid;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use yui_protocol::claims::Identity;
use yui_protocol::push::{Endpoint, MySettings, SubscribeBody, Subscription, UnsubscribeBody};

/// Capacity of the queue from the hub to the fan-out task; past it a notification is dropped
/// (counted in `yui_push_dropped_total`), never the post.
pub const QUEUE: usize = 4096;

/// Push settings, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow_insecure: bool,
    /// The VAPID `sub` (a `mailto:` or `https:` contact for the push services).
    pub subject: String,
    /// At most one push per subscription and room in this window.
    pub window: Duration,
    /// How long a claimed push is this node's before another node may take it.
    pub lease: Duration,
    /// `TTL` of each push: how long the push service keeps it for an offline device.
    pub ttl: Duration,
    /// Tries of one push before it is given up.
    pub max_attempts: u32,
    /// The first retry's delay; doubled each time.
    pub backoff: Duration,
    /// Per push request.
    pub request_timeout: Duration,
    /// How often this node writes its presence; rows expire after 5 of these.
    pub presence_interval: Duration,
    /// Test only: waits this long between claiming and sending.
    pub test_delay: Duration,
    /// Email digests, when SMTP is configured.
    pub digest: Option<digest::DigestSettings>,
}

/// The push side of a hub: one per node.
pub struct Push {
    pub settings: Settings,
    store: Arc<dyn Store>,
    vapid: vapid::Vapid,
    node: String,
    /// Wakes the sender when the fan-out queued something.
    wake: Notify,
}

impl Push {
    /// Loads (or makes, once for every node) the VAPID key.
    pub async fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        node: String,
    ) -> anyhow::Result<Arc<Push>> {
        let candidate = vapid::generate()?;
        let key = store.push().vapid_key(&candidate).await?;
        let vapid = vapid::Vapid::load(&key, settings.subject.clone())?;
        Ok(Arc::new(Push {
            settings,
            store,
            vapid,
            node,
            wake: Notify::new(),
        }))
    }

    pub fn public_key(&self) -> &str {
        self.vapid.public_key()
    }

    /// Starts the fan-out, presence and sender tasks; they stop with `shutdown`.
    pub fn spawn(
        self: &Arc<Self>,
        hub: Arc<Hub>,
        shutdown: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        hub.tap_committed(tx);
        let mut tasks = vec![
            tokio::spawn(fanout::run(self.clone(), hub.clone(), rx, shutdown.clone())),
            tokio::spawn(presence::run(self.clone(), hub.clone(), shutdown.clone())),
        ];
        if let Some(d) = &self.settings.digest {
            match digest::Digests::new(d.clone(), self.store.clone()) {
                Ok(digests) => tasks.push(tokio::spawn(digests.run(shutdown.clone()))),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "email digests are off"),
            }
        }
        tasks.push(tokio::spawn(sender::run(self.clone(), hub, shutdown)));
        tasks
    }

    /// `GET /api/me/settings`.
    pub async fn settings_of(&self, who: &Identity) -> Result<MySettings, ApiError> {
        Ok(MySettings {
            email_digest: self.store.push().email_digest(who.id()).await?,
        })
    }

    /// `PUT /api/me/settings`.
    pub async fn put_settings(
        &self,
        who: &Identity,
        settings: MySettings,
    ) -> Result<MySettings, ApiError> {
        self.store
            .push()
            .set_email_digest(who.id(), &who.town, settings.email_digest)
            .await?;
        Ok(settings)
    }

    /// `POST /api/me/push`.
    pub async fn subscribe(&self, who: &Identity, body: SubscribeBody) -> Result<(), ApiError> {
        let sub = Subscription::parse(body, self.settings.allow_insecure)?;
        self.store
            .push()
            .put_push_subscription(who.id(), &who.town, who.is_admin(), &sub, now_ms())
            .await?;
        Ok(())
    }

    /// `DELETE /api/me/push`: 204 whether or not the user had that subscription.
    pub async fn unsubscribe(&self, who: &Identity, body: UnsubscribeBody) -> Result<(), ApiError> {
        // Any endpoint the hub may have stored is accepted here, http:// too.
        let endpoint = Endpoint::parse(&body.endpoint, true)?;
        self.store
            .push()
            .delete_push_subscription(who.id(), &endpoint)
            .await?;
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
