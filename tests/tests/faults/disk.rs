//! The embedded store on a filesystem that fails under it: full, immutable, the file deleted.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_server::store::sqlite::SqliteStore;
use yui_server::store::Store;
use yui_tests::fs::{can_mount, set_immutable, Tmpfs};
use yui_tests::*;

/// Posts sent and what the hub answered, by client_id.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, u64>,
    /// Answered `unavailable`: to retry with the same client_id.
    failed: Vec<String>,
    problems: Vec<String>,
}

fn body_of(client_id: &str) -> String {
    // Large bodies, so the WAL must grow (and so needs free space) on every commit.
    format!("{client_id} {}", "記".repeat(1500))
}

/// Posts `client_id`; true when acked.
async fn post(
    c: &mut Client,
    room: &yui_protocol::ids::RoomId,
    client_id: &str,
    l: &mut Ledger,
) -> bool {
    match c.post(room, client_id, &body_of(client_id)).await {
        ServerFrame::Ack { seq: Some(seq), .. } => {
            if let Some(prev) = l.acked.insert(client_id.to_string(), seq) {
                if prev != seq {
                    l.problems.push(format!(
                        "{client_id} acked with seq {prev}, then with {seq}"
                    ));
                }
            }
            true
        }
        ServerFrame::Error {
            code: ErrorCode::Unavailable,
            ..
        } => false,
        other => panic!("post {client_id}: unexpected answer {other:?}"),
    }
}

