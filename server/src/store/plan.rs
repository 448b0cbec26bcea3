//! Planning a group commit without the database, shared by both stores: which rooms, keys and
//! read positions the batch depends on, which posts are new, and what every write answers.
//!
//! A store commits a batch in four steps, all inside one transaction:
//! 1. [`Plan::new`] indexes the batch: its rooms (sorted: the lock order), the distinct
//!    idempotency keys of its posts, the distinct (room, user) pairs it moves.
//! 2. The store fetches what the plan depends on, filed by the plan's indices: each room's
//!    `last_seq` ([`RoomSeqs`]), the stored positions of the pairs a read touches
//!    ([`Positions`]) and, when retries are looked up, the messages committed before under the
//!    batch's keys ([`Committed`]).
//! 3. [`Plan::apply`] replays the writes in batch order in memory, exactly as committing them
//!    one at a time would, and returns every outcome and every row to write ([`Applied`]).
//! 4. The store writes those rows back.
//!
//! Keys are indices into the plan's own lists, never tuples of strings; rows are named structs.

use super::{convert, AuditRecord, StoreError, StoreResult, Write, WriteOutcome};
use std::collections::HashMap;
use yui_protocol::model::{Message, Timestamp};
use yui_protocol::post::Revision;

/// A post's idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostKey<'a> {
    pub room: &'a str,
    pub author: &'a str,
    pub client_id: &'a str,
}

impl<'a> PostKey<'a> {
    pub fn of_message(m: &'a Message) -> PostKey<'a> {
        PostKey {
            room: m.room.as_str(),
            author: m.author.id.as_str(),
            client_id: m.client_id.as_str(),
        }
    }
}

/// A read position's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairKey<'a> {
    pub room: &'a str,
    pub user: &'a str,
}

/// A read position as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPosition {
    pub seq: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// A read position the batch moved forward, once per pair, at the batch's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovedPosition<'a> {
    pub room: &'a str,
    pub user: &'a str,
    pub seq: i64,
}

/// A room's `last_seq` after the batch, for each room the batch posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomEnd<'a> {
    pub room: &'a str,
    pub last_seq: i64,
}

/// What one write of the batch refers to, as indices into the plan's lists.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Post {
        room: usize,
        key: usize,
        pair: usize,
    },
    Read {
        room: usize,
        pair: usize,
    },
    Audit,
}

/// A batch, indexed.
pub struct Plan<'a> {
    batch: &'a [Write],
    slots: Vec<Slot>,
    /// Every room posted to or read in, sorted, without repeats.
    rooms: Vec<&'a str>,
    /// The distinct idempotency keys, in batch order.
    keys: Vec<PostKey<'a>>,
    key_index: HashMap<PostKey<'a>, usize>,
    /// Every (room, user) pair the batch may move (readers and authors), in first-touch order.
    pairs: Vec<PairKey<'a>>,
    pair_index: HashMap<PairKey<'a>, usize>,
    /// Whether a read touches the pair: only those need their stored position.
    pair_read: Vec<bool>,
}

