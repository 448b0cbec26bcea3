//! Users, tokens and rooms for a run, made through the hub's public HTTP API.

use anyhow::{bail, Result};
use futures::StreamExt;
use jsonwebtoken::{EncodingKey, Header};
use yui_protocol::claims::{Audience, Claims};

pub const TOWN: &str = "bench";

pub fn token(secret: &str, sub: &str, role: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.into(),
        name: format!("負荷 {sub}"),
        profession: "nurse".into(),
        org: "Yui loadtest".into(),
        town: TOWN.into(),
        role: role.map(str::to_owned),
        exp: now + 24 * 3600,
        aud: Audience::One("yui".into()),
        iat: Some(now),
        nbf: None,
        iss: None,
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

pub fn user(i: usize) -> String {
    format!("lt-u{i}")
}

pub fn team_room(r: usize) -> String {
    format!("lt-r{r}")
}

pub const TOWN_ROOM: &str = "lt-town";

/// The k-th town notice room (k = 0 is [`TOWN_ROOM`]); `connect` subscribes to several.
pub fn town_room(k: usize) -> String {
    if k == 0 {
        TOWN_ROOM.to_string()
    } else {
        format!("{TOWN_ROOM}-{k}")
    }
}

/// Creates `n` town rooms of the bench town (every bench user reads them).
pub async fn town_rooms(base: &str, secret: &str, n: usize) -> Result<()> {
    let http = reqwest::Client::new();
    let admin = token(secret, "lt-admin", Some("admin"));
    for k in 0..n {
        let url = format!("{base}/api/rooms/{}", town_room(k));
        let r = http
            .put(&url)
            .bearer_auth(&admin)
            .json(&serde_json::json!({"kind":"town","title":format!("bench notices {k}"),"town":TOWN}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "PUT {url}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Creates `rooms` team rooms with `members` members each (user r*members+m), and the town
/// room. Skipped for the floor, which has no rooms to create.
pub async fn rooms(base: &str, secret: &str, rooms: usize, members: usize) -> Result<()> {
    let http = reqwest::Client::new();
    let admin = token(secret, "lt-admin", Some("admin"));
    let put = |path: String, body: serde_json::Value| {
        let http = http.clone();
        let admin = admin.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http.put(&url).bearer_auth(admin).json(&body).send().await?;
            if !r.status().is_success() {
                bail!(
                    "PUT {url}: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    put(
        format!("/api/rooms/{TOWN_ROOM}"),
        serde_json::json!({"kind":"town","title":"bench notices","town":TOWN}),
    )
    .await?;
    let mut jobs = Vec::new();
    for r in 0..rooms {
        jobs.push(put(
            format!("/api/rooms/{}", team_room(r)),
            serde_json::json!({"kind":"team","title":format!("bench {r}"),"town":TOWN}),
        ));
    }
    for res in futures::stream::iter(jobs)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
    {
        res?;
    }
    let mut jobs = Vec::new();
    for r in 0..rooms {
        for m in 0..members {
            jobs.push(put(
                format!(
                    "/api/rooms/{}/members/{}",
                    team_room(r),
                    user(r * members + m)
                ),
                serde_json::json!({}),
            ));
        }
    }
    for res in futures::stream::iter(jobs)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
    {
        res?;
    }
    Ok(())
}
