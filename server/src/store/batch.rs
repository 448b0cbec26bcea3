//! Planning a group commit without the database: which posts are new, how far each room's
//! `last_seq` advances, and what every write of the batch answers. The SQL side
//! (`sql::impl_sql_store`) runs a fixed number of set-based statements around this: it looks up
//! what the batch depends on (committed messages, rooms' `last_seq`, read positions) once, then
//! [`apply`] replays the writes in batch order in memory, exactly as the one-write-at-a-time
//! loop did, and the results are written back with one multi-row statement per table.

use super::{convert, StoreError, StoreResult, Write, WriteOutcome};
use std::collections::{BTreeMap, HashMap, HashSet};
use yui_protocol::model::{Message, Timestamp};

/// Bind parameters one statement may carry: SQLite's limit (32766); Postgres allows 65535.
const MAX_BINDS: usize = 32_766;

/// Rows per multi-row statement even when the bind limit would allow more: keeps statements
/// (and the SQL text sqlx prepares and caches) a bounded size. A batch of the default
/// `--commit-batch` (512) needs one statement per kind.
const MAX_ROWS: usize = 512;

/// How many rows of `columns` bind parameters each go in one statement.
pub(super) fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).clamp(1, MAX_ROWS)
}

/// A post's idempotency key: (room, author id, client id).
pub(super) type PostKey<'a> = (&'a str, &'a str, &'a str);

/// Messages committed by earlier batches, by their idempotency key.
pub(super) type Committed = HashMap<(String, String, String), Message>;

/// Read positions before the batch, `(seq, at)` by (room, user id).
pub(super) type Positions = HashMap<(String, String), (i64, i64)>;

fn owned((room, author, client_id): PostKey<'_>) -> (String, String, String) {
    (room.to_owned(), author.to_owned(), client_id.to_owned())
}

/// The key of a stored message, to file it in [`Committed`].
pub(super) fn message_key(m: &Message) -> (String, String, String) {
    owned((m.room.as_str(), m.author.id.as_str(), m.client_id.as_str()))
}

fn post_key(w: &Write) -> Option<PostKey<'_>> {
    match w {
        Write::Post {
            room,
            author,
            client_id,
            ..
        } => Some((room.as_str(), author.id.as_str(), client_id.as_str())),
        Write::Read { .. } | Write::Audit(_) => None,
    }
}

/// Every room the batch posts to or reads in, sorted and without repeats (the lock order).
pub(super) fn rooms(batch: &[Write]) -> Vec<&str> {
    let mut rooms: Vec<&str> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Post { room, .. } | Write::Read { room, .. } => Some(room.as_str()),
            Write::Audit(_) => None,
        })
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    rooms
}

/// The distinct idempotency keys of the batch's posts, in batch order.
pub(super) fn post_keys(batch: &[Write]) -> Vec<PostKey<'_>> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter_map(post_key)
        .filter(|k| seen.insert(*k))
        .collect()
}

/// The distinct (room, user) pairs the batch's reads touch, in batch order: their positions
/// before the batch decide the reads' answers.
pub(super) fn read_pairs(batch: &[Write]) -> Vec<(&str, &str)> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter_map(|w| match w {
            Write::Read { room, user, .. } => Some((room.as_str(), user.as_str())),
            Write::Post { .. } | Write::Audit(_) => None,
        })
        .filter(|p| seen.insert(*p))
        .collect()
}

/// What a post of the batch does, decided before any seq is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PostFate {
    /// Committed by an earlier batch: answered with the stored message, `new: false`.
    Committed,
    /// Same key as the post at this earlier index of the batch: answered with that post's
    /// message, `new: false` (what the sequential loop did: it found the first one in the
    /// transaction).
    RepeatOf(usize),
    /// Writes a new message.
    New,
}

/// The fate of each write of the batch (`None` for reads and audit entries).
pub(super) fn post_fates(batch: &[Write], committed: &Committed) -> Vec<Option<PostFate>> {
    let mut first: HashMap<PostKey<'_>, usize> = HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let key = post_key(w)?;
            // Most batches look nothing up (retries are assumed away): no keys to build then.
            Some(
                if !committed.is_empty() && committed.contains_key(&owned(key)) {
                    PostFate::Committed
                } else if let Some(&j) = first.get(&key) {
                    PostFate::RepeatOf(j)
                } else {
                    first.insert(key, i);
                    PostFate::New
                },
            )
        })
        .collect()
}