impl<'a> Plan<'a> {
    pub fn new(batch: &'a [Write]) -> Plan<'a> {
        let mut rooms: Vec<&str> = batch
            .iter()
            .filter_map(|w| match w {
                Write::Post { room, .. } | Write::Read { room, .. } => Some(room.as_str()),
                Write::Audit(_) => None,
            })
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        let mut plan = Plan {
            batch,
            slots: Vec::with_capacity(batch.len()),
            rooms,
            keys: Vec::new(),
            key_index: HashMap::new(),
            pairs: Vec::new(),
            pair_index: HashMap::new(),
            pair_read: Vec::new(),
        };
        for w in batch {
            let slot = match w {
                Write::Post {
                    room,
                    author,
                    client_id,
                    ..
                } => {
                    let key = PostKey {
                        room: room.as_str(),
                        author: author.id.as_str(),
                        client_id: client_id.as_str(),
                    };
                    let key = *plan.key_index.entry(key).or_insert_with(|| {
                        plan.keys.push(key);
                        plan.keys.len() - 1
                    });
                    Slot::Post {
                        room: plan.room_slot(room.as_str()),
                        key,
                        pair: plan.pair(room.as_str(), author.id.as_str(), false),
                    }
                }
                Write::Read { room, user, .. } => Slot::Read {
                    room: plan.room_slot(room.as_str()),
                    pair: plan.pair(room.as_str(), user.as_str(), true),
                },
                Write::Audit(_) => Slot::Audit,
            };
            plan.slots.push(slot);
        }
        plan
    }

    fn room_slot(&self, room: &str) -> usize {
        // Every room of a post or read is in `rooms` by construction.
        self.rooms.binary_search(&room).unwrap_or(0)
    }

    fn pair(&mut self, room: &'a str, user: &'a str, read: bool) -> usize {
        let key = PairKey { room, user };
        let i = *self.pair_index.entry(key).or_insert_with(|| {
            self.pairs.push(key);
            self.pair_read.push(false);
            self.pairs.len() - 1
        });
        self.pair_read[i] |= read;
        i
    }

    /// How many writes the batch has.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// The rooms the batch posts to or reads in, sorted, without repeats: the lock order, and
    /// the rooms whose `last_seq` the store fetches.
    pub fn rooms(&self) -> &[&'a str] {
        &self.rooms
    }

    pub fn room_index(&self, room: &str) -> Option<usize> {
        self.rooms.binary_search(&room).ok()
    }

    /// The distinct idempotency keys of the batch's posts, in batch order.
    pub fn post_keys(&self) -> &[PostKey<'a>] {
        &self.keys
    }

    pub fn post_key_index(&self, key: PostKey<'_>) -> Option<usize> {
        let index: &HashMap<PostKey<'_>, usize> = &self.key_index;
        index.get(&key).copied()
    }

    /// The pairs whose stored position the store fetches (those a read touches), with their
    /// index for [`Positions::set`].
    pub fn pairs_to_look_up(&self) -> impl Iterator<Item = (usize, PairKey<'a>)> + '_ {
        self.pairs
            .iter()
            .enumerate()
            .filter(|(i, _)| self.pair_read[*i])
            .map(|(i, p)| (i, *p))
    }

    pub fn pair_index(&self, key: PairKey<'_>) -> Option<usize> {
        let index: &HashMap<PairKey<'_>, usize> = &self.pair_index;
        index.get(&key).copied()
    }

    /// The batch's access-log entries, in batch order.
    pub fn audits(&self) -> impl Iterator<Item = &'a AuditRecord> {
        self.batch.iter().filter_map(|w| match w {
            Write::Audit(record) => Some(record),
            Write::Post { .. } | Write::Read { .. } => None,
        })
    }

    /// An empty [`RoomSeqs`] for this plan.
    pub fn room_seqs(&self) -> RoomSeqs {
        RoomSeqs(vec![None; self.rooms.len()], vec![0; self.rooms.len()])
    }

    /// An empty [`Positions`] for this plan.
    pub fn positions(&self) -> Positions {
        Positions(vec![None; self.pairs.len()])
    }

    /// Whether every write of the batch is a post: then no outcome depends on a stored read
    /// position, only on each room's `last_seq` and membership version, and
    /// [`Plan::apply_from_zero`] can number the batch before they are known.
    pub fn posts_only(&self) -> bool {
        self.slots.iter().all(|s| matches!(s, Slot::Post { .. }))
    }

    /// Whether a post of the batch names attachments (its commit claims them).
    pub fn has_attachments(&self) -> bool {
        self.batch
            .iter()
            .any(|w| matches!(w, Write::Post { attachments, .. } if !attachments.is_empty()))
    }

    /// [`Plan::apply`] for a batch of [posts only](Plan::posts_only), with no retry looked up,
    /// numbering each room's new posts from 1 as if the room were empty: a store that takes
    /// the rooms' `last_seq` in the statement that writes the rows (adding it to the seqs
    /// there) turns the outcomes into the real ones with [`Applied::rebased`].
    pub fn apply_from_zero(&self, now: Timestamp) -> StoreResult<Applied<'a>> {
        let mut empty = self.room_seqs();
        for room in 0..self.rooms.len() {
            empty.set(room, 0);
        }
        self.apply(&Committed::none(), &empty, &self.positions(), now)
    }

