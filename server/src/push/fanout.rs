//! From a committed message to the outbox: who gets a push.

use super::{millis, now_ms, policy, Push};
use crate::hub::Hub;
use crate::store::push::Notify;
use crate::store::RoomInfo;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yui_protocol::ids::RoomId;
use yui_protocol::model::Message;

/// Most messages taken from the queue at once.
const BATCH: usize = 64;

/// How long a batch that is not full waits for more messages.
const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

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
        // Below a full batch, wait a moment for more: the fan-out costs a store query per
        // batch, so at a modest post rate one query serves many posts, where it would serve
        // one; a push arriving [`GATHER`] later is not noticed.
        if n < BATCH {
            tokio::select! {
                _ = tokio::time::sleep(GATHER) => {}
                // What was taken is still fanned out.
                _ = shutdown.cancelled() => {}
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
        }
        match fan_out(&push, &hub, &batch).await {
            // The sender is woken only for something to send: a claim is a write.
            Ok(0) => {}
            Ok(_) => push.wake.notify_one(),
            Err(e) => {
                metrics::counter!("yui_push_dropped_total").increment(batch.len() as u64);
                tracing::warn!(error = %format!("{e:#}"), messages = batch.len(),
                    "push fan-out failed; these messages notify nobody");
            }
        }
        batch.clear();
    }
}

/// Queues a push for each subscription of a reader of the room who is away and has not muted
/// it (urgent messages and mentions ignore mute); the author gets none. The batch's rooms are
/// looked up together: one query for all their subscriptions, and presence and mutes only for
/// the rooms that have any (at a high post rate most batches then cost one query).
/// Returns how many pushes it queued.
async fn fan_out(push: &Push, hub: &Hub, messages: &[Arc<Message>]) -> anyhow::Result<usize> {
    let store = push.store.as_ref();
    let mut rooms: Vec<RoomInfo> = Vec::new();
    for message in messages {
        if rooms.iter().any(|r| r.room == message.room) {
            continue;
        }
        if let Some(access) = hub.room_access(&message.room).await? {
            rooms.push(access.info.clone());
        }
    }
    if rooms.is_empty() {
        return Ok(0);
    }
    let targets = store.push().push_targets(&rooms).await?;
    let now = now_ms();
    let mut items: Vec<Notify> = Vec::new();
    let mut queued: HashMap<(String, RoomId), usize> = HashMap::new();
    for (info, targets) in rooms.iter().zip(targets) {
        let in_room = || messages.iter().filter(|m| m.room == info.room);
        // Nobody to tell: a room whose only subscribed readers wrote every one of its messages.
        if !targets
            .iter()
            .any(|t| in_room().any(|m| m.author.id != t.user))
        {
            continue;
        }
        let present: HashSet<_> = store
            .push()
            .present_users(&info.room, now)
            .await?
            .into_iter()
            .collect();
        let muted = if in_room().all(|m| policy::is_urgent(m)) {
            HashSet::new()
        } else {
            policy::muted_in(store, &info.room).await?
        };
        for message in in_room() {
            let urgent = policy::is_urgent(message);
            for t in &targets {
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
                // One item per subscription and room (the outbox's key, which one statement
                // may not touch twice): several messages of the batch or-ed together.
                match queued.entry((t.endpoint.clone(), message.room.clone())) {
                    Entry::Occupied(i) => {
                        let n: &mut Notify = &mut items[*i.get()];
                        n.urgent |= urgent;
                        n.mentioned |= mentioned;
                    }
                    Entry::Vacant(v) => {
                        v.insert(items.len());
                        items.push(Notify {
                            endpoint: t.endpoint.clone(),
                            room: message.room.clone(),
                            user: t.user.clone(),
                            urgent,
                            mentioned,
                        });
                    }
                }
            }
        }
    }
    if !items.is_empty() {
        store
            .push()
            .enqueue_pushes(&items, now, millis(push.settings.window))
            .await?;
    }
    Ok(items.len())
}
