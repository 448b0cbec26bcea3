//! Members of team rooms: add or update (with a profile shown until the user's first token),
//! remove. Owners, the town's coordinators and admins only.

use super::{user_name, RoomService};
use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::store::{ProfilePatch, PutMember};
use yui_protocol::claims::Identity;
use yui_protocol::http::PutMemberRequest;
use yui_protocol::ids::{RoomId, UserId};
use yui_protocol::model::RoomKind;
use yui_protocol::ErrorCode;

impl RoomService {
    pub async fn put_member(
        &self,
        who: &Identity,
        room: RoomId,
        user: UserId,
        req: PutMemberRequest,
    ) -> Result<(), ApiError> {
        let access = self.manageable(who, &room).await?;
        if access.info.kind == RoomKind::Town {
            return Err(ApiError::bad_request(
                "a town room has no explicit members: every user of the town reads it",
            ));
        }
        let profile = ProfilePatch {
            name: req.name,
            profession: req.profession,
            org: req.org,
        };
        let outcome = self
            .store
            .put_member(&room, &user, req.role, &profile, &user_name(who))
            .await?;
        let event = match outcome {
            PutMember::Added => BusEvent::MemberAdded { room, user },
            PutMember::Updated => BusEvent::RoomChanged { room },
        };
        self.hub.emit(event).await;
        Ok(())
    }

    pub async fn remove_member(
        &self,
        who: &Identity,
        room: RoomId,
        user: UserId,
    ) -> Result<(), ApiError> {
        let access = self.manageable(who, &room).await?;
        if access.info.kind == RoomKind::Town {
            return Err(ApiError::bad_request("a town room has no explicit members"));
        }
        if !self
            .store
            .remove_member(&room, &user, &user_name(who))
            .await?
        {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "not a member of this room",
            ));
        }
        self.hub.emit(BusEvent::MemberRemoved { room, user }).await;
        Ok(())
    }
}
