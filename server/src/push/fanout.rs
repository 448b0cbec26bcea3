//! From a committed message to the outbox: who gets a push.

use super::{millis, now_ms, policy, Push};
use crate::hub::Hub;
use crate::store::push::Notify;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yui_protocol::model::Message;

/// Most messages taken from the queue at once.
const BATCH: usize = 64;

pub async fn run(
    push: Arc<Push>,
    hub: Arc<Hub>,
    mut rx: mpsc::Receiver<Arc<Message>>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            _ = shutdown.cancelled() => return,
        };
        if n == 0 {
            return;
        }
        for message in batch.drain(..) {
            if let Err(e) = fan_out(&push, &hub, &message).await {
                metrics::counter!("yui_push_dropped_total").increment(1);
                tracing::warn!(error = %format!("{e:#}"), room = %message.room, seq = message.seq,
                    "push fan-out failed; this message notifies nobody");
            }
        }
        push.wake.notify_one();
    }
}

/// Queues a push for each subscription of a reader of the room who is away and has not muted
/// it (urgent messages and mentions ignore mute); the author gets none.
async fn fan_out(push: &Push, hub: &Hub, message: &Message) -> anyhow::Result<()> {
    let store = push.store.as_ref();
    let Some(info) = store.room(&message.room).await? else {
        return Ok(());
    };
    let targets = store.push().push_targets(&info).await?;
    if targets.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let present: HashSet<_> = store
        .push()
        .present_users(&message.room, now)
        .await?
        .into_iter()
        .collect();
    let urgent = policy::is_urgent(message);
    let muted = if urgent {
        HashSet::new()
    } else {
        policy::muted_in(store, &message.room).await?
    };
    let mut items = Vec::new();
    for t in targets {
        if t.user == message.author.id
            || present.contains(&t.user)
            || hub.locally_subscribed(&t.user, &message.room)
        {
            continue;
        }
        let mentioned = policy::mentions(message, &t.user);
        if !urgent && !mentioned && muted.contains(&t.user) {
            continue;
        }
        items.push(Notify {
            endpoint: t.endpoint,
            room: message.room.clone(),
            user: t.user,
            urgent,
            mentioned,
        });
    }
    if !items.is_empty() {
        store
            .push()
            .enqueue_pushes(&items, now, millis(push.settings.window))
            .await?;
    }
    Ok(())
}
