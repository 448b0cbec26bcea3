//! The cluster store with its Postgres backends terminated mid-stream (`pg_terminate_backend`
//! on the test's own database only): every ack is stored with its seq, no seq is given twice,
//! and posts refused meanwhile succeed on retry with the same client_id.

use sqlx::Connection;
use std::collections::BTreeMap;
use std::time::Duration;
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_server::store::postgres::PostgresStore;
use yui_server::store::Store;
use yui_tests::*;

#[tokio::test]
async fn terminated_backends_mid_stream_lose_no_ack_and_give_no_seq_twice() {
    crate::logs();
    let backend = Backend::fresh_cluster().await;
    let Backend::Cluster { database_url, .. } = backend.clone() else {
        unreachable!()
    };
    let app = spawn_on(
        backend,
        Options {
            tune: Some(|a| {
                a.limits.rate_per_second = 1000;
                a.limits.rate_burst = 1000;
            }),
            data_dir: None,
        },
    )
    .await;
    let coord = User::coordinator("coord");
    let room = app.team_room(&coord, "res-pg", &[]).await;

    // Terminates every other backend of this test's database, again and again.
    let stop = tokio_util::sync::CancellationToken::new();
    let killer = {
        let stop = stop.clone();
        let url = database_url.clone();
        let name = database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut killed = 0_i64;
            while !stop.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("terminate: {e}"));
                killed += n;
            }
            killed
        })
    };

    // Refusals seen by any poster: posting goes on past 60 notes each until one happened (a
    // commit is short, so a termination may for a while hit only idle connections).
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut posters = Vec::new();
    for p in 0..3 {
        let mut c = app.connect(&coord).await;
        let room = room.clone();
        let refusals = refusals.clone();
        posters.push(tokio::spawn(async move {
            let mut acked: BTreeMap<String, u64> = BTreeMap::new();
            let mut problems = Vec::new();
            let mut refused = 0;
            let mut i = 0;
            while i < 60 || (i < 2000 && refusals.load(std::sync::atomic::Ordering::Relaxed) == 0) {
                i += 1;
                let id = format!("pg{p}-{i}");
                let mut done = false;
                for _ in 0..100 {
                    match c.post(&room, &id, &format!("記録 {id}")).await {
                        ServerFrame::Ack { seq: Some(seq), .. } => {
                            acked.insert(id.clone(), seq);
                            done = true;
                            break;
                        }
                        ServerFrame::Error {
                            code: ErrorCode::Unavailable,
                            ..
                        } => {
                            refused += 1;
                            refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => {
                            problems.push(format!("{id}: {other:?}"));
                            break;
                        }
                    }
                }
                if !done {
                    problems.push(format!("{id}: never acked"));
                }
            }
            (acked, problems, refused)
        }));
    }
    let mut acked = BTreeMap::new();
    let mut problems = Vec::new();
    let mut refused = 0;
    for p in posters {
        let (a, pr, r) = p.await.unwrap_or_else(|e| panic!("{e}"));
        acked.extend(a);
        problems.extend(pr);
        refused += r;
    }
    stop.cancel();
    let killed = killer.await.unwrap_or_else(|e| panic!("{e}"));
    let _ = app.stop().await;
    assert!(
        killed > 0 && refused > 0,
        "the test provoked nothing: {killed} backends terminated, {refused} posts refused"
    );

    let store = PostgresStore::connect(&database_url, 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored = store
        .messages_after(&room, 0, 100_000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let by_seq: BTreeMap<u64, String> = stored
        .iter()
        .map(|m| (m.seq, m.client_id.as_str().to_string()))
        .collect();
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    if seqs != (1..=seqs.len() as u64).collect::<Vec<_>>() {
        problems.push(format!("stored seqs are not 1..={}", seqs.len()));
    }
    let mut given = BTreeMap::new();
    for (id, seq) in &acked {
        if let Some(other) = given.insert(*seq, id) {
            problems.push(format!("seq {seq} acked to {other} and {id}"));
        }
        if by_seq.get(seq) != Some(id) {
            problems.push(format!(
                "{id} acked with seq {seq}, stored there: {:?}",
                by_seq.get(seq)
            ));
        }
    }
    if stored.len() != acked.len() {
        problems.push(format!("{} stored, {} acked", stored.len(), acked.len()));
    }
    assert!(
        problems.is_empty(),
        "{killed} backends terminated, {refused} posts refused; problems:\n{}",
        problems.join("\n")
    );
}
