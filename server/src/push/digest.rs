//! Email digests (PROTOCOL.md 5.6): a user with an address (the `email` claim), digests on,
//! away for the interval (no presence on any node, not seen within it) and with unread
//! messages gets one email listing rooms and unread counts, never message text; Japanese, with
//! an English line; plain text and HTML (`multipart/alternative`).
//!
//! Each node looks every `check` for users due; claiming a user (in the store, `SKIP LOCKED`
//! on Postgres) is the digest's time, so a user gets at most one digest per interval whichever
//! node claims it. A digest whose SMTP delivery fails is not retried before the next interval;
//! none is sent when the unread total is the one the last digest reported.

use super::now_ms;
use crate::store::push::DigestDue;
use crate::store::Store;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use yui_protocol::model::RoomSummary;

/// Users claimed at once.
const CLAIM: u32 = 32;

#[derive(Debug, Clone)]
pub struct DigestSettings {
    pub smtp_url: String,
    pub from: String,
    pub interval: Duration,
    /// How often to look for users due.
    pub check: Duration,
}

pub struct Digests {
    settings: DigestSettings,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    store: Arc<dyn Store>,
}

impl Digests {
    pub fn new(settings: DigestSettings, store: Arc<dyn Store>) -> anyhow::Result<Digests> {
        use anyhow::Context;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .context("--smtp-url: expected smtp://host[:port] or smtps://…")?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox = settings
            .from
            .parse()
            .context("--smtp-from: expected an address (名前 <addr@example.org> or addr@…)")?;
        Ok(Digests {
            settings,
            transport,
            from,
            store,
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.settings.check);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let interval = i64::try_from(self.settings.interval.as_millis()).unwrap_or(i64::MAX);
            let due = match self
                .store
                .push()
                .claim_digests(now_ms(), interval, CLAIM)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming digests failed; retried");
                    continue;
                }
            };
            for d in due {
                if let Err(e) = self.one(&d).await {
                    metrics::counter!("yui_digests_failed_total").increment(1);
                    tracing::warn!(error = %format!("{e:#}"), "digest not sent; next interval");
                }
            }
        }
    }

    async fn one(&self, d: &DigestDue) -> anyhow::Result<()> {
        let rooms: Vec<RoomSummary> = self
            .store
            .rooms_for(&d.user, &d.town)
            .await?
            .into_iter()
            .filter(|r| r.unread > 0)
            .collect();
        let total: u64 = rooms.iter().map(|r| r.unread).sum();
        if total == 0 || total == d.last_unread {
            if total != d.last_unread {
                self.store.push().digest_reported(&d.user, 0).await?;
            }
            return Ok(());
        }
        let to: Mailbox = d.email.as_str().parse()?;
        let email = compose(self.from.clone(), to, &rooms)?;
        self.transport.send(email).await?;
        metrics::counter!("yui_digests_sent_total").increment(1);
        self.store.push().digest_reported(&d.user, total).await?;
        Ok(())
    }
}

/// The digest: rooms and unread counts only.
pub fn compose(from: Mailbox, to: Mailbox, rooms: &[RoomSummary]) -> anyhow::Result<Message> {
    let total: u64 = rooms.iter().map(|r| r.unread).sum();
    let mut plain = format!(
        "Yui(結)に未読のメッセージが{total}件あります。\n\
         You have {total} unread message(s) in {} room(s) on Yui.\n\n",
        rooms.len()
    );
    let mut items = String::new();
    for r in rooms {
        plain.push_str(&format!("・{}: {}件\n", r.title.as_str(), r.unread));
        items.push_str(&format!(
            "<li>{}: {}件</li>",
            html_escape(r.title.as_str()),
            r.unread
        ));
    }
    plain.push_str("\n内容はYuiを開いて確認してください。このメールは設定でオフにできます。\n");
    let html = format!(
        "<!doctype html><html lang=\"ja\"><body>\
         <p>Yui(結)に未読のメッセージが{total}件あります。</p>\
         <p lang=\"en\">You have {total} unread message(s) in {} room(s) on Yui.</p>\
         <ul>{items}</ul>\
         <p>内容はYuiを開いて確認してください。このメールは設定でオフにできます。</p>\
         </body></html>",
        rooms.len()
    );
    Ok(Message::builder()
        .from(from)
        .to(to)
        .subject(format!("【Yui】未読のお知らせ({total}件) / Unread on Yui"))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(plain),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )?)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