/// How many new messages each room gets, sorted by room id: what its `last_seq` advances by.
pub(super) fn new_posts_per_room<'a>(
    batch: &'a [Write],
    fates: &[Option<PostFate>],
) -> Vec<(&'a str, i64)> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for (w, fate) in batch.iter().zip(fates) {
        if let (Write::Post { room, .. }, Some(PostFate::New)) = (w, fate) {
            *counts.entry(room.as_str()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

/// A read position while the batch is replayed.
struct Position {
    seq: i64,
    at: i64,
    moved: bool,
}

/// The batch replayed in memory.
pub(super) struct Applied<'a> {
    /// One per write, in batch order; the posts with `new: true` are the messages to insert.
    pub outcomes: Vec<WriteOutcome>,
    /// The final position of every (room, user) the batch moved, once each (Postgres refuses an
    /// upsert that touches one row twice), in the order they first moved. They all moved at
    /// the batch's `now`.
    pub moved: Vec<(&'a str, &'a str, i64)>,
}

/// Replays the batch in order, as the sequential loop did: a new post takes its room's next
/// seq and moves its author's read position there; a read is clamped to its room's `last_seq`
/// at that point of the batch and never moves a position backwards.
///
/// `last_seq` is each room's value before the batch, for every room with new posts and every
/// existing room read in (a room missing from it has no messages: reads clamp to 0).
/// `positions` holds the positions before the batch of every pair a read touches (a missing one
/// never moved: seq 0, at 0). A pair that only posts touch may be missing although the database
/// has it: nothing answers from it, and the upsert's `WHERE excluded.seq > read_positions.seq`
/// keeps the stored position from moving back.
pub(super) fn apply<'a>(
    batch: &'a [Write],
    fates: &[Option<PostFate>],
    committed: &Committed,
    mut last_seq: HashMap<&'a str, i64>,
    positions: &Positions,
    now: Timestamp,
) -> StoreResult<Applied<'a>> {
    let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(batch.len());
    let mut current: HashMap<(&str, &str), Position> = HashMap::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for (w, fate) in batch.iter().zip(fates) {
        let outcome = match (w, fate) {
            (Write::Post { .. }, Some(PostFate::Committed)) => {
                let key = post_key(w).map(owned);
                let message = key.and_then(|k| committed.get(&k)).ok_or_else(|| {
                    StoreError::Corrupt("committed post missing from its lookup".into())
                })?;
                WriteOutcome::Posted {
                    message: message.clone(),
                    new: false,
                    members_version: 0,
                }
            }
            (Write::Post { .. }, Some(PostFate::RepeatOf(j))) => match outcomes.get(*j) {
                Some(WriteOutcome::Posted { message, .. }) => WriteOutcome::Posted {
                    message: message.clone(),
                    new: false,
                    members_version: 0,
                },
                _ => {
                    return Err(StoreError::Corrupt(
                        "repeated post without a first one".into(),
                    ))
                }
            },
            (
                Write::Post {
                    room,
                    author,
                    client_id,
                    kind,
                    body,
                },
                // `PostFate::New`, the only fate left for a post.
                _,
            ) => {
                let Some(last) = last_seq.get_mut(room.as_str()) else {
                    return Err(StoreError::Corrupt(format!(
                        "post to room {room}, which does not exist"
                    )));
                };
                *last += 1;
                let seq = *last;
                let p = entry(
                    &mut current,
                    &mut order,
                    positions,
                    room.as_str(),
                    author.id.as_str(),
                );
                if seq > p.seq {
                    *p = Position {
                        seq,
                        at: now.millis(),
                        moved: true,
                    };
                }
                WriteOutcome::Posted {
                    message: Message {
                        room: room.clone(),
                        seq: convert::seq(seq),
                        id: uuid::Uuid::now_v7().to_string(),
                        client_id: client_id.clone(),
                        author: author.clone(),
                        kind: *kind,
                        body: body.as_str().to_owned(),
                        at: now,
                    },
                    new: true,
                    members_version: 0,
                }
            }
            (Write::Read { room, user, seq }, _) => {
                let last = last_seq.get(room.as_str()).copied().unwrap_or(0);
                let target = convert::db_seq(*seq).min(last);
                let p = entry(
                    &mut current,
                    &mut order,
                    positions,
                    room.as_str(),
                    user.as_str(),
                );
                if target > p.seq {
                    *p = Position {
                        seq: target,
                        at: now.millis(),
                        moved: true,
                    };
                    WriteOutcome::Read {
                        seq: convert::seq(target),
                        moved: true,
                        at: now,
                    }
                } else {
                    WriteOutcome::Read {
                        seq: convert::seq(p.seq),
                        moved: false,
                        at: convert::time(p.at),
                    }
                }
            }
            (Write::Audit(_), _) => WriteOutcome::Audited,
        };
        outcomes.push(outcome);
    }
    let moved = order
        .into_iter()
        .filter_map(|pair| {
            let p = current.get(&pair)?;
            p.moved.then_some((pair.0, pair.1, p.seq))
        })
        .collect();
    Ok(Applied { outcomes, moved })
}

/// The replay's state of (room, user), starting from `positions` the first time.
fn entry<'m, 'a>(
    current: &'m mut HashMap<(&'a str, &'a str), Position>,
    order: &mut Vec<(&'a str, &'a str)>,
    positions: &Positions,
    room: &'a str,
    user: &'a str,
) -> &'m mut Position {
    current.entry((room, user)).or_insert_with(|| {
        order.push((room, user));
        // Batches of posts alone look no positions up: no keys to build then.
        let stored = if positions.is_empty() {
            None
        } else {
            positions.get(&(room.to_owned(), user.to_owned())).copied()
        };
        let (seq, at) = stored.unwrap_or((0, 0));
        Position {
            seq,
            at,
            moved: false,
        }
    })
}
