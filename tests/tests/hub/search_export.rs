//! Search and export (PROTOCOL.md 5.5): two-character Japanese words found, query bounds,
//! only rooms the user reads now, paging, the access log; the CSV export parsed (BOM, columns,
//! quoting), the PDF export's text extracted with `pdftotext`, permissions and bad periods.

use serde_json::{json, Value};
use std::collections::HashSet;
use yui_tests::*;

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn post(app: &TestApp, user: &User, room: &str, client_id: &str, body: &str) -> Value {
    let (s, b) = app
        .call(
            user,
            "POST",
            &format!("/api/rooms/{room}/messages"),
            Some(json!({"client_id": client_id, "body": body})),
        )
        .await;
    assert_eq!(s, 201, "post {client_id}: {b}");
    b
}

fn encode(q: &str) -> String {
    let mut out = String::new();
    for b in q.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(*b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn search(app: &TestApp, user: &User, query: &str) -> (u16, Value) {
    app.call(user, "GET", &format!("/api/search?{query}"), None)
        .await
}

async fn search_q(app: &TestApp, user: &User, q: &str) -> Vec<Value> {
    let (s, b) = search(app, user, &format!("q={}", encode(q))).await;
    assert_eq!(s, 200, "search {q}: {b}");
    b["results"].as_array().cloned().unwrap_or_default()
}

fn bodies(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["message"]["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The highlighted parts of a result's snippet (offsets in characters).
fn highlighted(result: &Value) -> Vec<String> {
    let chars: Vec<char> = result["snippet"].as_str().unwrap_or("").chars().collect();
    result["highlights"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            let s = h[0].as_u64().unwrap_or(0) as usize;
            let e = h[1].as_u64().unwrap_or(0) as usize;
            chars[s.min(chars.len())..e.min(chars.len())]
                .iter()
                .collect()
        })
        .collect()
}

fn today_jst() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(9))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn two_character_words_are_found_newest_first_with_highlights() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    post(
        &app,
        &nurse,
        "tanaka",
        "c1",
        "夜間に発熱あり（37.8度）。朝には解熱。",
    )
    .await;
    post(&app, &nurse, "tanaka", "c2", "居間で転倒、右膝に擦過傷。").await;
    post(&app, &nurse, "tanaka", "c3", "服薬確認済み。").await;
    post(
        &app,
        &nurse,
        "tanaka",
        "c4",
        "発熱なし、食欲良好。\n服薬管理を継続。",
    )
    .await;

    let r = search_q(&app, &nurse, "発熱").await;
    assert_eq!(
        bodies(&r),
        vec![
            "発熱なし、食欲良好。\n服薬管理を継続。",
            "夜間に発熱あり（37.8度）。朝には解熱。"
        ]
    );
    for result in &r {
        assert_eq!(highlighted(result), vec!["発熱"], "{result}");
        assert!(!result["snippet"].as_str().unwrap_or("").contains('<'));
    }
    assert_eq!(r[0]["message"]["room"], "tanaka");
    assert_eq!(r[0]["message"]["seq"], 4);
    assert_eq!(
        bodies(&search_q(&app, &nurse, "転倒").await),
        vec!["居間で転倒、右膝に擦過傷。"]
    );
    assert_eq!(search_q(&app, &nurse, "服薬").await.len(), 2);
    // Five characters, full-width digits, several words (all must be found).
    assert_eq!(search_q(&app, &nurse, "服薬管理を").await.len(), 1);
    assert_eq!(search_q(&app, &nurse, "３７．８").await.len(), 1);
    let both = search_q(&app, &nurse, "発熱 食欲").await;
    assert_eq!(both.len(), 1);
    assert_eq!(highlighted(&both[0]), vec!["発熱", "食欲"]);
    // Every bigram of a word present, the word itself not: no result.
    assert!(search_q(&app, &nurse, "転倒擦過").await.is_empty());
    assert!(search_q(&app, &nurse, "嘔吐").await.is_empty());
}

#[tokio::test]
async fn query_bounds_are_checked() {
    let app = spawn_app().await;
    let nurse = User::member("nurse");
    for query in [
        String::new(),
        "q=".into(),
        "q=%E7%86%B1".into(), // 熱
        format!("q={}", encode(&"あ".repeat(101))),
        format!("q={}", encode("発熱 夜")),
        format!("q={}", encode("発\u{202E}熱")),
        "q=%E7%99%BA%00".into(),
        format!("q={}&limit=0", encode("発熱")),
        format!("q={}&limit=ten", encode("発熱")),
        format!("q={}&before={}", encode("発熱"), encode("not an id")),
        format!("q={}&room=BAD%20ROOM", encode("発熱")),
    ] {
        let (s, b) = search(&app, &nurse, &query).await;
        assert_eq!((s, code(&b)), (400, "bad_request"), "{query}: {b}");
    }
    let (s, b) = search(&app, &nurse, &format!("q={}", encode(&"あ".repeat(100)))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"], json!([]));
    assert_eq!(b["more"], false);
    let (s, _) = app
        .call_token(None, "GET", "/api/search?q=%E7%99%BA%E7%86%B1", None)
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn only_rooms_the_user_reads_now() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let other = User::member("other");
    let far = User::member("far").in_town("yamabe");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    app.team_room(&coord, "suzuki", &[&other]).await;
    app.town_room(&coord, "misaki-notice").await;
    post(&app, &nurse, "tanaka", "c1", "田中さん発熱").await;
    post(&app, &other, "suzuki", "c1", "鈴木さん発熱").await;
    post(
        &app,
        &coord,
        "misaki-notice",
        "c1",
        "発熱外来の受付時間変更",
    )
    .await;

    let mut mine = bodies(&search_q(&app, &nurse, "発熱").await);
    mine.sort();
    assert_eq!(mine, vec!["田中さん発熱", "発熱外来の受付時間変更"]);
    assert_eq!(search_q(&app, &far, "発熱").await.len(), 0);
    // A coordinator of the town who is not a member does not read the team rooms.
    let coord2 = User::coordinator("coord2");
    assert_eq!(
        bodies(&search_q(&app, &coord2, "発熱").await),
        vec!["発熱外来の受付時間変更"]
    );
    // One room.
    let (s, b) = search(&app, &nurse, &format!("q={}&room=tanaka", encode("発熱"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["results"].as_array().map(Vec::len), Some(1));
    for room in ["suzuki", "nowhere"] {
        let (s, b) = search(&app, &nurse, &format!("q={}&room={room}", encode("発熱"))).await;
        assert_eq!((s, code(&b)), (404, "not_found"), "{room}: {b}");
    }

    // Removed: the room's notes are no longer found, at once.
    let (s, _) = app
        .call(&coord, "DELETE", "/api/rooms/tanaka/members/nurse", None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        bodies(&search_q(&app, &nurse, "発熱").await),
        vec!["発熱外来の受付時間変更"]
    );
    let (s, _) = search(&app, &nurse, &format!("q={}&room=tanaka", encode("発熱"))).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn paging_by_before_and_the_access_log() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    app.team_room(&coord, "sato", &[&nurse]).await;
    app.team_room(&coord, "quiet", &[&nurse]).await;
    for i in 0..25 {
        let room = if i % 2 == 0 { "tanaka" } else { "sato" };
        post(
            &app,
            &nurse,
            room,
            &format!("c{i}"),
            &format!("記録{i}: 転倒なし"),
        )
        .await;
    }
    post(&app, &nurse, "quiet", "q1", "特記事項なし").await;
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = format!("q={}&limit=10", encode("転倒"));
        if let Some(b) = &before {
            query.push_str(&format!("&before={b}"));
        }
        let (s, b) = search(&app, &nurse, &query).await;
        assert_eq!(s, 200, "{b}");
        let results = b["results"].as_array().cloned().unwrap_or_default();
        pages += 1;
        seen.extend(bodies(&results));
        before = results
            .last()
            .and_then(|r| r["message"]["id"].as_str())
            .map(String::from);
        if b["more"] != true {
            assert_eq!(results.len(), 5);
            break;
        }
        assert_eq!(results.len(), 10);
        assert!(pages < 5, "paging does not end");
    }
    assert_eq!(pages, 3);
    // Newest first, each once.
    let expected: Vec<String> = (0..25)
        .rev()
        .map(|i| format!("記録{i}: 転倒なし"))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);

    // Each room that contributed results, once per search; never the query text; not the
    // room that had none.
    let (s, b) = app
        .call(&coord, "GET", "/api/audit?user=nurse&limit=1000", None)
        .await;
    assert_eq!(s, 200, "{b}");
    let entries = b["entries"].as_array().cloned().unwrap_or_default();
    let searched: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "search")
        .filter_map(|e| e["room"].as_str())
        .collect();
    assert_eq!(searched.iter().filter(|r| **r == "tanaka").count(), 3);
    assert_eq!(searched.iter().filter(|r| **r == "sato").count(), 3);
    assert!(!searched.contains(&"quiet"));
    assert!(!b.to_string().contains("転倒"), "{b}");
}

#[tokio::test]
async fn csv_export_has_bom_columns_and_quoting() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let doctor = User {
        profession: "doctor".into(),
        org: "みさき診療所".into(),
        ..User::member("doctor")
    };
    app.team_room(&coord, "tanaka", &[&nurse, &doctor]).await;
    let tricky = "発熱 38.2度、\"要観察\"\n夜間に再検温";
    post(&app, &nurse, "tanaka", "c1", tricky).await;
    post(&app, &doctor, "tanaka", "c2", "=1+1 は計算しない").await;
    let today = today_jst();
    let path = format!("/api/rooms/tanaka/export?from={today}&to={today}&format=csv");
    let r = app
        .http
        .get(app.url(&path))
        .bearer_auth(app.token(&nurse))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap_or("")
        .to_owned();
    assert!(cd.starts_with("attachment;") && cd.contains(".csv"), "{cd}");
    let bytes = r.bytes().await.unwrap_or_default();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "no BOM");
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        vec![
            "日時",
            "記入者",
            "職種",
            "所属",
            "種別",
            "重要度",
            "本文",
            "添付",
            "確認"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 2);
    assert!(rows[0][0].starts_with(&today), "{:?}", rows[0]);
    assert_eq!(rows[0][0].len(), "2026-11-24 18:30".len());
    assert_eq!(&rows[0][1], "名前 nurse");
    assert_eq!(&rows[0][2], "看護師");
    assert_eq!(&rows[0][3], "みさき訪問看護");
    assert_eq!(&rows[0][4], "記録");
    assert_eq!(&rows[0][5], "通常");
    assert_eq!(&rows[0][6], tricky);
    assert_eq!(&rows[0][7], "");
    assert_eq!(&rows[0][8], "0");
    assert_eq!(&rows[1][2], "医師");
    // A spreadsheet formula is kept inert.
    assert_eq!(&rows[1][6], "'=1+1 は計算しない");

    // A period without notes: only the header.
    let (s, b) = app
        .call(
            &nurse,
            "GET",
            "/api/rooms/tanaka/export?from=2020-01-01&to=2020-01-31",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let text = b.as_str().unwrap_or("").to_owned();
    assert_eq!(
        text.trim_start_matches('\u{FEFF}').lines().count(),
        1,
        "{text}"
    );

    // Access-logged.
    let (_, b) = app
        .call(&coord, "GET", "/api/audit?room=tanaka&user=nurse", None)
        .await;
    let exports = b["entries"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["action"] == "export").count())
        .unwrap_or(0);
    assert_eq!(exports, 2, "{b}");
}

