//! This node's presence in the store: every (user, room) with a connection subscribed here,
//! written as it changes (checked every `presence_interval`), and the node's own liveness row,
//! refreshed and expiring after five intervals, so a node that dies stops counting soon after
//! (its pairs are not rewritten to stay alive). The fan-out and the sender of every
//! node read it; they also ask their own registry, which is exact for their own connections.

use super::{millis, now_ms, Push};
use crate::hub::Hub;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::{RoomId, UserId};

pub async fn run(push: Arc<Push>, hub: Arc<Hub>, shutdown: CancellationToken) {
    let interval = push
        .settings
        .presence_interval
        .max(std::time::Duration::from_millis(50));
    let ttl = millis(interval) * 5;
    // What the store holds for this node, by room: the diff with the registry is made one
    // room at a time, so no second copy of every (user, room) pair is built each interval.
    let mut written: HashMap<RoomId, HashSet<UserId>> = HashMap::new();
    let mut reset = true;
    let mut last_refresh = 0i64;
    // The registry's change count that `written` reflects: while it stays, nothing is diffed.
    let mut seen: Option<u64> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        let now = now_ms();
        // Read before the diff: a change made during it is diffed again at the next tick.
        let changes = hub.subscription_changes();
        let (add, remove) = if seen == Some(changes) {
            (Vec::new(), Vec::new())
        } else {
            diff(&hub, &written)
        };
        // A write only when something changed or the rows need refreshing (at 2/5 of their
        // life), so an idle embedded hub does not write every interval.
        if !reset && add.is_empty() && remove.is_empty() && now - last_refresh < ttl * 2 / 5 {
            seen = Some(changes);
            continue;
        }
        match push
            .store
            .push()
            .sync_presence(&push.node, &add, &remove, now, now + ttl, reset)
            .await
        {
            Ok(()) => {
                for (user, room) in &remove {
                    if let Some(users) = written.get_mut(room) {
                        users.remove(user);
                        if users.is_empty() {
                            written.remove(room);
                        }
                    }
                }
                for (user, room) in add {
                    written.entry(room).or_default().insert(user);
                }
                reset = false;
                last_refresh = now;
                seen = Some(changes);
            }
            Err(e) => tracing::warn!(error = %e, "writing push presence failed; retried"),
        }
    }
    // Leaving: this node's rows go now rather than at their expiry.
    let _ = push
        .store
        .push()
        .sync_presence(&push.node, &[], &[], now_ms(), 0, true)
        .await;
}

/// The (user, room) pairs subscribed here and not written, and those written and no longer
/// subscribed here.
type Diff = (Vec<(UserId, RoomId)>, Vec<(UserId, RoomId)>);

fn diff(hub: &Hub, written: &HashMap<RoomId, HashSet<UserId>>) -> Diff {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    let served = hub.served_rooms();
    let none = HashSet::new();
    for room in &served {
        let present = hub.present_in(room);
        let stored = written.get(room).unwrap_or(&none);
        add.extend(
            present
                .difference(stored)
                .map(|u| (u.clone(), room.clone())),
        );
        remove.extend(
            stored
                .difference(&present)
                .map(|u| (u.clone(), room.clone())),
        );
    }
    // Rooms no longer served here at all.
    let served: HashSet<&RoomId> = served.iter().collect();
    for (room, users) in written {
        if !served.contains(room) {
            remove.extend(users.iter().map(|u| (u.clone(), room.clone())));
        }
    }
    (add, remove)
}
