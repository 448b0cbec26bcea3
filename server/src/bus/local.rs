//! In-process bus: every published event goes straight to this node's dispatcher.

use super::{Bus, BusError, BusEvent, EventSink};
use async_trait::async_trait;
use yui_protocol::ids::RoomId;

pub struct LocalBus {
    sink: EventSink,
}

impl LocalBus {
    pub fn new(sink: EventSink) -> Self {
        LocalBus { sink }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: BusEvent) -> Result<(), BusError> {
        // Waiting for room in the dispatcher's queue is the back-pressure on committers.
        self.sink
            .send(event)
            .await
            .map_err(|_| BusError::Unavailable("hub dispatcher stopped".into()))
    }

    async fn watch(&self, _room: &RoomId) {}

    async fn unwatch(&self, _room: &RoomId) {}

    async fn ping(&self) -> Result<(), BusError> {
        if self.sink.is_closed() {
            Err(BusError::Unavailable("hub dispatcher stopped".into()))
        } else {
            Ok(())
        }
    }
}