    /// Replays the batch in order, as committing it one write at a time would: a post already
    /// committed (or repeated within the batch) answers with the first message, `new: false`; a
    /// new post takes its room's next seq and moves its author's read position there; a read
    /// is clamped to its room's `last_seq` at that point of the batch (0 for a room that does
    /// not exist) and never moves a position backwards.
    ///
    /// A pair that only posts touch starts at 0 although the database may hold a position:
    /// nothing answers from it, and the stores write a moved position only where it is ahead of
    /// the stored one.
    pub fn apply(
        &self,
        committed: &Committed,
        seqs: &RoomSeqs,
        positions: &Positions,
        now: Timestamp,
    ) -> StoreResult<Applied<'a>> {
        let mut last: Vec<Option<i64>> = seqs.0.clone();
        let mut current: Vec<Position> = positions
            .0
            .iter()
            .map(|p| {
                let p = p.unwrap_or(StoredPosition { seq: 0, at: 0 });
                Position {
                    seq: p.seq,
                    at: p.at,
                    moved: false,
                }
            })
            .collect();
        let mut advanced = vec![false; self.rooms.len()];
        // The index in `outcomes` of the first post of each key.
        let mut first_post: Vec<Option<usize>> = vec![None; self.keys.len()];
        let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(self.batch.len());
        for (i, (w, slot)) in self.batch.iter().zip(&self.slots).enumerate() {
            let outcome = match (w, *slot) {
                (
                    Write::Post {
                        room,
                        author,
                        client_id,
                        kind,
                        body,
                        priority,
                        mentions,
                        revision,
                        attachments,
                    },
                    Slot::Post { room: r, key, pair },
                ) => {
                    if let Some(message) = committed.get(key) {
                        WriteOutcome::Posted {
                            message: message.clone(),
                            new: false,
                            members_version: 0,
                        }
                    } else if let Some(j) = first_post[key] {
                        match outcomes.get(j) {
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
                        }
                    } else {
                        first_post[key] = Some(i);
                        let Some(Some(seq)) = last.get_mut(r) else {
                            return Err(StoreError::Corrupt(format!(
                                "post to room {room}, which does not exist"
                            )));
                        };
                        *seq += 1;
                        let seq = *seq;
                        advanced[r] = true;
                        let p = &mut current[pair];
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
                                // Hyphenated and lower case, as `to_string` writes it, without the
                                // formatting machinery (this runs on the writer, once a post).
                                id: uuid::Uuid::now_v7()
                                    .hyphenated()
                                    .encode_lower(&mut uuid::Uuid::encode_buffer())
                                    .to_owned(),
                                client_id: client_id.clone(),
                                author: author.clone(),
                                kind: *kind,
                                body: body.as_ref().map_or("", |b| b.as_str()).to_owned(),
                                at: now,
                                priority: *priority,
                                mentions: mentions.clone(),
                                attachments: attachments.clone(),
                                replaces: revision.and_then(Revision::replaces),
                                retracts: revision.and_then(Revision::retracts),
                                confirms: None,
                                revised: None,
                            },
                            new: true,
                            members_version: seqs.members_version(r),
                        }
                    }
                }
                (Write::Read { seq, .. }, Slot::Read { room: r, pair }) => {
                    let last = last.get(r).copied().flatten().unwrap_or(0);
                    let target = convert::db_seq(*seq).min(last);
                    let p = &mut current[pair];
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
                _ => return Err(StoreError::Corrupt("group commit plan out of step".into())),
            };
            outcomes.push(outcome);
        }
        let moved = self
            .pairs
            .iter()
            .zip(&current)
            .filter(|(_, p)| p.moved)
            .map(|(k, p)| MovedPosition {
                room: k.room,
                user: k.user,
                seq: p.seq,
            })
            .collect();
        let room_ends = self
            .rooms
            .iter()
            .zip(&last)
            .zip(&advanced)
            .filter_map(|((room, seq), advanced)| match (seq, advanced) {
                (Some(seq), true) => Some(RoomEnd {
                    room,
                    last_seq: *seq,
                }),
                _ => None,
            })
            .collect();
        Ok(Applied {
            outcomes,
            moved,
            room_ends,
        })
    }
}

/// Each room's `last_seq` before the batch, by [`Plan::rooms`] index (`None`: no such room),
/// and its membership version read in the same transaction (carried by each new post's
/// outcome).
pub struct RoomSeqs(Vec<Option<i64>>, Vec<i64>);

impl RoomSeqs {
    pub fn set(&mut self, room: usize, last_seq: i64) {
        if let Some(slot) = self.0.get_mut(room) {
            *slot = Some(last_seq);
        }
    }

    pub fn set_members_version(&mut self, room: usize, version: i64) {
        if let Some(slot) = self.1.get_mut(room) {
            *slot = version;
        }
    }

    fn members_version(&self, room: usize) -> u64 {
        convert::seq(self.1.get(room).copied().unwrap_or(0))
    }
}

/// Stored read positions before the batch, by pair index (`None`: never moved).
pub struct Positions(Vec<Option<StoredPosition>>);

