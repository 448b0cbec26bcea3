//! Replies and events the hub sends (PROTOCOL.md 3.1-3.3). They deserialize too, for clients.

use crate::error::ErrorCode;
use crate::ids::{Name, Ref, RoomId, TownId, UserId};
use crate::model::{
    Member, Message, Profession, Reader, RoomSummary, Timestamp, UserName, UserRole,
};
use serde::{Deserialize, Serialize};

/// The user as `welcome` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeUser {
    pub id: UserId,
    pub name: Name,
    pub profession: Profession,
    pub org: Name,
    pub town: TownId,
    pub role: UserRole,
}

/// Every frame the hub sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        user: WelcomeUser,
        node: String,
        heartbeat: u64,
        rooms: Vec<RoomSummary>,
    },
    Pong {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
    },
    Subscribed {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        room: RoomId,
        last_seq: u64,
        read_seq: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        members: Option<Vec<Member>>,
    },
    Unsubscribed {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Reply to `post` (room, seq, id, at), `read` (room, seq) and `refresh` (none).
    Ack {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
    },
    History {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        room: RoomId,
        messages: Vec<Message>,
        more: bool,
    },
    Receipts {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        room: RoomId,
        audience: u64,
        readers: Vec<Reader>,
    },
    Error {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        code: ErrorCode,
        message: String,
    },
    Message(Message),
    Receipt {
        room: RoomId,
        user: UserName,
        seq: u64,
        at: Timestamp,
    },
    RoomAdded {
        room: RoomSummary,
    },
    /// A team room's title or resident changed: the room as the member now lists it.
    RoomUpdated {
        room: RoomSummary,
    },
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn error(r#ref: Option<Ref>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            r#ref,
            code,
            message: message.into(),
        }
    }

    /// The frame's `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerFrame::Welcome { .. } => "welcome",
            ServerFrame::Pong { .. } => "pong",
            ServerFrame::Subscribed { .. } => "subscribed",
            ServerFrame::Unsubscribed { .. } => "unsubscribed",
            ServerFrame::Ack { .. } => "ack",
            ServerFrame::History { .. } => "history",
            ServerFrame::Receipts { .. } => "receipts",
            ServerFrame::Error { .. } => "error",
            ServerFrame::Message(_) => "message",
            ServerFrame::Receipt { .. } => "receipt",
            ServerFrame::RoomAdded { .. } => "room_added",
            ServerFrame::RoomUpdated { .. } => "room_updated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;
    use crate::model::{MessageKind, UserRef};

    #[test]
    fn message_event_is_flat() {
        let m = Message {
            room: RoomId::parse("r").unwrap_or_else(|_| unreachable!()),
            seq: 3,
            id: "m1".into(),
            client_id: ClientId::parse("c").unwrap_or_else(|_| unreachable!()),
            author: UserRef {
                id: UserId::parse("u").unwrap_or_else(|_| unreachable!()),
                name: Name::parse("n").unwrap_or_else(|_| unreachable!()),
                profession: Profession::Doctor,
                org: Name::parse("o").unwrap_or_else(|_| unreachable!()),
            },
            kind: MessageKind::Note,
            body: "b".into(),
            at: Timestamp::from_millis(0),
        };
        let text = ServerFrame::Message(m.clone()).to_json();
        assert!(
            text.starts_with(r#"{"type":"message","room":"r","seq":3"#),
            "{text}"
        );
        let back: Result<ServerFrame, _> = serde_json::from_str(&text);
        assert_eq!(back.ok(), Some(ServerFrame::Message(m)));
    }

    #[test]
    fn error_has_ref_only_when_given() {
        let e = ServerFrame::error(None, ErrorCode::NotFound, "no such room").to_json();
        assert_eq!(
            e,
            r#"{"type":"error","code":"not_found","message":"no such room"}"#
        );
    }
}
