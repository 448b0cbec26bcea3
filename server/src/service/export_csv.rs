//! The CSV export: UTF-8 with a byte order mark (so spreadsheet programs read Japanese right),
//! CRLF line ends, every field quoted as needed (a body's line breaks stay inside its quotes).
//!
//! A field that a spreadsheet would run as a formula (starting with `=`, `+`, `@`, or `-`
//! followed by something other than white space) gets a leading `'`: a care record opened in a
//! spreadsheet never computes or fetches anything (CSV injection).

use super::export::{attachments_ja, jst_time, kind_ja, priority_ja, profession_ja, Export};

pub const HEADER: [&str; 9] = [
    "日時",
    "記入者",
    "職種",
    "所属",
    "種別",
    "重要度",
    "本文",
    "添付",
    "確認",
];

/// The field, made inert for spreadsheets (see the module's doc).
pub fn inert(field: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = field.chars();
    let risky = match chars.next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => chars.next().is_some_and(|c| !c.is_whitespace()),
        _ => false,
    };
    if risky {
        format!("'{field}").into()
    } else {
        field.into()
    }
}

pub fn render(e: &Export) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::with_capacity(64 + e.messages.len() * 200);
    out.extend_from_slice("\u{FEFF}".as_bytes());
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(HEADER)?;
    for m in &e.messages {
        let confirms = m.confirms.unwrap_or(0).to_string();
        w.write_record([
            jst_time(m.at).as_str(),
            &inert(m.author.name.as_str()),
            profession_ja(m.author.profession),
            &inert(m.author.org.as_str()),
            &kind_ja(m),
            priority_ja(m.priority),
            &inert(&m.body),
            &inert(&attachments_ja(m)),
            &confirms,
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
