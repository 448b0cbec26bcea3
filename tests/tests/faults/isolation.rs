//! A write the database refuses fails alone: the other writes of its group commit are acked.
//! The refusal is installed in the test's own database (a SQLite trigger, a Postgres CHECK
//! constraint on one body), so no edge validation can take it away: it stands for any row a
//! database refuses for its content.

use sqlx::Connection;
use std::collections::BTreeSet;
use yui_protocol::client::Request;
use yui_protocol::ids::{Body, ClientId};
use yui_protocol::server::ServerFrame;
use yui_protocol::ErrorCode;
use yui_tests::*;

const REFUSED: &str = "refuse-me";

/// The test's own connection to the hub's database, which holds the write lock while the posts
/// are sent, so that they queue up and commit as one group once it lets go.
enum Db {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn run(&mut self, sql: &str) {
        let r = match self {
            Db::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
            Db::Postgres(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn hold(&mut self) {
        if matches!(self, Db::Sqlite(_)) {
            self.run("BEGIN IMMEDIATE").await;
        } else {
            self.run("BEGIN").await;
            // Conflicts with the FOR UPDATE row locks a group commit takes on its rooms.
            self.run("LOCK TABLE rooms IN EXCLUSIVE MODE").await;
        }
    }

    async fn release(&mut self) {
        self.run("ROLLBACK").await;
    }
}

/// Three connections pipeline 30 posts each while the database is locked (so they queue up
/// and share a group commit); one post in the middle carries the refused body. Only that one
/// may fail.
async fn one_refused_post_fails_alone(app: &TestApp, mut db: Db) {
    let coord = User::coordinator("coord");
    let room = room("res-iso");
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(app.connect(&coord).await);
    }
    let mut sent = Vec::new();
    db.hold().await;
    for i in 0..30 {
        for (p, c) in clients.iter_mut().enumerate() {
            let id = format!("iso{p}-{i}");
            let body = if p == 0 && i == 15 {
                REFUSED.to_string()
            } else {
                format!("記録 {id}")
            };
            c.send(
                &Request::Post {
                    room: room.clone(),
                    post: yui_protocol::post::NewPost::note(
                        ClientId::parse(id.clone()).unwrap_or_else(|e| panic!("{e}")),
                        Body::parse(body).unwrap_or_else(|e| panic!("{e}")),
                    ),
                },
                Some(&id),
            )
            .await;
            sent.push((p, id));
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    db.release().await;
    let mut seqs = BTreeSet::new();
    let mut problems = Vec::new();
    for (p, id) in sent {
        match clients[p].reply(&id).await {
            ServerFrame::Ack { seq: Some(seq), .. } if id != "iso0-15" => {
                if !seqs.insert(seq) {
                    problems.push(format!("seq {seq} acked twice"));
                }
            }
            ServerFrame::Error {
                code: ErrorCode::Internal | ErrorCode::BadRequest,
                ..
            } if id == "iso0-15" => {}
            other => problems.push(format!("{id}: {other:?}")),
        }
    }
    if seqs != (1..=89).collect::<BTreeSet<u64>>() {
        problems.push(format!("acked seqs are not 1..=89: {} acked", seqs.len()));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn options(data_dir: Option<std::path::PathBuf>) -> Options {
    Options {
        tune: Some(|a| {
            a.limits.rate_per_second = 1000;
            a.limits.rate_burst = 1000;
        }),
        data_dir,
    }
}

#[tokio::test]
async fn embedded_a_refused_write_fails_alone_in_its_group_commit() {
    crate::logs();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_on(Backend::Embedded, options(Some(dir.path().to_path_buf()))).await;
    app.team_room(&User::coordinator("coord"), "res-iso", &[])
        .await;
    let url = format!("sqlite://{}", dir.path().join("yui.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(&format!(
        "CREATE TRIGGER test_refuse BEFORE INSERT ON messages WHEN NEW.body = '{REFUSED}' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ))
    .execute(&mut db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    one_refused_post_fails_alone(&app, Db::Sqlite(db)).await;
    let _ = app.stop().await;
}

#[tokio::test]
async fn cluster_a_refused_write_fails_alone_in_its_group_commit() {
    crate::logs();
    let backend = Backend::fresh_cluster().await;
    let Backend::Cluster { database_url, .. } = backend.clone() else {
        unreachable!()
    };
    let app = spawn_on(backend, options(None)).await;
    app.team_room(&User::coordinator("coord"), "res-iso", &[])
        .await;
    let mut db = sqlx::PgConnection::connect(&database_url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query(&format!(
        "ALTER TABLE messages ADD CONSTRAINT test_refuse CHECK (body <> '{REFUSED}')"
    ))
    .execute(&mut db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    one_refused_post_fails_alone(&app, Db::Postgres(db)).await;
    let _ = app.stop().await;
}
