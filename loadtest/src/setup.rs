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
        email: None,
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

/// The hub rate-limits its HTTP API per user (PROTOCOL.md 5.1), so set-up spreads its requests
/// over this many admin identities, and waits out a `429` (its `Retry-After`) when it gets one.
const ADMINS: usize = 32;

/// How often one set-up request is retried after a `429` before the run gives up.
const RETRIES: usize = 60;

/// `PUT {base}{path}` with `body` as the `n`-th set-up request (its admin is `n % ADMINS`).
async fn put(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    n: usize,
    path: &str,
    body: &serde_json::Value,
) -> Result<()> {
    let admin = token(secret, &format!("lt-admin-{}", n % ADMINS), Some("admin"));
    let url = format!("{base}{path}");
    for _ in 0..RETRIES {
        let r = http.put(&url).bearer_auth(&admin).json(body).send().await?;
        if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait.clamp(1, 10))).await;
            continue;
        }
        if !r.status().is_success() {
            bail!(
                "PUT {url}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        return Ok(());
    }
    bail!("PUT {url}: still rate limited after {RETRIES} tries")
}

/// Creates `n` town rooms of the bench town (every bench user reads them).
pub async fn town_rooms(base: &str, secret: &str, n: usize) -> Result<()> {
    let http = reqwest::Client::new();
    for k in 0..n {
        let body =
            serde_json::json!({"kind":"town","title":format!("bench notices {k}"),"town":TOWN});
        put(
            &http,
            base,
            secret,
            k,
            &format!("/api/rooms/{}", town_room(k)),
            &body,
        )
        .await?;
    }
    Ok(())
}

/// Creates `rooms` team rooms with `members` members each (user r*members+m), and the town
/// room. Skipped for the floor, which has no rooms to create.
pub async fn rooms(base: &str, secret: &str, rooms: usize, members: usize) -> Result<()> {
    let http = reqwest::Client::new();
    let town = serde_json::json!({"kind":"town","title":"bench notices","town":TOWN});
    put(
        &http,
        base,
        secret,
        0,
        &format!("/api/rooms/{TOWN_ROOM}"),
        &town,
    )
    .await?;
    let team: Vec<(String, serde_json::Value)> = (0..rooms)
        .map(|r| {
            (
                format!("/api/rooms/{}", team_room(r)),
                serde_json::json!({"kind":"team","title":format!("bench {r}"),"town":TOWN}),
            )
        })
        .collect();
    let memberships: Vec<(String, serde_json::Value)> = (0..rooms)
        .flat_map(|r| {
            (0..members).map(move |m| {
                (
                    format!(
                        "/api/rooms/{}/members/{}",
                        team_room(r),
                        user(r * members + m)
                    ),
                    serde_json::json!({}),
                )
            })
        })
        .collect();
    // Rooms first, then their members; each batch in parallel.
    for (batch, parallel) in [(team, 16), (memberships, 32)] {
        let results = futures::stream::iter(batch.iter().enumerate())
            .map(|(n, (path, body))| put(&http, base, secret, n, path, body))
            .buffer_unordered(parallel)
            .collect::<Vec<_>>()
            .await;
        for res in results {
            res?;
        }
    }
    Ok(())
}
