//! The one seq logic: where a subscriber (a node's room, or one connection's subscription)
//! stands in a room, what an arriving message means for it, and the pages that fill a gap.
//!
//! Both the dispatcher (per room on this node) and each connection's write loop (per
//! subscription) keep a [`Cursor`]; a message at or below it is a repeat, the next one is
//! delivered, one further on is preceded by the missing messages read with [`Gap`].

use crate::store::{Store, StoreResult};
use yui_protocol::ids::RoomId;
use yui_protocol::model::Message;

/// Page size when filling a gap or streaming catch-up from the store.
pub const FILL_PAGE: u32 = 200;

/// The last seq delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor(u64);

/// What an arriving seq means for a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// At or below the cursor: already delivered, drop it.
    Repeat,
    /// The next seq: deliver it.
    Next,
    /// Past a gap: messages `(after, upto]` are missing; deliver them first.
    Gap { after: u64, upto: u64 },
}

impl Cursor {
    pub fn at(seq: u64) -> Self {
        Cursor(seq)
    }

    pub fn seq(self) -> u64 {
        self.0
    }

    pub fn step(self, seq: u64) -> Step {
        if seq <= self.0 {
            Step::Repeat
        } else if seq == self.0 + 1 {
            Step::Next
        } else {
            Step::Gap {
                after: self.0,
                upto: seq - 1,
            }
        }
    }

    /// Moves forward to `seq` (never back).
    pub fn advance(&mut self, seq: u64) {
        self.0 = self.0.max(seq);
    }
}

/// Messages `(after, upto]` of a room, read from the store a page at a time.
#[derive(Debug)]
pub struct Gap {
    room: RoomId,
    after: u64,
    upto: u64,
}

impl Gap {
    pub fn new(room: &RoomId, after: u64, upto: u64) -> Self {
        Gap {
            room: room.clone(),
            after,
            upto,
        }
    }

    /// The next page, or `None` when the gap is filled (or the store has nothing more).
    pub async fn next_page(&mut self, store: &dyn Store) -> StoreResult<Option<Vec<Message>>> {
        if self.after >= self.upto {
            return Ok(None);
        }
        let want = (self.upto - self.after).min(u64::from(FILL_PAGE)) as u32;
        let page = store.messages_after(&self.room, self.after, want).await?;
        match page.last() {
            Some(last) => {
                self.after = last.seq;
                Ok(Some(page))
            }
            None => {
                // The store ends here: stop, and let `reached` say how far it got.
                self.upto = self.after;
                Ok(None)
            }
        }
    }

    /// The last seq read so far.
    pub fn reached(&self) -> u64 {
        self.after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_next_gap() {
        let mut c = Cursor::at(5);
        assert_eq!(c.step(3), Step::Repeat);
        assert_eq!(c.step(5), Step::Repeat);
        assert_eq!(c.step(6), Step::Next);
        assert_eq!(c.step(9), Step::Gap { after: 5, upto: 8 });
        c.advance(9);
        assert_eq!(c.seq(), 9);
        c.advance(7);
        assert_eq!(c.seq(), 9, "a cursor never moves back");
    }
}