impl Positions {
    pub fn set(&mut self, pair: usize, position: StoredPosition) {
        if let Some(slot) = self.0.get_mut(pair) {
            *slot = Some(position);
        }
    }
}

/// Messages committed by earlier batches under the batch's keys, by [`Plan::post_keys`] index.
#[derive(Default)]
pub struct Committed(HashMap<usize, Message>);

impl Committed {
    /// Nothing looked up: the unique index on the key refuses a retry instead.
    pub fn none() -> Committed {
        Committed::default()
    }

    pub fn insert(&mut self, key: usize, message: Message) {
        self.0.insert(key, message);
    }

    fn get(&self, key: usize) -> Option<&Message> {
        if self.0.is_empty() {
            None
        } else {
            self.0.get(&key)
        }
    }
}

/// A read position while the batch is replayed.
#[derive(Clone, Copy)]
struct Position {
    seq: i64,
    at: i64,
    moved: bool,
}

/// The batch replayed in memory.
pub struct Applied<'a> {
    /// One per write, in batch order; the posts with `new: true` are the messages to insert.
    pub outcomes: Vec<WriteOutcome>,
    /// The final position of every pair the batch moved, once each (Postgres refuses an upsert
    /// that touches one row twice), in the order they were first touched.
    pub moved: Vec<MovedPosition<'a>>,
    /// The new `last_seq` of every room that got new posts.
    pub room_ends: Vec<RoomEnd<'a>>,
}

impl Applied<'_> {
    /// The outcomes of a batch applied [from zero](Plan::apply_from_zero), each post's seq
    /// moved up by its room's `last_seq` before the batch and each new post given the room's
    /// membership version, both as `bases` holds them.
    pub fn rebased(self, plan: &Plan<'_>, bases: &RoomSeqs) -> StoreResult<Vec<WriteOutcome>> {
        let mut outcomes = self.outcomes;
        for outcome in &mut outcomes {
            if let WriteOutcome::Posted {
                message,
                new,
                members_version,
            } = outcome
            {
                let room = plan.room_index(message.room.as_str());
                let base = room.and_then(|r| bases.0.get(r).copied().flatten());
                let (Some(room), Some(base)) = (room, base) else {
                    return Err(StoreError::Corrupt(format!(
                        "room {} took no last_seq in its commit",
                        message.room
                    )));
                };
                message.seq = convert::seq(convert::db_seq(message.seq).saturating_add(base));
                if *new {
                    *members_version = bases.members_version(room);
                }
            }
        }
        Ok(outcomes)
    }

    /// The messages to insert, in seq order within each room.
    pub fn new_messages(&self) -> impl Iterator<Item = &Message> {
        self.outcomes.iter().filter_map(|o| match o {
            WriteOutcome::Posted {
                message, new: true, ..
            } => Some(message),
            _ => None,
        })
    }
}

