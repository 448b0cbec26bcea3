//! The HTTP API of PROTOCOL.md section 4. Each handler takes [`Auth`] first, so a request
//! without a valid token is 401 before anything else is looked at.

use super::extract::{Auth, JsonBody};
use crate::bus::BusEvent;
use crate::error::ApiError;
use crate::hub::RoomAccess;
use crate::state::AppState;
use crate::store::{AuditFilter, ProfilePatch, PutMember, PutRoom, RoomInfo, RoomSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use yui_protocol::client::history_limit;
use yui_protocol::ids::{Body, ClientId, Name, RoomId, Title, TownId, UserId};
use yui_protocol::model::{MemberRole, MessageKind, Profession, Resident, RoomKind};
use yui_protocol::ErrorCode;

fn room_id(raw: &str) -> Result<RoomId, ApiError> {
    Ok(RoomId::parse(raw)?)
}

pub async fn unknown(_auth: Auth) -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

#[derive(Deserialize)]
pub struct PutRoomBody {
    kind: String,
    title: String,
    town: String,
    resident: Option<ResidentBody>,
}

#[derive(Deserialize)]
pub struct ResidentBody {
    id: String,
    name: String,
}

async fn room_json(state: &AppState, info: &RoomInfo) -> Result<Value, ApiError> {
    let members = match info.kind {
        RoomKind::Team => state.store.members(&info.room).await?,
        RoomKind::Town => Vec::new(),
    };
    let mut v = json!({
        "room": info.room, "kind": info.kind, "title": info.title, "town": info.town,
        "members": members,
    });
    if let Some(r) = &info.resident {
        v["resident"] = json!(r);
    }
    Ok(v)
}

pub async fn put_room(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<PutRoomBody>,
) -> Result<Response, ApiError> {
    let room = room_id(&room)?;
    let kind = RoomKind::parse(&body.kind)
        .ok_or_else(|| ApiError::bad_request("kind: must be 'team' or 'town'"))?;
    let spec = RoomSpec {
        kind,
        title: Title::parse(body.title)?,
        town: TownId::parse(body.town)?,
        resident: match body.resident {
            None => None,
            Some(r) => Some(Resident::parse(r.id, r.name)?),
        },
    };
    if !who.manages_town(&spec.town) {
        return Err(ApiError::forbidden(
            "only the town's coordinators and admins create rooms",
        ));
    }
    let (status, info) = match state.store.put_room(&room, &spec, &who.user).await? {
        PutRoom::Created(info) => (StatusCode::CREATED, info),
        PutRoom::Updated(info) => (StatusCode::OK, info),
        PutRoom::Conflict(info) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("room exists as a {} room of town {}", info.kind, info.town),
            ))
        }
    };
    state
        .hub
        .emit(BusEvent::RoomChanged { room: room.clone() })
        .await;
    if status == StatusCode::CREATED && kind == RoomKind::Team {
        state
            .hub
            .emit(BusEvent::MemberAdded {
                room: room.clone(),
                user: who.user.id.clone(),
            })
            .await;
    }
    Ok((status, Json(room_json(&state, &info).await?)).into_response())
}

pub async fn get_room(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let room = room_id(&room)?;
    let access = visible(&state, &who, &room).await?;
    let info = state
        .store
        .room(&room)
        .await?
        .unwrap_or_else(|| access.info.clone());
    Ok(Json(room_json(&state, &info).await?))
}

/// Readers and managers see a room; others get `not_found`.
async fn visible(
    state: &AppState,
    who: &yui_protocol::claims::Identity,
    room: &RoomId,
) -> Result<std::sync::Arc<RoomAccess>, ApiError> {
    match state.hub.access(room).await? {
        Some(a) if a.can_read(who) || a.can_manage(who) => Ok(a),
        _ => Err(ApiError::room_not_found()),
    }
}

#[derive(Deserialize, Default)]
pub struct PutMemberBody {
    role: Option<String>,
    name: Option<String>,
    profession: Option<String>,
    org: Option<String>,
}

