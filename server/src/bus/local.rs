//! The embedded default's bus: one node, so there is nobody else to tell. Events reach this
//! node's dispatcher directly from the committer and the HTTP handlers.

use super::{Bus, BusError, BusEvent};
use async_trait::async_trait;
use yui_protocol::ids::RoomId;

#[derive(Debug, Default)]
pub struct LocalBus;

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, _event: BusEvent) -> Result<(), BusError> {
        Ok(())
    }

    async fn watch(&self, _room: &RoomId) {}

    async fn unwatch(&self, _room: &RoomId) {}

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
