//! One data directory, one hub: of two hubs started on it at the same instant, exactly one
//! serves and the other exits non-zero saying why.

use std::process::Stdio;
use std::time::Duration;
use yui_tests::process::{free_port, yui_binary};

fn hub(dir: &std::path::Path, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(yui_binary())
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir)
        .env("YUI_JWT_SECRET", yui_tests::SECRET)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn yui: {e}"))
}

async fn ready(port: u16) -> bool {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn two_hubs_started_at_once_on_one_data_dir_exactly_one_serves() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ports = [free_port(), free_port()];
        let mut hubs = [hub(dir.path(), ports[0]), hub(dir.path(), ports[1])];
        // The loser exits; the winner keeps running.
        let mut exited = Vec::new();
        for _ in 0..200 {
            for (i, h) in hubs.iter_mut().enumerate() {
                if !exited.iter().any(|(j, _)| *j == i) {
                    if let Ok(Some(status)) = h.try_wait() {
                        exited.push((i, status));
                    }
                }
            }
            if !exited.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            exited.len(),
            1,
            "round {round}: exactly one hub exits: {exited:?}"
        );
        let (loser, status) = exited[0];
        assert!(
            !status.success(),
            "round {round}: the second hub exits non-zero: {status}"
        );
        let mut stderr = String::new();
        if let Some(mut e) = hubs[loser].stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = e.read_to_string(&mut stderr).await;
        }
        assert!(
            stderr.contains("another hub is using this data directory"),
            "round {round}: the loser says why: {stderr}"
        );
        let winner = 1 - loser;
        assert!(
            ready(ports[winner]).await,
            "round {round}: the other hub serves"
        );
        assert!(
            hubs[winner].try_wait().ok().flatten().is_none(),
            "round {round}: the winner is still running"
        );
        for h in hubs.iter_mut() {
            let _ = h.start_kill();
            let _ = h.wait().await;
        }
    }
}
