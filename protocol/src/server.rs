//! Replies and events the hub sends (PROTOCOL.md 3.1-3.3). They deserialize too, for clients.

use crate::error::ErrorCode;
use crate::ids::{Name, Ref, RoomId, TownId, UserId};
use crate::model::{
    Confirmation, Member, Message, Profession, Reader, RoomSummary, Timestamp, UserName, UserRef,
    UserRole,
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
        /// With the request's `seq`: the audience's users whose read position is below it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pending: Option<Vec<UserRef>>,
    },
    /// Reply to `confirms`: who confirmed message `seq`, in the order they did.
    Confirms {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        r#ref: Option<Ref>,
        room: RoomId,
        seq: u64,
        users: Vec<Confirmation>,
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
    /// A user confirmed message `seq` (once per user and message).
    Confirmed {
        room: RoomId,
        seq: u64,
        user: UserName,
        at: Timestamp,
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
            ServerFrame::Confirms { .. } => "confirms",
            ServerFrame::Confirmed { .. } => "confirmed",
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
            priority: Default::default(),
            mentions: Vec::new(),
            attachments: Vec::new(),
            replaces: None,
            retracts: None,
            confirms: None,
            revised: None,
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
    fn a_v1_message_deserializes_with_defaults_and_a_v11_one_keeps_its_fields() {
        let v1 = r#"{"type":"message","room":"r","seq":1,"id":"m","client_id":"c","author":{"id":"u","name":"n","profession":"nurse","org":"o"},"kind":"note","body":"b","at":"2026-11-24T09:30:00.123Z"}"#;
        let Ok(ServerFrame::Message(m)) = serde_json::from_str::<ServerFrame>(v1) else {
            panic!("v1 message refused")
        };
        assert_eq!(m.priority, crate::model::Priority::Normal);
        assert!(m.mentions.is_empty() && m.attachments.is_empty());
        assert_eq!(
            (m.replaces, m.retracts, m.confirms, m.revised),
            (None, None, None, None)
        );
        let text = ServerFrame::Message(m).to_json();
        assert!(
            text.contains(r#""priority":"normal","mentions":[],"attachments":[]"#),
            "{text}"
        );
        assert!(
            !text.contains("replaces") && !text.contains("confirms"),
            "{text}"
        );
    }

    #[test]
    fn confirmed_and_pending_frames() {
        let user = UserName {
            id: UserId::parse("u").unwrap_or_else(|_| unreachable!()),
            name: Name::parse("n").unwrap_or_else(|_| unreachable!()),
        };
        let f = ServerFrame::Confirmed {
            room: RoomId::parse("r").unwrap_or_else(|_| unreachable!()),
            seq: 4,
            user,
            at: Timestamp::from_millis(0),
        }
        .to_json();
        assert_eq!(
            f,
            r#"{"type":"confirmed","room":"r","seq":4,"user":{"id":"u","name":"n"},"at":"1970-01-01T00:00:00.000Z"}"#
        );
        let r = ServerFrame::Receipts {
            r#ref: None,
            room: RoomId::parse("r").unwrap_or_else(|_| unreachable!()),
            audience: 0,
            readers: Vec::new(),
            pending: None,
        }
        .to_json();
        assert!(!r.contains("pending"), "{r}");
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