/// Whether a group commit looks up which of its posts were committed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retries {
    /// No: the unique index on (room, author, client_id) fails the batch if one was. Retries of
    /// committed posts are rare (an ack lost with its connection), so this saves a lookup per
    /// batch.
    Assumed,
    /// Yes: they are answered with the stored message.
    LookedUp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use yui_protocol::ids::{Body, ClientId, Name, RoomId, UserId};
    use yui_protocol::model::{MessageKind, Profession, UserRef};

    fn post(room: &str, author: &str, client_id: &str) -> Write {
        Write::Post {
            room: RoomId::parse(room).unwrap(),
            author: UserRef {
                id: UserId::parse(author).unwrap(),
                name: Name::parse(author).unwrap(),
                profession: Profession::Nurse,
                org: Name::parse("org").unwrap(),
            },
            client_id: ClientId::parse(client_id).unwrap(),
            kind: MessageKind::Note,
            body: Some(Body::parse("x").unwrap()),
            priority: Default::default(),
            mentions: Vec::new(),
            revision: None,
            attachments: Vec::new(),
        }
    }

    fn read(room: &str, user: &str, seq: u64) -> Write {
        Write::Read {
            room: RoomId::parse(room).unwrap(),
            user: UserId::parse(user).unwrap(),
            seq,
        }
    }

    #[test]
    fn plan_indexes_rooms_keys_and_pairs() {
        let batch = [
            post("b", "ann", "c1"),
            read("a", "ben", 3),
            post("b", "ann", "c1"),
            post("a", "ann", "c2"),
            read("b", "ann", 1),
        ];
        let plan = Plan::new(&batch);
        assert_eq!(plan.rooms(), &["a", "b"]);
        assert_eq!(plan.post_keys().len(), 2);
        let looked_up: Vec<_> = plan.pairs_to_look_up().map(|(_, k)| k).collect();
        assert_eq!(
            looked_up,
            vec![
                PairKey {
                    room: "b",
                    user: "ann"
                },
                PairKey {
                    room: "a",
                    user: "ben"
                }
            ]
        );
        assert_eq!(
            plan.post_key_index(PostKey {
                room: "a",
                author: "ann",
                client_id: "c2"
            }),
            Some(1)
        );
    }

    #[test]
    fn apply_numbers_new_posts_and_clamps_reads() {
        let batch = [
            read("a", "ben", 99),
            post("a", "ann", "c1"),
            post("a", "ann", "c1"),
            read("a", "ben", 99),
            post("nowhere-else", "ann", "c2"),
        ];
        let plan = Plan::new(&batch[..4]);
        let mut seqs = plan.room_seqs();
        seqs.set(plan.room_index("a").unwrap(), 5);
        let applied = plan
            .apply(
                &Committed::none(),
                &seqs,
                &plan.positions(),
                Timestamp::from_millis(7),
            )
            .unwrap();
        let seq_of = |o: &WriteOutcome| match o {
            WriteOutcome::Posted { message, new, .. } => (message.seq, *new),
            WriteOutcome::Read { seq, moved, .. } => (*seq, *moved),
            WriteOutcome::Audited => (0, false),
        };
        let got: Vec<_> = applied.outcomes.iter().map(seq_of).collect();
        assert_eq!(got, vec![(5, true), (6, true), (6, false), (6, true)]);
        assert_eq!(
            applied.room_ends,
            vec![RoomEnd {
                room: "a",
                last_seq: 6
            }]
        );
        assert_eq!(applied.new_messages().count(), 1);
        // A post to a room missing from the seqs fails the batch.
        let plan = Plan::new(&batch);
        let mut seqs = plan.room_seqs();
        seqs.set(plan.room_index("a").unwrap(), 5);
        let err = plan
            .apply(
                &Committed::none(),
                &seqs,
                &plan.positions(),
                Timestamp::from_millis(7),
            )
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Corrupt(_)));
    }

    #[test]
    fn applied_from_zero_and_rebased_matches_apply() {
        let batch = [
            post("a", "ann", "c1"),
            post("b", "ben", "c2"),
            post("a", "ann", "c1"),
            post("a", "cy", "c3"),
        ];
        let plan = Plan::new(&batch);
        assert!(plan.posts_only());
        assert!(!Plan::new(&[post("a", "ann", "c1"), read("a", "ben", 1)]).posts_only());
        let mut seqs = plan.room_seqs();
        for (room, last, version) in [("a", 5, 3), ("b", 0, 1)] {
            let i = plan.room_index(room).unwrap();
            seqs.set(i, last);
            seqs.set_members_version(i, version);
        }
        let now = Timestamp::from_millis(7);
        let summary = |outcomes: &[WriteOutcome]| -> Vec<(String, u64, bool, u64)> {
            outcomes
                .iter()
                .map(|o| match o {
                    WriteOutcome::Posted {
                        message,
                        new,
                        members_version,
                    } => (
                        message.room.to_string(),
                        message.seq,
                        *new,
                        *members_version,
                    ),
                    _ => panic!("a post's outcome expected"),
                })
                .collect()
        };
        let direct = plan
            .apply(&Committed::none(), &seqs, &plan.positions(), now)
            .unwrap();
        let from_zero = plan.apply_from_zero(now).unwrap();
        assert_eq!(
            from_zero.room_ends,
            vec![
                RoomEnd {
                    room: "a",
                    last_seq: 2
                },
                RoomEnd {
                    room: "b",
                    last_seq: 1
                }
            ]
        );
        let rebased = from_zero.rebased(&plan, &seqs).unwrap();
        assert_eq!(summary(&rebased), summary(&direct.outcomes));
        assert_eq!(
            summary(&rebased),
            vec![
                ("a".into(), 6, true, 3),
                ("b".into(), 1, true, 1),
                ("a".into(), 6, false, 0),
                ("a".into(), 7, true, 3),
            ]
        );
        // A room the statement returned no `last_seq` for fails the batch.
        let err = plan
            .apply_from_zero(now)
            .unwrap()
            .rebased(&plan, &plan.room_seqs())
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Corrupt(_)));
    }
}