#[tokio::test]
async fn export_periods_formats_and_permissions() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let other = User::member("other");
    let coord2 = User::coordinator("coord2");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    for query in [
        "",
        "from=2026-11-01",
        "to=2026-11-01",
        "from=2026-11-30&to=2026-11-01",
        "from=2026-02-30&to=2026-03-01",
        "from=2026/11/01&to=2026-11-30",
        "from=2025-01-01&to=2026-11-30",
        "from=2026-11-01&to=2026-11-30&format=docx",
    ] {
        let (s, b) = app
            .call(
                &nurse,
                "GET",
                &format!("/api/rooms/tanaka/export?{query}"),
                None,
            )
            .await;
        assert_eq!((s, code(&b)), (400, "bad_request"), "{query}: {b}");
    }
    let ok = "from=2026-01-01&to=2026-12-31";
    let (s, _) = app
        .call(
            &nurse,
            "GET",
            &format!("/api/rooms/tanaka/export?{ok}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    // Not a reader (a coordinator who is not a member included): 404, as for a missing room.
    for (user, room) in [(&other, "tanaka"), (&coord2, "tanaka"), (&nurse, "nowhere")] {
        let (s, b) = app
            .call(user, "GET", &format!("/api/rooms/{room}/export?{ok}"), None)
            .await;
        assert_eq!((s, code(&b)), (404, "not_found"), "{} {room}: {b}", user.id);
    }
    let (s, _) = app
        .call_token(None, "GET", &format!("/api/rooms/tanaka/export?{ok}"), None)
        .await;
    assert_eq!(s, 401);
    // A removed member no longer exports.
    app.call(&coord, "DELETE", "/api/rooms/tanaka/members/nurse", None)
        .await;
    let (s, _) = app
        .call(
            &nurse,
            "GET",
            &format!("/api/rooms/tanaka/export?{ok}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("export.pdf");
    std::fs::write(&path, pdf).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| panic!("pdftotext (poppler-utils) must be installed: {e}"));
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn pdf_export_holds_the_header_and_the_notes_across_pages() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let (s, b) = app
        .call(
            &coord,
            "PUT",
            "/api/rooms/tanaka",
            Some(json!({"kind":"team","title":"田中様チーム","town":"misaki",
                        "resident":{"id":"r-001","name":"田中 花子"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.call(&coord, "PUT", "/api/rooms/tanaka/members/nurse", None)
        .await;
    post(
        &app,
        &nurse,
        "tanaka",
        "c0",
        "夜間に発熱あり。解熱剤を服用し経過観察。",
    )
    .await;
    // Long notes: wrapped across lines, and across pages.
    let long =
        "訪問時、居間で転倒しているところを発見。右膝に擦過傷あり、消毒し保護した。".repeat(8);
    for i in 1..=30 {
        post(
            &app,
            &nurse,
            "tanaka",
            &format!("c{i}"),
            &format!("{i}件目 {long}"),
        )
        .await;
    }
    let today = today_jst();
    let r = app
        .http
        .get(app.url(&format!(
            "/api/rooms/tanaka/export?from={today}&to={today}&format=pdf"
        )))
        .bearer_auth(app.token(&nurse))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap_or_default();
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    // To look at it: YUI_TEST_KEEP_PDF=/tmp/export.pdf.
    if let Some(path) = std::env::var_os("YUI_TEST_KEEP_PDF") {
        std::fs::write(path, &pdf).unwrap_or_else(|e| panic!("{e}"));
    }
    // A subset of the font is embedded, not the whole of IPAex Gothic (about 4 MB).
    assert!(pdf.len() < 1_500_000, "{} bytes", pdf.len());
    let text = pdftotext(&pdf);
    for needle in [
        "支援経過記録",
        "田中 花子",
        "田中様チーム",
        &today,
        "名前 nurse",
        "看護師",
        "夜間に発熱あり。解熱剤を服用し経過観察。",
        "30件目",
    ] {
        assert!(text.contains(needle), "PDF text lacks {needle}:\n{text}");
    }
    let pages = text.matches('\u{c}').count();
    assert!(pages >= 3, "{pages} pages");
    // Wrapped: no extracted line is longer than the page is wide.
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest < 70, "a line of {widest} characters");
}

#[tokio::test]
async fn pdf_export_without_a_font_says_so() {
    let app = spawn_app_with(Options {
        tune: Some(|args| args.export_font = "/nonexistent/font.ttf".into()),
        ..Options::default()
    })
    .await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    let (s, b) = app
        .call(
            &nurse,
            "GET",
            "/api/rooms/tanaka/export?from=2026-11-01&to=2026-11-30&format=pdf",
            None,
        )
        .await;
    assert_eq!((s, code(&b)), (503, "unavailable"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("font"),
        "{b}"
    );
    // CSV still works.
    let (s, _) = app
        .call(
            &nurse,
            "GET",
            "/api/rooms/tanaka/export?from=2026-11-01&to=2026-11-30",
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn the_access_log_by_period_in_pages_and_as_csv() {
    let app = spawn_app().await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    app.team_room(&coord, "tanaka", &[&nurse]).await;
    post(&app, &nurse, "tanaka", "c1", "発熱あり").await;
    for _ in 0..5 {
        search_q(&app, &nurse, "発熱").await;
    }
    let today = today_jst();
    // Pages of 2 by `before`, newest first, every entry once.
    let mut ids = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut path = format!("/api/audit?user=nurse&from={today}&to={today}&limit=2");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let (s, b) = app.call(&coord, "GET", &path, None).await;
        assert_eq!(s, 200, "{b}");
        let entries = b["entries"].as_array().cloned().unwrap_or_default();
        ids.extend(entries.iter().filter_map(|e| e["id"].as_u64()));
        before = ids.last().copied();
        if b["more"] != true {
            break;
        }
        assert_eq!(entries.len(), 2);
        assert!(ids.len() < 100);
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, each once");
    // member_added (nurse is its target) and five searches.
    assert_eq!(ids.len(), 6, "{ids:?}");
    // A period before anything happened, and instants.
    let (_, b) = app
        .call(
            &coord,
            "GET",
            "/api/audit?from=2020-01-01&to=2020-12-31",
            None,
        )
        .await;
    assert_eq!(b["entries"], json!([]));
    let (s, b) = app
        .call(
            &coord,
            "GET",
            "/api/audit?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00%2B09:00&user=nurse",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["entries"].as_array().map(Vec::len), Some(6));
    for bad in [
        "from=2026-13-01",
        "to=yesterday",
        "from=2026-11-30&to=2026-11-01",
        "before=-1",
        "format=xml",
    ] {
        let (s, b) = app
            .call(&coord, "GET", &format!("/api/audit?{bad}"), None)
            .await;
        assert_eq!((s, code(&b)), (400, "bad_request"), "{bad}: {b}");
    }
    // CSV.
    let r = app
        .http
        .get(app.url("/api/audit?room=tanaka&format=csv"))
        .bearer_auth(app.token(&coord))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/csv"));
    let bytes = r.bytes().await.unwrap_or_default();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        vec![
            "番号",
            "日時",
            "操作者ID",
            "操作者",
            "操作",
            "ルーム",
            "対象"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<&str> = rows.iter().map(|r| r.get(4).unwrap_or("")).collect();
    assert_eq!(actions.iter().filter(|a| **a == "search").count(), 5);
    assert!(actions.contains(&"room_created") && actions.contains(&"member_added"));
    assert!(rows
        .iter()
        .all(|r| r.get(1).is_some_and(|t| t.starts_with(&today))));
    // Members still may not read it, in any format.
    let (s, _) = app.call(&nurse, "GET", "/api/audit?format=csv", None).await;
    assert_eq!(s, 403);
}
