//! Sending the outbox: claim due pushes (a lease), check each is still wanted, encrypt
//! (RFC 8291 `aes128gcm`), sign (VAPID, RFC 8292), POST (RFC 8030), and end the row.
//!
//! Delivery to the push service is at least once: a row is ended only after the push service
//! answered; a node that dies between its request and the end of the row leaves the row to
//! another node when the lease is over, which sends it again.

use super::{millis, now_ms, Push};
use crate::hub::Hub;
use crate::store::push::{Claimed, Outcome};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use yui_protocol::model::RoomKind;
use yui_protocol::push::PushPayload;

/// Most pushes claimed at once, and sent at once.
const CLAIM: u32 = 64;
const CONCURRENT: usize = 16;
/// How often the outbox is looked at when nothing wakes the sender.
const POLL: Duration = Duration::from_millis(500);
/// How often idle outbox rows past their window are forgotten.
const PRUNE: Duration = Duration::from_secs(60);

pub async fn run(push: Arc<Push>, hub: Arc<Hub>, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(push.settings.request_timeout)
        .connect_timeout(push.settings.request_timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for Web Push; pushes are not sent");
            return;
        }
    };
    let mut last_depth = std::time::Instant::now() - Duration::from_secs(60);
    let mut last_prune = std::time::Instant::now();
    loop {
        if last_depth.elapsed() >= Duration::from_secs(2) {
            if let Ok(n) = push.store.push().outbox_depth().await {
                metrics::gauge!("yui_push_outbox_depth").set(n as f64);
            }
            last_depth = std::time::Instant::now();
        }
        if last_prune.elapsed() >= PRUNE {
            let window = millis(push.settings.window);
            if let Err(e) = push.store.push().prune_pushes(now_ms(), window).await {
                tracing::warn!(error = %e, "pruning the push outbox failed; retried");
            }
            last_prune = std::time::Instant::now();
        }
        let lease = millis(push.settings.lease);
        let claimed = match push
            .store
            .push()
            .claim_pushes(&push.node, now_ms(), lease, CLAIM)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming pushes failed; retried");
                Vec::new()
            }
        };
        let full = claimed.len() == CLAIM as usize;
        if !claimed.is_empty() {
            if !push.settings.test_delay.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(push.settings.test_delay) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            futures::stream::iter(claimed)
                .for_each_concurrent(CONCURRENT, |c| {
                    let (push, hub, client) = (&push, &hub, &client);
                    async move { deliver(push, hub, client, c).await }
                })
                .await;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = push.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn deliver(push: &Push, hub: &Hub, client: &reqwest::Client, c: Claimed) {
    let outcome = match attempt(push, hub, client, &c).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), room = %c.room, "push not sent");
            retry_or_give_up(push, &c)
        }
    };
    if let Err(e) = push
        .store
        .push()
        .finish_push(
            &c.endpoint,
            &c.room,
            &push.node,
            outcome,
            now_ms(),
            millis(push.settings.window),
        )
        .await
    {
        // The lease runs out and another node (or this one) tries again.
        tracing::warn!(error = %e, "ending a push failed; it is tried again after its lease");
    }
}

fn retry_or_give_up(push: &Push, c: &Claimed) -> Outcome {
    if c.attempts + 1 >= push.settings.max_attempts {
        metrics::counter!("yui_push_failed_total").increment(1);
        tracing::warn!(room = %c.room, attempts = c.attempts + 1, "push given up");
        return Outcome::Dropped;
    }
    let delay = push.settings.backoff * 2u32.saturating_pow(c.attempts.min(16));
    Outcome::Retry {
        at: now_ms() + millis(delay),
    }
}

/// One try. `Err` is a failure worth retrying (network, timeout, 429, 5xx).
async fn attempt(
    push: &Push,
    hub: &Hub,
    client: &reqwest::Client,
    c: &Claimed,
) -> anyhow::Result<Outcome> {
    let Some(sub) = &c.subscription else {
        return Ok(Outcome::Dropped);
    };
    let store = push.store.as_ref();
    // Still away, still a reader, still something unread?
    if hub.locally_subscribed(&c.user, &c.room)
        || store
            .push()
            .present_users(&c.room, now_ms())
            .await?
            .contains(&c.user)
    {
        return Ok(Outcome::Dropped);
    }
    let Some(info) = store.room(&c.room).await? else {
        return Ok(Outcome::Dropped);
    };
    if info.kind == RoomKind::Team && !store.members(&c.room).await?.iter().any(|m| m.id == c.user)
    {
        return Ok(Outcome::Dropped);
    }
    let Some(summary) = store.room_summary(&c.room, &c.user).await? else {
        return Ok(Outcome::Dropped);
    };
    if summary.unread == 0 {
        return Ok(Outcome::Dropped);
    }
    let payload = PushPayload {
        room: c.room.clone(),
        title: summary.title,
        unread: summary.unread,
        urgent: c.urgent,
        mentioned: c.mentioned,
    };
    let plain = serde_json::to_vec(&payload)?;
    let body = ece::encrypt(&sub.p256dh, &sub.auth, &plain)
        .map_err(|e| anyhow::anyhow!("encrypting the push: {e}"))?;
    let authorization = push
        .vapid
        .authorization(&sub.endpoint.origin(), now_ms() / 1000)?;
    let response = client
        .post(sub.endpoint.as_str())
        .header("Authorization", authorization)
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("TTL", push.settings.ttl.as_secs().to_string())
        .header("Urgency", if c.urgent { "high" } else { "normal" })
        .body(body)
        .send()
        .await?;
    let status = response.status();
    match status.as_u16() {
        200..=299 => {
            metrics::counter!("yui_push_sent_total").increment(1);
            Ok(Outcome::Sent)
        }
        404 | 410 => {
            store.push().remove_push_endpoint(&c.endpoint).await?;
            metrics::counter!("yui_push_subscriptions_removed_total").increment(1);
            tracing::info!(status = status.as_u16(), "push subscription gone; removed");
            Ok(Outcome::Dropped)
        }
        429 | 500..=599 => anyhow::bail!("push service answered {status}"),
        _ => {
            metrics::counter!("yui_push_failed_total").increment(1);
            tracing::warn!(status = status.as_u16(), "push refused by the push service");
            Ok(Outcome::Dropped)
        }
    }
}
