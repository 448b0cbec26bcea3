//! Attachments on a full disk (embedded store): a blob that cannot be written is an error,
//! never a 201, and leaves nothing half-written under its name.

use std::time::Duration;
use yui_tests::fs::{can_mount, Tmpfs};
use yui_tests::*;

async fn upload(app: &TestApp, user: &User, bytes: Vec<u8>) -> (u16, String) {
    let resp = app
        .http
        .post(app.url("/api/rooms/res-a/attachments?name=noise.png"))
        .bearer_auth(app.token(user))
        .header("content-type", "image/png")
        .body(bytes)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn a_full_disk_fails_the_upload_instead_of_answering_201() {
    if !can_mount() {
        return;
    }
    crate::logs();
    let fs = Tmpfs::mount(24 << 20);
    let app = spawn_on(
        Backend::Embedded,
        Options {
            tune: None,
            data_dir: Some(fs.path().to_path_buf()),
        },
    )
    .await;
    let (coord, nurse) = (User::coordinator("coord"), User::member("nurse"));
    app.team_room(&coord, "res-a", &[&nurse]).await;
    let small = images::png(40, 40, 1);
    let (s, b) = upload(&app, &nurse, small).await;
    assert_eq!(s, 201, "{b}");

    let noise = images::noise_png(700, 700);
    let filler = fs.fill();
    let before = files_under(&fs.path().join("attachments"));
    let (s, b) = upload(&app, &nurse, noise.clone()).await;
    assert_eq!(s, 503, "an upload onto a full disk answered {s}: {b}");
    assert!(b.contains("unavailable"), "{b}");
    // Nothing new under the blob names, and no temporary file left.
    let after = files_under(&fs.path().join("attachments"));
    assert_eq!(before, after, "a failed upload left files");

    // Space again: the same upload succeeds and its bytes are whole.
    std::fs::remove_file(filler).unwrap_or_else(|e| panic!("free: {e}"));
    let mut ok = None;
    for _ in 0..50 {
        let (s, b) = upload(&app, &nurse, noise.clone()).await;
        if s == 201 {
            ok = Some(b);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a: serde_json::Value =
        serde_json::from_str(&ok.unwrap_or_else(|| panic!("never uploaded once space was freed")))
            .unwrap_or_else(|e| panic!("{e}"));
    let id = a["id"].as_str().unwrap_or_default();
    let got = app
        .http
        .get(app.url(&format!("/api/attachments/{id}")))
        .bearer_auth(app.token(&nurse))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.status().as_u16(), 200);
    let bytes = got.bytes().await.unwrap_or_default();
    assert_eq!(
        yui_server::attachments::media::sha256_hex(&bytes),
        a["sha256"].as_str().unwrap_or("")
    );
}
