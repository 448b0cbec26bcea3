//! Rooms: create or update (`PUT /api/rooms/{room}`), show, and a user's rooms.

use super::RoomService;
use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::store::{PutRoom, RoomInfo, RoomSpec};
use yui_protocol::claims::Identity;
use yui_protocol::http::{PutRoomRequest, RoomReply};
use yui_protocol::ids::RoomId;
use yui_protocol::model::{RoomKind, RoomSummary};
use yui_protocol::ErrorCode;

impl RoomService {
    /// Creates or updates a room; true when it was created. Coordinators of its town and
    /// admins only; the creator of a team room is its first owner.
    pub async fn put_room(
        &self,
        who: &Identity,
        room: &RoomId,
        req: PutRoomRequest,
    ) -> Result<(bool, RoomReply), ApiError> {
        if !who.manages_town(&req.town) {
            return Err(ApiError::forbidden(
                "only the town's coordinators and admins create rooms",
            ));
        }
        let kind = req.kind;
        let spec = RoomSpec {
            kind: req.kind,
            title: req.title,
            town: req.town,
            resident: req.resident,
        };
        let (created, info) = match self.store.put_room(room, &spec, &who.user).await? {
            PutRoom::Created(info) => (true, info),
            PutRoom::Updated(info) => (false, info),
            // Neither the kind nor the town: the room may be another town's (PROTOCOL.md 5.1).
            PutRoom::Conflict(_) => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "a room with this id exists; choose another id",
                ))
            }
        };
        let changed = if created {
            BusEvent::RoomChanged { room: room.clone() }
        } else {
            BusEvent::RoomUpdated { room: room.clone() }
        };
        self.hub.emit(changed).await;
        if created && kind == RoomKind::Team {
            self.hub
                .emit(BusEvent::MemberAdded {
                    room: room.clone(),
                    user: who.user.id.clone(),
                })
                .await;
        }
        Ok((created, self.room_reply(&info).await?))
    }

    /// The room with its members, for its readers and managers.
    pub async fn room(&self, who: &Identity, room: &RoomId) -> Result<RoomReply, ApiError> {
        let access = self.visible(who, room).await?;
        let info = self
            .store
            .room(room)
            .await?
            .unwrap_or_else(|| access.info.clone());
        self.room_reply(&info).await
    }

    /// Every room `who` reads, with unread counts.
    pub async fn rooms_of(&self, who: &Identity) -> Result<Vec<RoomSummary>, ApiError> {
        Ok(self.store.rooms_for(&who.user.id, &who.town).await?)
    }

    async fn room_reply(&self, info: &RoomInfo) -> Result<RoomReply, ApiError> {
        let mut members = match info.kind {
            RoomKind::Team => self.store.members(&info.room).await?,
            RoomKind::Town => Vec::new(),
        };
        super::sort_members(&mut members);
        let resident = match &info.resident {
            Some(_) => self.store.resident(&info.room).await?,
            None => None,
        };
        Ok(RoomReply {
            room: info.room.clone(),
            kind: info.kind,
            title: info.title.clone(),
            town: info.town.clone(),
            members,
            resident,
        })
    }
}
