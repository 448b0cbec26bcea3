//! What Web Push keeps (PROTOCOL.md 5.6): the hub's VAPID key, the browsers' subscriptions,
//! the outbox of pushes to send (claimed by one node at a time, with a lease), when each
//! subscription last got a push for a room (the coalescing window), and which users have a
//! connection subscribed to a room on some node (presence, with an expiry). Both stores
//! implement [`PushStore`]; `Store::push` gives it.

use super::{RoomInfo, StoreResult};
use async_trait::async_trait;
use yui_protocol::ids::{RoomId, TownId, UserId};
use yui_protocol::push::{Email, Endpoint, Subscription};

/// The hub's VAPID key pair: the private key as PKCS#8 PEM, the public key as base64url of
/// the uncompressed point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidKey {
    pub private_pem: String,
    pub public_key: String,
}

/// A subscription that may get a push for a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: UserId,
    pub endpoint: String,
}

/// A push to queue: `urgent` and `mentioned` are or-ed into a pending one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub endpoint: String,
    pub room: RoomId,
    pub user: UserId,
    pub urgent: bool,
    pub mentioned: bool,
}

/// A push this node claimed: its lease runs until it is sent, retried or dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub room: RoomId,
    pub user: UserId,
    pub urgent: bool,
    pub mentioned: bool,
    /// Failed tries before this one.
    pub attempts: u32,
    /// The subscription (gone: removed since it was queued).
    pub subscription: Option<Subscription>,
    /// The endpoint as queued (the key of the row).
    pub endpoint: String,
}

/// How a claimed push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The push service took it: the window starts now.
    Sent,
    /// Nothing to send (the user came back, read it, or lost access).
    Dropped,
    /// Failed for now: try again at this time (ms).
    Retry { at: i64 },
}

#[async_trait]
pub trait PushStore: Send + Sync {
    /// The hub's key: `candidate` is stored when there is none yet; the stored one is returned
    /// (two nodes starting together both get the first one written).
    async fn vapid_key(&self, candidate: &VapidKey) -> StoreResult<VapidKey>;

    /// Stores (or moves to `user`, refreshing its keys) a subscription.
    async fn put_push_subscription(
        &self,
        user: &UserId,
        town: &TownId,
        admin: bool,
        sub: &Subscription,
        now: i64,
    ) -> StoreResult<()>;

    /// Removes `user`'s subscription; false when `user` had none at that endpoint.
    async fn delete_push_subscription(
        &self,
        user: &UserId,
        endpoint: &Endpoint,
    ) -> StoreResult<bool>;

    /// Removes a subscription its push service says is gone (404, 410), with its queued pushes.
    async fn remove_push_endpoint(&self, endpoint: &str) -> StoreResult<()>;

    /// The subscriptions of the users who may read each of `rooms` (one list per room, in
    /// order, each sorted by user and endpoint): team, its members; town, the town's users and
    /// admins. One call for a batch of messages, so the fan-out costs a query per batch, not
    /// per message.
    async fn push_targets(&self, rooms: &[RoomInfo]) -> StoreResult<Vec<Vec<Target>>>;

    /// Users with a presence row for `room` (a connection subscribed to it on some node) of a
    /// node that has not expired at `now`.
    async fn present_users(&self, room: &RoomId, now: i64) -> StoreResult<Vec<UserId>>;

    /// This node's presence: adds and removes rows, and keeps the node alive until
    /// `expires_at` (one row, whatever the number of its pairs). `reset` first removes every
    /// row of the node, and those of every node expired at `now` (at start and when leaving).
    async fn sync_presence(
        &self,
        node: &str,
        add: &[(UserId, RoomId)],
        remove: &[(UserId, RoomId)],
        now: i64,
        expires_at: i64,
        reset: bool,
    ) -> StoreResult<()>;

    /// Queues pushes: a new one is due at the end of its subscription's window for the room
    /// (now when the window is over); a pending one takes the flags; one being sent now is
    /// marked to be sent again after it.
    async fn enqueue_pushes(&self, items: &[Notify], now: i64, window_ms: i64) -> StoreResult<()>;

    /// Claims up to `limit` due pushes not claimed by a live lease, for `lease_ms`.
    async fn claim_pushes(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<Claimed>>;

    /// Ends a claimed push (only while `node` still holds it).
    async fn finish_push(
        &self,
        endpoint: &str,
        room: &RoomId,
        node: &str,
        outcome: Outcome,
        now: i64,
        window_ms: i64,
    ) -> StoreResult<()>;

    /// Pushes queued (claimed or not).
    async fn outbox_depth(&self) -> StoreResult<u64>;

    /// Forgets the rows of pushes sent longer than a window ago with nothing pending.
    async fn prune_pushes(&self, now: i64, window_ms: i64) -> StoreResult<u64>;

    /// Records the address of a user's token (digests go there).
    async fn remember_email(&self, user: &UserId, town: &TownId, email: &Email) -> StoreResult<()>;

    /// Turns `user`'s digests on or off.
    async fn set_email_digest(&self, user: &UserId, town: &TownId, on: bool) -> StoreResult<()>;

    /// Whether `user` gets digests (on unless turned off).
    async fn email_digest(&self, user: &UserId) -> StoreResult<bool>;

    /// Claims up to `limit` users due a digest: an address, digests on, none claimed within
    /// `interval_ms`, not seen within it (`users.last_seen`), no presence row. The claim is the
    /// digest's time: once per user per interval, whichever node claims it.
    async fn claim_digests(
        &self,
        now: i64,
        interval_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>>;

    /// The unread total a digest reported (or 0 when there was nothing to report).
    async fn digest_reported(&self, user: &UserId, unread: u64) -> StoreResult<()>;
}

/// A user due a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDue {
    pub user: UserId,
    pub town: TownId,
    pub email: Email,
    /// The unread total of the last digest: none is sent when nothing changed since.
    pub last_unread: u64,
}