pub async fn put_member(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<PutMemberBody>,
) -> Result<StatusCode, ApiError> {
    let room = room_id(&room)?;
    let user = UserId::parse(user)?;
    let role = match body.role.as_deref() {
        None => None,
        Some(r) => Some(MemberRole::parse(r).ok_or_else(|| {
            ApiError::bad_request(format!("role: unknown '{r}' (member or owner)"))
        })?),
    };
    let profile = ProfilePatch {
        name: body.name.map(Name::parse).transpose()?,
        profession: match body.profession.as_deref() {
            None => None,
            Some(p) => Some(
                Profession::parse(p)
                    .ok_or_else(|| ApiError::bad_request(format!("profession: unknown '{p}'")))?,
            ),
        },
        org: body.org.map(|o| Name::parse_as("org", o)).transpose()?,
    };
    let access = state.manageable(&who, &room).await?;
    if access.info.kind == RoomKind::Town {
        return Err(ApiError::bad_request(
            "a town room has no explicit members: every user of the town reads it",
        ));
    }
    let actor = crate::service::user_name(&who);
    let outcome = state
        .store
        .put_member(&room, &user, role, &profile, &actor)
        .await?;
    let event = match outcome {
        PutMember::Added => BusEvent::MemberAdded { room, user },
        PutMember::Updated => BusEvent::RoomChanged { room },
    };
    state.hub.emit(event).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_member(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let room = room_id(&room)?;
    let user = UserId::parse(user)?;
    let access = state.manageable(&who, &room).await?;
    if access.info.kind == RoomKind::Town {
        return Err(ApiError::bad_request("a town room has no explicit members"));
    }
    let actor = crate::service::user_name(&who);
    if !state.store.remove_member(&room, &user, &actor).await? {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "not a member of this room",
        ));
    }
    state.hub.emit(BusEvent::MemberRemoved { room, user }).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

fn int_param<T: std::str::FromStr>(name: &str, v: Option<&str>) -> Result<Option<T>, ApiError> {
    v.map(|s| {
        s.parse::<T>()
            .map_err(|_| ApiError::bad_request(format!("{name}: must be a whole number")))
    })
    .transpose()
}

pub async fn get_messages(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let room = room_id(&room)?;
    let before = int_param::<u64>("before", q.before.as_deref())?;
    let limit = history_limit(int_param::<i64>("limit", q.limit.as_deref())?)?;
    let (messages, more) = state.history(&who, &room, before, limit).await?;
    Ok(Json(json!({"messages": messages, "more": more})))
}

#[derive(Deserialize)]
pub struct PostBody {
    client_id: String,
    body: String,
    kind: Option<String>,
}

pub async fn post_message(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
    JsonBody(body): JsonBody<PostBody>,
) -> Result<Response, ApiError> {
    let room = room_id(&room)?;
    let client_id = ClientId::parse(body.client_id)?;
    let text = Body::parse(body.body)?;
    let kind = match body.kind.as_deref() {
        None => None,
        Some(k) => Some(MessageKind::parse(k).ok_or_else(|| {
            ApiError::bad_request(format!("kind: unknown '{k}' (note or notice)"))
        })?),
    };
    let (m, new) = state.post(&who, &room, client_id, text, kind).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"seq": m.seq, "id": m.id, "at": m.at}))).into_response())
}

pub async fn get_receipts(
    Auth(who): Auth,
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let room = room_id(&room)?;
    let (audience, readers) = state.receipts(&who, &room).await?;
    Ok(Json(json!({"audience": audience, "readers": readers})))
}

pub async fn my_rooms(
    Auth(who): Auth,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let rooms = state.store.rooms_for(&who.user.id, &who.town).await?;
    Ok(Json(json!({ "rooms": rooms })))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    room: Option<String>,
    user: Option<String>,
    limit: Option<String>,
}

pub async fn audit(
    Auth(who): Auth,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    use yui_protocol::model::UserRole;
    let town = match who.role {
        UserRole::Admin => None,
        UserRole::Coordinator => Some(who.town.clone()),
        UserRole::Member => {
            return Err(ApiError::forbidden(
                "only coordinators and admins read the access log",
            ))
        }
    };
    let room = q.room.as_deref().map(room_id).transpose()?;
    let user = q.user.map(UserId::parse).transpose()?;
    let limit = match int_param::<i64>("limit", q.limit.as_deref())? {
        None => 100,
        Some(n) if n < 1 => return Err(ApiError::bad_request("limit: must be at least 1")),
        Some(n) => n.min(1000) as u32,
    };
    let entries = state
        .store
        .audit_query(&AuditFilter {
            room,
            user,
            town,
            limit,
        })
        .await?;
    Ok(Json(json!({ "entries": entries })))
}
