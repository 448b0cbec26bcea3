//! This node's presence in the store: every (user, room) with a connection subscribed here,
//! written as it changes (checked every `presence_interval`) and refreshed, expiring after five
//! intervals, so a node that dies stops counting soon after. The fan-out and the sender of every
//! node read it; they also ask their own registry, which is exact for their own connections.

use super::{millis, now_ms, Push};
use crate::hub::Hub;
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn run(push: Arc<Push>, hub: Arc<Hub>, shutdown: CancellationToken) {
    let interval = push
        .settings
        .presence_interval
        .max(std::time::Duration::from_millis(50));
    let ttl = millis(interval) * 5;
    let mut written: HashSet<_> = HashSet::new();
    let mut reset = true;
    let mut last_refresh = 0i64;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        let now = now_ms();
        let current = hub.local_presence();
        let add: Vec<_> = current.difference(&written).cloned().collect();
        let remove: Vec<_> = written.difference(&current).cloned().collect();
        // A write only when something changed or the rows need refreshing (at 2/5 of their
        // life), so an idle embedded hub does not write every interval.
        if !reset && add.is_empty() && remove.is_empty() && now - last_refresh < ttl * 2 / 5 {
            continue;
        }
        match push
            .store
            .push()
            .sync_presence(&push.node, &add, &remove, now + ttl, reset)
            .await
        {
            Ok(()) => {
                written = current;
                reset = false;
                last_refresh = now;
            }
            Err(e) => tracing::warn!(error = %e, "writing push presence failed; retried"),
        }
    }
    // Leaving: this node's rows go now rather than at their expiry.
    let _ = push
        .store
        .push()
        .sync_presence(&push.node, &[], &[], 0, true)
        .await;
}
