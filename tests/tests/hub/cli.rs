//! The `yui` command line: a missing secret, `yui token`, `yui serve --demo`.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use yui_protocol::server::ServerFrame;
use yui_tests::process::{free_port, yui_binary};
use yui_tests::*;

#[tokio::test]
async fn serve_without_a_secret_refuses_to_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::process::Command::new(yui_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("YUI_JWT_SECRET")
        .env_remove("YUI_DEMO")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("YUI_JWT_SECRET"), "stderr: {err}");
}

#[tokio::test]
async fn yui_token_mints_a_token_the_hub_accepts() {
    let out = tokio::process::Command::new(yui_binary())
        .args([
            "token",
            "--sub",
            "ns-sato",
            "--name",
            "佐藤 花子",
            "--profession",
            "nurse",
            "--org",
            "みさき訪問看護",
            "--town",
            "misaki",
            "--role",
            "coordinator",
            "--ttl",
            "600",
        ])
        .env("YUI_JWT_SECRET", SECRET)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let app = spawn_app().await;
    let mut c = Client::open(&app.ws_url()).await;
    let w = serde_json::to_value(c.hello(&token).await).unwrap_or_default();
    assert_eq!(
        (w["type"].as_str(), w["user"]["role"].as_str()),
        (Some("welcome"), Some("coordinator"))
    );
    // A profession the hub would refuse is refused at minting.
    let out = tokio::process::Command::new(yui_binary())
        .args([
            "token",
            "--sub",
            "x",
            "--name",
            "x",
            "--profession",
            "wizard",
            "--org",
            "o",
            "--town",
            "misaki",
        ])
        .env("YUI_JWT_SECRET", SECRET)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
}

#[tokio::test]
async fn demo_mode_seeds_the_town_and_lists_users_with_tokens() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut child = tokio::process::Command::new(yui_binary())
        .args([
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("YUI_JWT_SECRET")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !printed.contains("#token=") {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => {
                printed.push_str(&l);
                printed.push('\n');
            }
            other => panic!("demo hub printed no token: {other:?}\n{printed}"),
        }
    }
    assert!(
        printed.contains(&format!("http://127.0.0.1:{port}")),
        "{printed}"
    );
    let users: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/api/demo/users"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list = users["users"].as_array().cloned().unwrap_or_default();
    assert!(list.len() >= 12, "{users}");
    let professions: std::collections::HashSet<&str> = list
        .iter()
        .filter_map(|u| u["profession"].as_str())
        .collect();
    assert!(professions.len() >= 7, "{professions:?}");
    assert!(list.iter().any(|u| u["role"] == "coordinator"));
    let nurse = list
        .iter()
        .find(|u| u["id"] == "ns-sato")
        .cloned()
        .unwrap_or_default();
    let mut c = Client::open(&format!("ws://127.0.0.1:{port}/ws")).await;
    let w = c.hello(nurse["token"].as_str().unwrap_or_default()).await;
    let ServerFrame::Welcome { rooms, .. } = w else {
        panic!("{w:?}")
    };
    assert!(rooms.iter().any(|r| r.room.as_str() == "misaki-notices"));
    assert!(
        rooms
            .iter()
            .filter(|r| r.kind == yui_protocol::model::RoomKind::Team)
            .count()
            >= 3
    );
    assert!(
        rooms.iter().all(|r| r.last_seq > 0),
        "seeded history: {rooms:?}"
    );
    let _ = child.kill().await;
}
