//! Export of a room's record (PROTOCOL.md 5.5, 支援経過記録): the room's readers take a period
//! of whole days in Japan time as CSV or an A4 PDF. Access-logged (`export`) before anything
//! is read out.
//!
//! The Japanese labels both formats share are here; [`super::export_csv`] and
//! [`super::export_pdf`] lay them out.

use super::{user_name, RoomService};
use crate::error::ApiError;
use crate::store::{AuditRecord, RoomInfo, Write};
use chrono::{FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use yui_protocol::claims::Identity;
use yui_protocol::ids::RoomId;
use yui_protocol::model::{
    AuditAction, Message, MessageKind, Priority, Profession, RoomKind, Timestamp, UserRef,
};
use yui_protocol::search::ExportRequest;
use yui_protocol::ErrorCode;

/// Most messages one export holds; a longer record is exported a shorter period at a time.
pub const EXPORT_MAX_MESSAGES: u32 = 20_000;

/// A room's record over a period, with who exported it and when.
pub struct Export {
    pub room: RoomInfo,
    pub messages: Vec<Message>,
    pub by: UserRef,
    pub at: Timestamp,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Japan Standard Time, UTC+9 (no daylight saving).
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or(Utc.fix())
}

/// Midnight (JST) starting `day`, in milliseconds since the epoch.
fn jst_midnight(day: NaiveDate) -> i64 {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    jst()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// `2026-11-24 18:30` in JST.
pub fn jst_time(at: Timestamp) -> String {
    at.to_datetime()
        .with_timezone(&jst())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// `2026-11-24 18:30:05` in JST (the access log's CSV).
pub fn jst_seconds(at: Timestamp) -> String {
    at.to_datetime()
        .with_timezone(&jst())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The Japanese name of a profession (職種).
pub fn profession_ja(p: Profession) -> &'static str {
    match p {
        Profession::Doctor => "医師",
        Profession::Nurse => "看護師",
        Profession::Pharmacist => "薬剤師",
        Profession::CareManager => "介護支援専門員",
        Profession::CareWorker => "介護職員",
        Profession::Therapist => "リハビリ職",
        Profession::SocialWorker => "社会福祉士",
        Profession::Municipal => "行政",
        Profession::Other => "その他",
    }
}

/// 種別: a note or a notice, and whether it corrects or withdraws an earlier message.
pub fn kind_ja(m: &Message) -> String {
    let kind = match m.kind {
        MessageKind::Note => "記録",
        MessageKind::Notice => "お知らせ",
    };
    match (m.replaces, m.retracts) {
        (Some(seq), _) => format!("{kind}（#{seq} の訂正）"),
        (_, Some(seq)) => format!("{kind}（#{seq} の取り消し）"),
        _ => kind.to_owned(),
    }
}

/// 重要度.
pub fn priority_ja(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "通常",
        Priority::Urgent => "至急",
    }
}

/// 添付: the file names, separated by ` / `.
pub fn attachments_ja(m: &Message) -> String {
    m.attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The period as shown: `2026-11-01 〜 2026-11-30`.
pub fn period_ja(e: &Export) -> String {
    format!(
        "{} 〜 {}",
        e.from.format("%Y-%m-%d"),
        e.to.format("%Y-%m-%d")
    )
}

impl RoomService {
    pub async fn export(
        &self,
        who: &Identity,
        room: &RoomId,
        req: &ExportRequest,
    ) -> Result<Export, ApiError> {
        let access = self.readable(who, room).await?;
        if access.info.kind == RoomKind::Team && !self.is_member_now(who, room).await? {
            return Err(ApiError::room_not_found());
        }
        let record = AuditRecord {
            actor: user_name(who),
            action: AuditAction::Export,
            room: room.clone(),
            target: None,
        };
        self.committer.commit(Write::Audit(record), None).await?;
        let from = Timestamp::from_millis(jst_midnight(req.from));
        let to = Timestamp::from_millis(jst_midnight(req.to + chrono::Days::new(1)));
        let messages = self
            .store
            .messages_between(room, from, to, EXPORT_MAX_MESSAGES + 1)
            .await?;
        if messages.len() > EXPORT_MAX_MESSAGES as usize {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "more than {EXPORT_MAX_MESSAGES} messages in the period: export a shorter one"
                ),
            ));
        }
        // The room as the store has it now (the resident's name may have changed).
        let info = self
            .store
            .room(room)
            .await?
            .unwrap_or_else(|| access.info.clone());
        Ok(Export {
            room: info,
            messages,
            by: who.user.clone(),
            at: Timestamp::now(),
            from: req.from,
            to: req.to,
        })
    }
}
