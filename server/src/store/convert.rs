//! Turning stored values back into validated protocol types. A stored value that no longer
//! validates is [`StoreError::Corrupt`], never a panic.

use super::StoreError;
use yui_protocol::error::Invalid;
use yui_protocol::ids::{AttachmentId, ClientId, FileName, Name, RoomId, Title, TownId, UserId};
use yui_protocol::model::{
    Attachment, AttachmentType, Member, MemberRole, MessageKind, Priority, Profession, RoomKind,
    Timestamp, UserName, UserRef,
};

fn corrupt(what: &str) -> impl FnOnce(Invalid) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {}", e.message))
}

pub fn room_id(s: String) -> Result<RoomId, StoreError> {
    RoomId::parse(s).map_err(corrupt("room id"))
}

pub fn user_id(s: String) -> Result<UserId, StoreError> {
    UserId::parse(s).map_err(corrupt("user id"))
}

pub fn town(s: String) -> Result<TownId, StoreError> {
    TownId::parse(s).map_err(corrupt("town"))
}

pub fn name(s: String) -> Result<Name, StoreError> {
    Name::parse(s).map_err(corrupt("name"))
}

pub fn title(s: String) -> Result<Title, StoreError> {
    Title::parse(s).map_err(corrupt("title"))
}

pub fn client_id(s: String) -> Result<ClientId, StoreError> {
    ClientId::parse(s).map_err(corrupt("client id"))
}

pub fn profession(s: &str) -> Result<Profession, StoreError> {
    Profession::parse(s).ok_or_else(|| StoreError::Corrupt(format!("profession '{s}'")))
}

pub fn room_kind(s: &str) -> Result<RoomKind, StoreError> {
    RoomKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("room kind '{s}'")))
}

pub fn message_kind(s: &str) -> Result<MessageKind, StoreError> {
    MessageKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("message kind '{s}'")))
}

pub fn member_role(s: &str) -> Result<MemberRole, StoreError> {
    MemberRole::parse(s).ok_or_else(|| StoreError::Corrupt(format!("member role '{s}'")))
}

pub fn seq(n: i64) -> u64 {
    n.max(0) as u64
}

/// Seqs are stored as signed 64-bit integers; anything past `i64::MAX` is clamped.
pub fn db_seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn time(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

pub fn user_ref(id: String, n: String, p: &str, org: String) -> Result<UserRef, StoreError> {
    Ok(UserRef {
        id: user_id(id)?,
        name: name(n)?,
        profession: profession(p)?,
        org: self::name(org)?,
    })
}

/// Placeholder profile for a member added without one: the id as name.
pub fn placeholder_name(user: &UserId) -> String {
    user.as_str().chars().take(100).collect()
}

pub fn priority(s: &str) -> Result<Priority, StoreError> {
    Priority::parse(s).ok_or_else(|| StoreError::Corrupt(format!("priority '{s}'")))
}

/// A message's mentions as stored: a JSON array of `{"id","name"}`, validated like the wire's.
pub fn mentions(s: &str) -> Result<Vec<UserName>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("mentions: {e}")))
}

pub fn mentions_json(mentions: &[UserName]) -> String {
    // Serializing ids and names cannot fail.
    serde_json::to_string(mentions).unwrap_or_else(|_| "[]".to_owned())
}

/// An attachment from its stored columns.
#[allow(clippy::too_many_arguments)]
pub fn attachment(
    id: String,
    name: String,
    kind: &str,
    size: i64,
    sha256: String,
    width: Option<u32>,
    height: Option<u32>,
) -> Result<Attachment, StoreError> {
    Ok(Attachment {
        id: AttachmentId::parse(id)
            .map_err(|e| StoreError::Corrupt(format!("attachment id: {}", e.message)))?,
        name: FileName::parse(name)
            .map_err(|e| StoreError::Corrupt(format!("file name: {}", e.message)))?,
        content_type: AttachmentType::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("attachment type '{kind}'")))?,
        size: seq(size),
        sha256,
        width,
        height,
    })
}

/// A subscription's start as both stores read it: (kind, last_seq, read_seq).
/// A subscription's start from its row's room columns and the members read with them (the
/// members of a town room, which has none, are not listed).
pub fn subscription_start(
    kind: &str,
    last_seq: i64,
    read_seq: i64,
    members: Vec<Member>,
) -> Result<super::SubscriptionStart, StoreError> {
    let kind = room_kind(kind)?;
    Ok(super::SubscriptionStart {
        kind,
        last_seq: seq(last_seq),
        read_seq: seq(read_seq),
        members: (kind == RoomKind::Team).then_some(members),
    })
}