async fn readyz(app: &TestApp) -> u16 {
    app.http
        .get(app.url("/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Runs a stream of posts, breaks the store with `inject` mid-stream, checks the hub refuses
/// while it is broken, repairs it with `heal`, retries, restarts, and compares every ack with
/// what is stored.
async fn scenario(name: &str, size: u64, inject: impl FnOnce(&Tmpfs), heal: impl FnOnce(&Tmpfs)) {
    crate::logs();
    let fs = Tmpfs::mount(size);
    let app = spawn_on(
        Backend::Embedded,
        Options {
            tune: Some(|a| {
                a.limits.rate_per_second = 1000;
                a.limits.rate_burst = 1000;
            }),
            data_dir: Some(fs.path().to_path_buf()),
        },
    )
    .await;
    let coord = User::coordinator("coord");
    let room = app.team_room(&coord, "res-fault", &[]).await;
    let mut c = app.connect(&coord).await;
    let mut l = Ledger::default();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("{name}-{n}")
    };
    for _ in 0..20 {
        let id = next();
        assert!(
            post(&mut c, &room, &id, &mut l).await,
            "{id} before the fault"
        );
    }

    inject(&fs);
    eprintln!("{name}: fault injected");
    let mut refused_ready = None;
    for _ in 0..400 {
        let id = next();
        if !post(&mut c, &room, &id, &mut l).await {
            l.failed.push(id);
            if refused_ready.is_none() {
                refused_ready = Some(readyz(&app).await);
            }
            if l.failed.len() >= 8 {
                break;
            }
        }
    }
    assert!(
        !l.failed.is_empty(),
        "{name}: the fault never made a post fail: the test provoked nothing"
    );
    let ready_during = readyz(&app).await;
    if refused_ready != Some(503) || ready_during != 503 {
        l.problems.push(format!(
            "/readyz answered {refused_ready:?} right after a failed commit and {ready_during} while the store still fails (want 503)"
        ));
    }
    let acked_during = l.acked.len() - 20;

    eprintln!(
        "{name}: {} acked and {} refused under the fault",
        l.acked.len() - 20,
        l.failed.len()
    );
    heal(&fs);
    eprintln!("{name}: fault repaired");
    // No post yet: a node that a load balancer took out on the 503 gets no traffic, so
    // readiness must come back by itself (the probe write of /readyz), not wait for a post.
    let mut ready_alone = 503;
    for _ in 0..50 {
        ready_alone = readyz(&app).await;
        if ready_alone == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if ready_alone != 200 {
        l.problems.push(format!(
            "/readyz {ready_alone} 5 s after the fault was repaired, with no traffic (want 200)"
        ));
    }
    for id in std::mem::take(&mut l.failed) {
        let mut ok = false;
        for _ in 0..100 {
            if post(&mut c, &room, &id, &mut l).await {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ok {
            l.problems.push(format!(
                "{id}: retry with the same client_id still refused after the fault was repaired"
            ));
        }
    }
    for _ in 0..20 {
        let id = next();
        if !post(&mut c, &room, &id, &mut l).await {
            l.problems
                .push(format!("{id}: refused after the fault was repaired"));
        }
    }
    let ready_after = readyz(&app).await;
    if ready_after != 200 {
        l.problems.push(format!(
            "/readyz {ready_after} after the store commits again"
        ));
    }
    c.close().await;
    let _ = app.stop().await;

    eprintln!("{name}: restarting");
    // A restart, then what is stored, read straight from the database file.
    let app = spawn_on(
        Backend::Embedded,
        Options {
            tune: None,
            data_dir: Some(fs.path().to_path_buf()),
        },
    )
    .await;
    let mut c = app.connect(&coord).await;
    let last_seq = match c.subscribe(&room, None).await {
        ServerFrame::Subscribed { last_seq, .. } => last_seq,
        other => panic!("subscribe after restart: {other:?}"),
    };
    c.close().await;
    let _ = app.stop().await;
    check_stored(name, &fs.path().join("yui.db"), &room, last_seq, &mut l).await;
    assert!(
        l.problems.is_empty(),
        "{name}: {} acked while the store failed; {} problems:\n{}",
        acked_during,
        l.problems.len(),
        l.problems.join("\n")
    );
}

async fn check_stored(
    name: &str,
    db: &Path,
    room: &yui_protocol::ids::RoomId,
    last_seq: u64,
    l: &mut Ledger,
) {
    let store = SqliteStore::open(db)
        .await
        .unwrap_or_else(|e| panic!("{name}: reopen: {e}"));
    let stored = store
        .messages_after(room, 0, 100_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store.close().await;
    let mut seqs_acked = BTreeMap::new();
    for (id, seq) in &l.acked {
        if let Some(other) = seqs_acked.insert(*seq, id.clone()) {
            l.problems
                .push(format!("seq {seq} acked to two messages: {other} and {id}"));
        }
    }
    let by_seq: BTreeMap<u64, &yui_protocol::model::Message> =
        stored.iter().map(|m| (m.seq, m)).collect();
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    if seqs != (1..=seqs.len() as u64).collect::<Vec<_>>() {
        l.problems
            .push(format!("stored seqs are not 1..={}: {seqs:?}", seqs.len()));
    }
    if last_seq != seqs.len() as u64 {
        l.problems.push(format!(
            "last_seq {last_seq} after restart, {} messages stored",
            seqs.len()
        ));
    }
    let mut missing = 0;
    for (id, seq) in &l.acked {
        match by_seq.get(seq) {
            Some(m) if m.client_id.as_str() == id && m.body.as_str() == body_of(id) => {}
            Some(m) => {
                missing += 1;
                if missing <= 10 {
                    l.problems.push(format!(
                        "{id} acked with seq {seq}, stored there: {}",
                        m.client_id.as_str()
                    ));
                }
            }
            None => {
                missing += 1;
                if missing <= 10 {
                    l.problems
                        .push(format!("{id} acked with seq {seq}, not stored"));
                }
            }
        }
    }
    if missing > 0 {
        l.problems.push(format!(
            "{missing} of {} acked posts are not stored as acked",
            l.acked.len()
        ));
    }
    let ids: HashSet<&str> = stored.iter().map(|m| m.client_id.as_str()).collect();
    if ids.len() != stored.len() {
        l.problems.push("a client_id is stored twice".into());
    }
}

/// Fills the filesystem; frees it again.
struct Filler(std::sync::Mutex<Option<std::path::PathBuf>>);

impl Filler {
    fn new() -> Self {
        Filler(std::sync::Mutex::new(None))
    }
    fn fill(&self, fs: &Tmpfs) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(fs.fill());
    }
    fn free(&self) {
        if let Some(p) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            std::fs::remove_file(p).unwrap_or_else(|e| panic!("free space: {e}"));
        }
    }
}

#[tokio::test]
async fn full_disk_mid_stream_never_acks_what_is_not_stored() {
    if !can_mount() {
        return;
    }
    let filler = Filler::new();
    scenario("full", 4 << 20, |fs| filler.fill(fs), |_| filler.free()).await;
}

/// The database files made immutable (`chattr +i`) and the disk full at once. On tmpfs an
/// immutable file still takes writes through descriptors opened before, so the full disk is what
/// fails the open connection; every connection opened after that (the replacement of a failed
/// writer) gets the files read-only (`SQLITE_READONLY`) until they are writable again.
#[tokio::test]
async fn read_only_database_files_never_ack_what_is_not_stored() {
    if !can_mount() {
        return;
    }
    let filler = Filler::new();
    scenario(
        "immutable",
        64 << 20,
        |fs| {
            set_immutable(fs.path(), true);
            filler.fill(fs);
        },
        |fs| {
            filler.free();
            set_immutable(fs.path(), false);
        },
    )
    .await;
}

/// The database file deleted under a running hub: commits go to a file that is gone, so
/// nothing is acked and `/readyz` is 503.
#[tokio::test]
async fn database_file_deleted_under_the_hub_is_not_ready_and_acks_nothing() {
    crate::logs();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_on(
        Backend::Embedded,
        Options {
            tune: None,
            data_dir: Some(dir.path().to_path_buf()),
        },
    )
    .await;
    let coord = User::coordinator("coord");
    let room = app.team_room(&coord, "res-gone", &[]).await;
    let mut c = app.connect(&coord).await;
    let mut l = Ledger::default();
    for i in 0..5 {
        assert!(post(&mut c, &room, &format!("gone-{i}"), &mut l).await);
    }
    assert_eq!(readyz(&app).await, 200);
    std::fs::remove_file(dir.path().join("yui.db")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        readyz(&app).await,
        503,
        "/readyz with the database file deleted"
    );
    for i in 5..10 {
        assert!(
            !post(&mut c, &room, &format!("gone-{i}"), &mut l).await,
            "gone-{i} acked with the database file deleted"
        );
    }
    assert_eq!(readyz(&app).await, 503);
    c.close().await;
    let _ = app.stop().await;
}
