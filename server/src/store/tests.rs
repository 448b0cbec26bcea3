//! The store conformance suite: every test is written once against `Arc<dyn Store>` and run on
//! both backends (SQLite in a temporary directory, Postgres in a fresh database per test).
//!
//! Postgres: the admin URL is `YUI_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it is unreachable the Postgres tests print
//! `SKIPPED` and pass, unless `CI` is set: then they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::*;
use std::collections::HashSet;
use std::sync::Arc;
use yui_protocol::post::Revision;

// ---------------------------------------------------------------------------------------------
// Harness

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data/yui.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// A database created for one test and dropped when this is dropped (also on panic).
pub(super) struct PgTestDb {
    admin_url: String,
    name: String,
    pub(super) url: String,
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; do the async clean-up on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut admin).await;
                }
            });
        });
        let _ = done.join();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| i + host_start);
    format!("{}/{name}{query}", &base[..path_start])
}

/// A fresh database, or `None` (after a loud line on stderr) when Postgres is unreachable and
/// `CI` is not set.
pub(super) async fn pg_database() -> Option<PgTestDb> {
    use sqlx::Connection;
    let admin_url =
        std::env::var("YUI_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("Postgres not reachable at {admin_url} (CI is set): {e}")
        }
        Err(e) => {
            // Straight to the process's stderr: libtest would capture `eprintln!`.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: Postgres not reachable at {admin_url}: {e}"
            );
            return None;
        }
    };
    let name = format!("yui_t_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = with_database(&admin_url, &name);
    Some(PgTestDb {
        admin_url,
        name,
        url,
    })
}

async fn pg_store() -> Option<(Arc<dyn Store>, PgTestDb)> {
    let db = pg_database().await?;
    let store = PostgresStore::connect(&db.url, 8).await.unwrap();
    Some((Arc::new(store), db))
}

/// Instantiates each conformance test for both backends.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$name(store).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((store, _db)) = super::pg_store().await else { return };
                    super::$name(store).await;
                }
            )+
        }
    };
}

conformance!(
    seq_is_contiguous_per_room,
    retries_are_idempotent,
    post_moves_authors_read_position,
    reads_are_monotonic_and_clamped,
    history_paging,
    put_room_created_updated_conflict,
    members_and_profiles,
    rooms_for_and_unread,
    receipts_and_audience,
    audit_entries_and_filters,
    concurrent_commits_are_contiguous,
    post_to_unknown_room_fails_cleanly,
    batch_mixes_rooms_posts_and_reads,
    duplicate_client_id_within_one_batch,
    retry_of_committed_post_in_batch_with_new_posts,
    repeated_reads_of_one_pair_in_a_batch,
    author_reads_around_own_posts_in_a_batch,
    audit_entries_keep_batch_order,
    batch_larger_than_one_chunk,
    batch_equals_one_write_at_a_time,
    members_version_moves_with_membership,
    care_notes_fields_round_trip_and_count_unread,
    confirmations_are_kept_once,
    pending_lists_the_audience_below_a_seq,
    attachments_are_claimed_once_by_their_post,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

const TOWN: &str = "kamiyama";

fn rid(s: &str) -> RoomId {
    RoomId::parse(s).unwrap()
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn town(s: &str) -> TownId {
    TownId::parse(s).unwrap()
}

fn user(id: &str) -> UserRef {
    UserRef {
        id: uid(id),
        name: Name::parse(format!("{id} san")).unwrap(),
        profession: Profession::Nurse,
        org: Name::parse("Kamiyama Clinic").unwrap(),
    }
}

fn short(u: &UserRef) -> UserName {
    UserName {
        id: u.id.clone(),
        name: u.name.clone(),
    }
}

fn spec(kind: RoomKind, title: &str, town_: &str) -> RoomSpec {
    RoomSpec {
        kind,
        title: Title::parse(title).unwrap(),
        town: town(town_),
        resident: None,
    }
}

async fn team_room(s: &dyn Store, room: &str, creator: &UserRef) {
    let r = s
        .put_room(&rid(room), &spec(RoomKind::Team, room, TOWN), creator)
        .await
        .unwrap();
    assert!(matches!(r, PutRoom::Created(_)), "{r:?}");
}

/// A team room made by `creator`, who has then posted `n` notes to it in one batch.
async fn team_room_with_posts(s: &dyn Store, room: &str, creator: &UserRef, n: usize) {
    team_room(s, room, creator).await;
    let writes: Vec<Write> = (0..n)
        .map(|i| post(room, creator, &format!("c{i}"), "x"))
        .collect();
    s.commit(&writes).await.unwrap();
}

async fn town_room(s: &dyn Store, room: &str, town_: &str, creator: &UserRef) {
    let r = s
        .put_room(&rid(room), &spec(RoomKind::Town, room, town_), creator)
        .await
        .unwrap();
    assert!(matches!(r, PutRoom::Created(_)), "{r:?}");
}

fn post(room: &str, author: &UserRef, client_id: &str, body: &str) -> Write {
    Write::Post {
        room: rid(room),
        author: author.clone(),
        client_id: ClientId::parse(client_id).unwrap(),
        kind: MessageKind::Note,
        body: Some(Body::parse(body).unwrap()),
        priority: Priority::Normal,
        mentions: Vec::new(),
        revision: None,
        attachments: Vec::new(),
    }
}

fn read(room: &str, user: &str, seq: u64) -> Write {
    Write::Read {
        room: rid(room),
        user: uid(user),
        seq,
    }
}

fn posted(o: &WriteOutcome) -> (Message, bool) {
    match o {
        WriteOutcome::Posted { message, new, .. } => (message.clone(), *new),
        other => panic!("expected Posted, got {other:?}"),
    }
}

fn read_outcome(o: &WriteOutcome) -> (u64, bool, Timestamp) {
    match o {
        WriteOutcome::Read { seq, moved, at } => (*seq, *moved, *at),
        other => panic!("expected Read, got {other:?}"),
    }
}

/// `user`'s read position in `room` as the hub reads it (0 when none).
async fn read_seq(s: &dyn Store, room: &RoomId, user: &UserId) -> StoreResult<u64> {
    Ok(s.room_summary(room, user).await?.map_or(0, |r| r.read_seq))
}

/// A member's role, as the hub reads it (from the member list).
async fn member_role(s: &dyn Store, room: &RoomId, user: &UserId) -> Option<MemberRole> {
    s.members(room)
        .await
        .unwrap()
        .into_iter()
        .find(|m| &m.id == user)
        .map(|m| m.role)
}

async fn commit_one(s: &dyn Store, w: Write) -> WriteOutcome {
    let mut out = s.commit(&[w]).await.unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

async fn all_messages(s: &dyn Store, room: &str) -> Vec<Message> {
    s.messages_after(&rid(room), 0, 10_000).await.unwrap()
}

fn assert_contiguous(messages: &[Message], n: u64) {
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Conformance tests

async fn seq_is_contiguous_per_room(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    let mut n = 0;
    for batch in 0..4 {
        let writes: Vec<Write> = (0..5)
            .map(|i| {
                n += 1;
                let room = if i % 2 == 0 { "a" } else { "b" };
                let author = if i % 3 == 0 { &ann } else { &ben };
                post(room, author, &format!("c{batch}-{i}"), &format!("body {n}"))
            })
            .collect();
        let out = s.commit(&writes).await.unwrap();
        assert_eq!(out.len(), writes.len());
        for (w, o) in writes.iter().zip(&out) {
            let (m, new) = posted(o);
            assert!(new);
            let Write::Post { room, body, .. } = w else {
                unreachable!()
            };
            assert_eq!(&m.room, room);
            assert_eq!(Some(m.body.as_str()), body.as_ref().map(|b| b.as_str()));
        }
    }
    // 4 batches of 5: rooms a gets i = 0, 2, 4 and b gets 1, 3 of each batch.
    let a = all_messages(s, "a").await;
    let b = all_messages(s, "b").await;
    assert_contiguous(&a, 12);
    assert_contiguous(&b, 8);
    // Within a room, seq order is commit order: bodies were numbered in commit order.
    let bodies: Vec<u32> = a
        .iter()
        .map(|m| m.body.trim_start_matches("body ").parse().unwrap())
        .collect();
    assert!(bodies.windows(2).all(|w| w[0] < w[1]), "{bodies:?}");
    let ids: HashSet<&str> = a.iter().chain(&b).map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 20, "message ids are unique across rooms");
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, 12);
    assert_eq!(s.room(&rid("b")).await.unwrap().unwrap().last_seq, 8);
    // The author snapshot and kind come back as posted.
    assert_eq!(a[0].author, ann);
    assert_eq!(a[0].kind, MessageKind::Note);
    // An empty batch answers nothing and moves nothing.
    assert!(s.commit(&[]).await.unwrap().is_empty());
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, 12);
}

async fn retries_are_idempotent(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    let (first, new) = posted(&commit_one(s, post("a", &ann, "c1", "first")).await);
    assert!(new);
    assert_eq!(first.seq, 1);

    // A retry with another body, in a batch with a new post.
    let out = s
        .commit(&[
            post("a", &ann, "c1", "changed"),
            post("a", &ann, "c2", "second"),
        ])
        .await
        .unwrap();
    let (again, new) = posted(&out[0]);
    assert!(!new);
    assert_eq!(again, first, "same seq, id, at and body");
    let (second, new) = posted(&out[1]);
    assert!(new);
    assert_eq!(second.seq, 2);

    // Twice in one batch: the second is the first's answer.
    let out = s
        .commit(&[post("a", &ann, "c3", "x"), post("a", &ann, "c3", "y")])
        .await
        .unwrap();
    let (m1, new1) = posted(&out[0]);
    let (m2, new2) = posted(&out[1]);
    assert!(new1 && !new2);
    assert_eq!(m1, m2);
    assert_eq!(m1.seq, 3);

    // The key is (room, author, client_id): another author may use the same client_id.
    let (other, new) = posted(&commit_one(s, post("a", &ben, "c1", "ben's")).await);
    assert!(new);
    assert_eq!(other.seq, 4);

    let all = all_messages(s, "a").await;
    assert_contiguous(&all, 4);
    assert_eq!(all[0].body, "first");
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, 4);
}

async fn post_moves_authors_read_position(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    commit_one(s, post("a", &ann, "c1", "one")).await;
    commit_one(s, post("a", &ben, "c2", "two")).await;
    let (m, _) = posted(&commit_one(s, post("a", &ann, "c3", "three")).await);
    assert_eq!(read_seq(s, &rid("a"), &ann.id).await.unwrap(), 3);
    assert_eq!(read_seq(s, &rid("a"), &ben.id).await.unwrap(), 2);
    let receipts = s.receipts(&rid("a")).await.unwrap();
    let ann_r = receipts.iter().find(|r| r.user.id == ann.id).unwrap();
    assert_eq!((ann_r.seq, ann_r.at), (3, m.at));
    // A retry of an old post does not move the position back.
    commit_one(s, post("a", &ann, "c1", "one")).await;
    assert_eq!(read_seq(s, &rid("a"), &ann.id).await.unwrap(), 3);
}

async fn reads_are_monotonic_and_clamped(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    team_room(s, "empty", &ann).await;
    for i in 0..3 {
        commit_one(s, post("a", &ann, &format!("c{i}"), "hello")).await;
    }
    // Never read: seq 0, nothing moves.
    let (seq, moved, at) = read_outcome(&commit_one(s, read("a", "bo", 0)).await);
    assert_eq!((seq, moved, at.millis()), (0, false, 0));
    // Clamped in an empty room.
    let (seq, moved, _) = read_outcome(&commit_one(s, read("empty", "bo", 5)).await);
    assert_eq!((seq, moved), (0, false));
    assert_eq!(read_seq(s, &rid("empty"), &uid("bo")).await.unwrap(), 0);

    let (seq, moved, at2) = read_outcome(&commit_one(s, read("a", "bo", 2)).await);
    assert_eq!((seq, moved), (2, true));
    assert!(at2.millis() > 0);
    // Backwards: the current position, not moved, same `at`.
    let (seq, moved, at) = read_outcome(&commit_one(s, read("a", "bo", 1)).await);
    assert_eq!((seq, moved, at), (2, false, at2));
    let (seq, moved, at) = read_outcome(&commit_one(s, read("a", "bo", 2)).await);
    assert_eq!((seq, moved, at), (2, false, at2));
    // Beyond last_seq: clamped.
    let (seq, moved, _) = read_outcome(&commit_one(s, read("a", "bo", 99)).await);
    assert_eq!((seq, moved), (3, true));
    assert_eq!(read_seq(s, &rid("a"), &uid("bo")).await.unwrap(), 3);

    // Several reads of one (room, user) in a batch apply in order.
    let out = s
        .commit(&[
            read("a", "cy", 1),
            read("a", "cy", 3),
            read("a", "cy", 2),
            post("a", &ann, "c9", "four"),
            read("a", "cy", 9),
        ])
        .await
        .unwrap();
    assert_eq!(
        (read_outcome(&out[0]).0, read_outcome(&out[0]).1),
        (1, true)
    );
    assert_eq!(
        (read_outcome(&out[1]).0, read_outcome(&out[1]).1),
        (3, true)
    );
    assert_eq!(
        (read_outcome(&out[2]).0, read_outcome(&out[2]).1),
        (3, false)
    );
    assert_eq!(posted(&out[3]).0.seq, 4);
    assert_eq!(
        (read_outcome(&out[4]).0, read_outcome(&out[4]).1),
        (4, true)
    );
    assert_eq!(read_seq(s, &rid("a"), &uid("cy")).await.unwrap(), 4);

    // A batch of reads only: several pairs and rooms, one of them unknown, each answered as if
    // committed alone.
    let out = s
        .commit(&[
            read("a", "dd", 2),
            read("nowhere", "dd", 3),
            read("empty", "ee", 1),
            read("a", "ee", 9),
            read("a", "dd", 1),
            read("a", "bo", 3),
        ])
        .await
        .unwrap();
    let outs: Vec<(u64, bool)> = out
        .iter()
        .map(read_outcome)
        .map(|(seq, moved, _)| (seq, moved))
        .collect();
    assert_eq!(
        outs,
        vec![
            (2, true),
            (0, false),
            (0, false),
            (4, true),
            (2, false),
            (3, false)
        ]
    );
    assert_eq!(read_seq(s, &rid("a"), &uid("dd")).await.unwrap(), 2);
    assert_eq!(read_seq(s, &rid("a"), &uid("ee")).await.unwrap(), 4);
    assert_eq!(read_seq(s, &rid("nowhere"), &uid("dd")).await.unwrap(), 0);
    assert_eq!(read_seq(s, &rid("empty"), &uid("ee")).await.unwrap(), 0);
}

async fn history_paging(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    team_room(s, "empty", &ann).await;
    let writes: Vec<Write> = (1..=10)
        .map(|i| post("a", &ann, &format!("c{i}"), &format!("m{i}")))
        .collect();
    s.commit(&writes).await.unwrap();
    let seqs = |ms: &[Message]| ms.iter().map(|m| m.seq).collect::<Vec<_>>();

    let after = s.messages_after(&rid("a"), 3, 4).await.unwrap();
    assert_eq!(seqs(&after), vec![4, 5, 6, 7]);
    assert_eq!(after[0].body, "m4");
    assert!(s.messages_after(&rid("a"), 10, 4).await.unwrap().is_empty());

    let (newest, more) = s.messages_before(&rid("a"), None, 3).await.unwrap();
    assert_eq!((seqs(&newest), more), (vec![8, 9, 10], true));
    let (page, more) = s.messages_before(&rid("a"), Some(8), 3).await.unwrap();
    assert_eq!((seqs(&page), more), (vec![5, 6, 7], true));
    let (page, more) = s.messages_before(&rid("a"), Some(4), 3).await.unwrap();
    assert_eq!((seqs(&page), more), (vec![1, 2, 3], false));
    let (page, more) = s.messages_before(&rid("a"), Some(4), 2).await.unwrap();
    assert_eq!((seqs(&page), more), (vec![2, 3], true));
    let (page, more) = s.messages_before(&rid("a"), None, 200).await.unwrap();
    assert_eq!((page.len(), more), (10, false));
    let (page, more) = s.messages_before(&rid("empty"), None, 50).await.unwrap();
    assert_eq!((page.len(), more), (0, false));
}

async fn put_room_created_updated_conflict(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    let mut sp = spec(RoomKind::Team, "Tanaka household", TOWN);
    sp.resident = Some(Resident {
        id: "r-1".into(),
        name: "Tanaka".into(),
    });
    let created = s.put_room(&rid("tanaka"), &sp, &ann).await.unwrap();
    let PutRoom::Created(info) = created else {
        panic!("{created:?}")
    };
    assert_eq!(info.last_seq, 0);
    assert_eq!(info.resident, sp.resident);
    assert_eq!(s.room(&rid("tanaka")).await.unwrap(), Some(info.clone()));
    assert_eq!(
        member_role(s, &rid("tanaka"), &ann.id).await,
        Some(MemberRole::Owner)
    );
    let members = s.members(&rid("tanaka")).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, ann.name);
    assert_eq!(members[0].role, MemberRole::Owner);

    // Same kind and town: the title changes, the resident stays when not given.
    commit_one(s, post("tanaka", &ann, "c1", "hi")).await;
    let again = s
        .put_room(
            &rid("tanaka"),
            &spec(RoomKind::Team, "Tanaka family", TOWN),
            &ann,
        )
        .await
        .unwrap();
    let PutRoom::Updated(updated) = again else {
        panic!("{again:?}")
    };
    assert_eq!(updated.title.as_str(), "Tanaka family");
    assert_eq!(updated.resident, sp.resident);
    assert_eq!(updated.last_seq, 1);
    let mut sp2 = spec(RoomKind::Team, "Tanaka family", TOWN);
    sp2.resident = Some(Resident {
        id: "r-2".into(),
        name: "Tanaka Hanako".into(),
    });
    let PutRoom::Updated(updated) = s.put_room(&rid("tanaka"), &sp2, &ann).await.unwrap() else {
        panic!("not updated")
    };
    assert_eq!(updated.resident, sp2.resident);

    // Another town or kind: conflict, nothing changes.
    for bad in [
        spec(RoomKind::Team, "Other", "naka"),
        spec(RoomKind::Town, "Other", TOWN),
    ] {
        let r = s.put_room(&rid("tanaka"), &bad, &ann).await.unwrap();
        assert_eq!(r, PutRoom::Conflict(updated.clone()));
    }
    assert_eq!(s.room(&rid("tanaka")).await.unwrap(), Some(updated));

    // A town room has no members.
    town_room(s, "kamiyama-notices", TOWN, &ann).await;
    assert!(s
        .members(&rid("kamiyama-notices"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.room(&rid("nowhere")).await.unwrap(), None);

    let log = s
        .audit_query(&AuditFilter {
            room: Some(rid("tanaka")),
            user: None,
            town: None,
            limit: 10,
            from: None,
            to: None,
            before: None,
        })
        .await
        .unwrap();
    let actions: Vec<AuditAction> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::RoomUpdated,
            AuditAction::RoomUpdated,
            AuditAction::RoomCreated
        ]
    );
    assert!(log
        .iter()
        .all(|e| e.actor == short(&ann) && e.target.is_none()));
}

async fn members_and_profiles(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, carol) = (user("ann"), user("carol"));
    let r = rid("a");
    team_room(s, "a", &ann).await;
    let actor = short(&ann);
    let none = ProfilePatch::default();

    // A new user with no profile: the defaults.
    let added = s
        .put_member(&r, &uid("bob"), None, &none, &actor)
        .await
        .unwrap();
    assert_eq!(added, PutMember::Added);
    let bob = s
        .members(&r)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id.as_str() == "bob")
        .unwrap();
    assert_eq!(bob.name.as_str(), "bob");
    assert_eq!(bob.profession, Profession::Other);
    assert_eq!(bob.org.as_str(), "-");
    assert_eq!(bob.role, MemberRole::Member);
    assert_eq!(bob.read_seq, 0);

    // Role changes; None keeps it; an API profile applies while no token was seen.
    let owner = Some(MemberRole::Owner);
    let upd = s
        .put_member(&r, &uid("bob"), owner, &none, &actor)
        .await
        .unwrap();
    assert_eq!(upd, PutMember::Updated);
    let patch = ProfilePatch {
        name: Some(Name::parse("Bob Sato").unwrap()),
        profession: Some(Profession::Pharmacist),
        org: None,
    };
    let upd = s
        .put_member(&r, &uid("bob"), None, &patch, &actor)
        .await
        .unwrap();
    assert_eq!(upd, PutMember::Updated);
    assert_eq!(
        member_role(s, &r, &uid("bob")).await,
        Some(MemberRole::Owner)
    );
    let bob = s.members(&r).await.unwrap().remove(1);
    assert_eq!(
        (bob.name.as_str(), bob.profession, bob.org.as_str()),
        ("Bob Sato", Profession::Pharmacist, "-")
    );

    // A token profile is never overridden by the API; a token overrides the API's profile.
    s.upsert_user(&carol, &town(TOWN)).await.unwrap();
    let fake = ProfilePatch {
        name: Some(Name::parse("Fake").unwrap()),
        profession: Some(Profession::Doctor),
        org: Some(Name::parse("Elsewhere").unwrap()),
    };
    s.put_member(&r, &carol.id, None, &fake, &actor)
        .await
        .unwrap();
    let bob_token = UserRef {
        id: uid("bob"),
        name: Name::parse("Sato Bob").unwrap(),
        profession: Profession::Therapist,
        org: Name::parse("Rehab").unwrap(),
    };
    s.upsert_user(&bob_token, &town(TOWN)).await.unwrap();
    s.put_member(&r, &uid("bob"), None, &fake, &actor)
        .await
        .unwrap();
    // Mixed case ids order bytewise ("Zed" < "ann").
    s.put_member(&r, &uid("Zed"), None, &none, &actor)
        .await
        .unwrap();
    let members = s.members(&r).await.unwrap();
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, vec!["Zed", "ann", "bob", "carol"]);
    assert_eq!(
        (
            members[2].name.clone(),
            members[2].profession,
            members[2].org.clone()
        ),
        (
            bob_token.name.clone(),
            bob_token.profession,
            bob_token.org.clone()
        )
    );
    assert_eq!(members[2].role, MemberRole::Owner);
    assert_eq!(
        (
            members[3].name.clone(),
            members[3].profession,
            members[3].role
        ),
        (carol.name.clone(), carol.profession, MemberRole::Member)
    );

    // Read positions show in members.
    commit_one(s, post("a", &ann, "c1", "hi")).await;
    commit_one(s, read("a", "carol", 1)).await;
    let members = s.members(&r).await.unwrap();
    let read_seqs: Vec<u64> = members.iter().map(|m| m.read_seq).collect();
    assert_eq!(read_seqs, vec![0, 1, 0, 1]);

    // Removing.
    assert!(s.remove_member(&r, &carol.id, &actor).await.unwrap());
    assert!(!s.remove_member(&r, &carol.id, &actor).await.unwrap());
    assert_eq!(member_role(s, &r, &carol.id).await, None);
    assert_eq!(s.members(&r).await.unwrap().len(), 3);
    // Adding back is an add.
    let again = s
        .put_member(&r, &carol.id, None, &none, &actor)
        .await
        .unwrap();
    assert_eq!(again, PutMember::Added);
}

async fn rooms_for_and_unread(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "b-team", &ann).await;
    team_room(s, "a-team", &ann).await;
    team_room(s, "not-mine", &ben).await;
    town_room(s, "kamiyama-board", TOWN, &ann).await;
    town_room(s, "naka-board", "naka", &ann).await;
    let batch: Vec<Write> = (0..3)
        .map(|i| post("a-team", &ben, &format!("c{i}"), "x"))
        .chain([post("kamiyama-board", &ben, "n1", "notice")])
        .collect();
    s.put_member(
        &rid("a-team"),
        &ben.id,
        None,
        &ProfilePatch::default(),
        &short(&ann),
    )
    .await
    .unwrap();
    s.commit(&batch).await.unwrap();
    commit_one(s, read("a-team", "ann", 1)).await;

    let rooms = s.rooms_for(&ann.id, &town(TOWN)).await.unwrap();
    let listed: Vec<(&str, u64, u64, u64)> = rooms
        .iter()
        .map(|r| (r.room.as_str(), r.last_seq, r.read_seq, r.unread))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("a-team", 3, 1, 2),
            ("b-team", 0, 0, 0),
            ("kamiyama-board", 1, 0, 1)
        ]
    );
    assert_eq!(rooms[0].kind, RoomKind::Team);
    assert_eq!(rooms[2].kind, RoomKind::Town);
    assert_eq!(rooms[2].town.as_str(), TOWN);
    // Another town's user sees only its board.
    let naka = s.rooms_for(&uid("zoe"), &town("naka")).await.unwrap();
    assert_eq!(naka.len(), 1);
    assert_eq!(naka[0].room.as_str(), "naka-board");

    let sum = s
        .room_summary(&rid("a-team"), &ben.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sum.last_seq, sum.read_seq, sum.unread), (3, 3, 0));
    let sum = s
        .room_summary(&rid("not-mine"), &ann.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sum.last_seq, sum.read_seq, sum.unread), (0, 0, 0));
    assert_eq!(
        s.room_summary(&rid("nowhere"), &ann.id).await.unwrap(),
        None
    );
    // What a subscription starts from: the same last seq and position, without the counts.
    let start = |kind, last_seq, read_seq| Some((kind, last_seq, read_seq));
    for (room, who, expected) in [
        ("a-team", &ben, start(RoomKind::Team, 3, 3)),
        ("a-team", &ann, start(RoomKind::Team, 3, 1)),
        ("not-mine", &ann, start(RoomKind::Team, 0, 0)),
        ("kamiyama-board", &ben, start(RoomKind::Town, 1, 1)),
        ("kamiyama-board", &ann, start(RoomKind::Town, 1, 0)),
        ("nowhere", &ann, None),
    ] {
        let got = s.subscription_start(&rid(room), &who.id).await.unwrap();
        assert_eq!(
            got.as_ref().map(|g| (g.kind, g.last_seq, g.read_seq)),
            expected,
            "{room} for {}",
            who.id
        );
        // With the same members (and positions) as `members` reads; none for a town room.
        if let Some(got) = got {
            let members = s.members(&rid(room)).await.unwrap();
            assert_eq!(
                got.members,
                (got.kind == RoomKind::Team).then_some(members),
                "{room}'s members"
            );
        }
    }
}

async fn receipts_and_audience(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben, carol) = (user("ann"), user("ben"), user("carol"));
    for u in [&ann, &ben, &carol] {
        s.upsert_user(u, &town(TOWN)).await.unwrap();
    }
    s.upsert_user(&user("dan"), &town("naka")).await.unwrap();
    team_room(s, "a", &ann).await;
    town_room(s, "board", TOWN, &ann).await;
    let actor = short(&ann);
    s.put_member(&rid("a"), &ben.id, None, &ProfilePatch::default(), &actor)
        .await
        .unwrap();
    s.commit(&[post("a", &ann, "c1", "one"), post("a", &ann, "c2", "two")])
        .await
        .unwrap();
    commit_one(s, read("a", "ben", 1)).await;
    commit_one(s, read("a", "carol", 0)).await; // never moves: no receipt
    commit_one(s, read("a", "Xavier", 2)).await; // not in the directory: default profile

    let receipts = s.receipts(&rid("a")).await.unwrap();
    let got: Vec<(&str, u64)> = receipts
        .iter()
        .map(|r| (r.user.id.as_str(), r.seq))
        .collect();
    assert_eq!(got, vec![("Xavier", 2), ("ann", 2), ("ben", 1)]);
    assert_eq!(receipts[1].user, ann);
    assert_eq!(receipts[2].user, ben);
    assert_eq!(receipts[0].user.name.as_str(), "Xavier");
    assert!(receipts.iter().all(|r| r.at.millis() > 0));
    assert!(s.receipts(&rid("board")).await.unwrap().is_empty());

    let team = s.room(&rid("a")).await.unwrap().unwrap();
    assert_eq!(s.audience(&team).await.unwrap(), 2);
    let board = s.room(&rid("board")).await.unwrap().unwrap();
    assert_eq!(s.audience(&board).await.unwrap(), 3);
    // A user moving town leaves the old town's audience.
    s.upsert_user(&carol, &town("naka")).await.unwrap();
    assert_eq!(s.audience(&board).await.unwrap(), 2);
}

async fn audit_entries_and_filters(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, zoe) = (user("ann"), user("zoe"));
    team_room(s, "a", &ann).await; // room_created a by ann
    s.put_room(&rid("n"), &spec(RoomKind::Team, "n", "naka"), &zoe)
        .await
        .unwrap(); // room_created n by zoe
    let none = ProfilePatch::default();
    s.put_member(&rid("a"), &uid("bob"), None, &none, &short(&ann))
        .await
        .unwrap(); // member_added a bob
    s.put_member(
        &rid("a"),
        &uid("bob"),
        Some(MemberRole::Owner),
        &none,
        &short(&ann),
    )
    .await
    .unwrap(); // member_updated a bob
    let out = s
        .commit(&[Write::Audit(AuditRecord {
            actor: UserName {
                id: uid("bob"),
                name: Name::parse("Bob").unwrap(),
            },
            action: AuditAction::ReadHistory,
            room: rid("a"),
            target: None,
        })])
        .await
        .unwrap(); // read_history a by bob
    assert_eq!(out, vec![WriteOutcome::Audited]);
    s.remove_member(&rid("a"), &uid("bob"), &short(&zoe))
        .await
        .unwrap(); // member_removed a bob by zoe
    s.remove_member(&rid("a"), &uid("bob"), &short(&zoe))
        .await
        .unwrap(); // not a member: no entry

    let q = |room: Option<&str>, user: Option<&str>, town_: Option<&str>, limit: u32| AuditFilter {
        room: room.map(rid),
        user: user.map(uid),
        town: town_.map(town),
        limit,
        from: None,
        to: None,
        before: None,
    };
    let all = s.audit_query(&q(None, None, None, 100)).await.unwrap();
    let actions: Vec<AuditAction> = all.iter().map(|e| e.action).collect();
    use AuditAction as A;
    assert_eq!(
        actions,
        vec![
            A::MemberRemoved,
            A::ReadHistory,
            A::MemberUpdated,
            A::MemberAdded,
            A::RoomCreated,
            A::RoomCreated
        ]
    );
    assert_eq!((all[4].room.as_str(), all[5].room.as_str()), ("n", "a"));
    assert_eq!(all[0].actor, short(&zoe));
    assert_eq!(all[0].target, Some(uid("bob")));
    assert_eq!(all[0].room, rid("a"));
    assert_eq!(all[1].target, None);
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at));
    assert!(all[0].at.millis() > 0);

    let limited = s.audit_query(&q(None, None, None, 2)).await.unwrap();
    assert_eq!(limited, all[..2].to_vec());
    let room_n = s.audit_query(&q(Some("n"), None, None, 100)).await.unwrap();
    assert_eq!(room_n, vec![all[4].clone()]);
    // As actor or as target.
    let bob = s
        .audit_query(&q(None, Some("bob"), None, 100))
        .await
        .unwrap();
    assert_eq!(bob, all[..4].to_vec());
    let zoe_ = s
        .audit_query(&q(None, Some("zoe"), None, 100))
        .await
        .unwrap();
    assert_eq!(zoe_, vec![all[0].clone(), all[4].clone()]);
    let naka = s
        .audit_query(&q(None, None, Some("naka"), 100))
        .await
        .unwrap();
    assert_eq!(naka, vec![all[4].clone()]);
    let kami = s
        .audit_query(&q(None, None, Some(TOWN), 100))
        .await
        .unwrap();
    let mut expected = all[..4].to_vec();
    expected.push(all[5].clone());
    assert_eq!(kami, expected);
    let combined = s
        .audit_query(&q(Some("a"), Some("zoe"), Some(TOWN), 100))
        .await
        .unwrap();
    assert_eq!(combined, vec![all[0].clone()]);
    assert!(s
        .audit_query(&q(Some("a"), None, Some("naka"), 100))
        .await
        .unwrap()
        .is_empty());
}

/// Posts from many tasks at once, spread over `stores` (one per "node") and two rooms; every
/// room's seqs must come out 1..n with no duplicate and no hole.
async fn hammer(stores: Vec<Arc<dyn Store>>) {
    const TASKS: usize = 8;
    const COMMITS: usize = 15;
    let ann = user("ann");
    team_room(&*stores[0], "a", &ann).await;
    team_room(&*stores[0], "b", &ann).await;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = stores[t % stores.len()].clone();
        let author = user(&format!("u{t}"));
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..COMMITS {
                // Batches touch the rooms in both orders, posts only or with a read (two
                // forms of the Postgres commit).
                let (r1, r2) = if (t + i) % 2 == 0 {
                    ("a", "b")
                } else {
                    ("b", "a")
                };
                let mut batch = vec![post(r1, &author, &format!("c{i}"), "x")];
                if i % 3 != 2 {
                    batch.push(post(r2, &author, &format!("d{i}"), "y"));
                }
                if i % 3 == 0 {
                    batch.push(read(r1, "ann", u64::MAX));
                }
                if i % 2 == 0 {
                    // A reader that posts nowhere, beside the authors' own positions.
                    batch.push(read(r2, &format!("r{t}"), u64::MAX));
                }
                for o in store.commit(&batch).await.unwrap() {
                    match o {
                        WriteOutcome::Posted { message, new, .. } => {
                            assert!(new);
                            acked.push((message.room, message.seq, message.id));
                        }
                        // The task's first batch posted to both rooms, so every read to the
                        // end of a room stands at 1 or later.
                        WriteOutcome::Read { seq, .. } => assert!(seq >= 1, "{seq}"),
                        WriteOutcome::Audited => {}
                    }
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let per_task = COMMITS + (0..COMMITS).filter(|i| i % 3 != 2).count();
    assert_eq!(acked.len(), TASKS * per_task);
    let unique: HashSet<_> = acked.iter().map(|(r, s, _)| (r.clone(), *s)).collect();
    assert_eq!(unique.len(), acked.len(), "no seq acked twice");
    for room in ["a", "b"] {
        let stored = all_messages(&*stores[0], room).await;
        let n = acked.iter().filter(|(r, _, _)| r.as_str() == room).count() as u64;
        assert_contiguous(&stored, n);
        for (r, seq, id) in acked.iter().filter(|(r, _, _)| r.as_str() == room) {
            assert_eq!(&stored[(*seq - 1) as usize].id, id, "{r} {seq}");
        }
        let info = stores[0].room(&rid(room)).await.unwrap().unwrap();
        assert_eq!(info.last_seq, n);
    }
}

async fn concurrent_commits_are_contiguous(s: Arc<dyn Store>) {
    hammer(vec![s]).await;
}

async fn post_to_unknown_room_fails_cleanly(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    let err = s
        .commit(&[
            post("a", &ann, "c1", "ok"),
            post("nowhere", &ann, "c2", "lost"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    // The whole batch was rolled back, and the store still works.
    assert!(all_messages(s, "a").await.is_empty());
    let (m, new) = posted(&commit_one(s, post("a", &ann, "c1", "ok")).await);
    assert_eq!((m.seq, new), (1, true));
}

// ---------------------------------------------------------------------------------------------
// Set-based group commit: one batch must answer exactly as its writes committed one at a time.

fn audit_write(actor: &str, room: &str, target: &str) -> Write {
    Write::Audit(AuditRecord {
        actor: UserName {
            id: uid(actor),
            name: Name::parse(format!("{actor} san")).unwrap(),
        },
        action: AuditAction::ReadHistory,
        room: rid(room),
        target: Some(uid(target)),
    })
}

async fn batch_mixes_rooms_posts_and_reads(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    team_room(s, "c", &ann).await;
    s.commit(&[post("a", &ann, "old1", "x"), post("a", &ann, "old2", "y")])
        .await
        .unwrap(); // a: last_seq 2
    let out = s
        .commit(&[
            read("a", "bo", 99), // clamped to a's last_seq before this batch's posts: 2
            read("b", "bo", 5),  // b is empty so far: nothing moves
            post("a", &ben, "p1", "a3"),
            post("b", &ben, "p2", "b1"),
            read("a", "cy", 99), // after one post of this batch: 3
            post("a", &ann, "p3", "a4"),
            post("b", &ann, "p4", "b2"),
            post("a", &ben, "p5", "a5"),
            read("b", "bo", 99), // b after both its posts: 2
            read("a", "bo", 4),
            read("c", "bo", 7), // a room without messages: clamped to 0
            read("nowhere", "bo", 7),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 12);
    let r = |i: usize| {
        let (seq, moved, at) = read_outcome(&out[i]);
        (seq, moved, at.millis() > 0)
    };
    let p = |i: usize| {
        let (m, new) = posted(&out[i]);
        (m.room.as_str().to_owned(), m.seq, m.body, new)
    };
    assert_eq!(r(0), (2, true, true));
    assert_eq!(r(1), (0, false, false));
    assert_eq!(p(2), ("a".into(), 3, "a3".into(), true));
    assert_eq!(p(3), ("b".into(), 1, "b1".into(), true));
    assert_eq!(r(4), (3, true, true));
    assert_eq!(p(5), ("a".into(), 4, "a4".into(), true));
    assert_eq!(p(6), ("b".into(), 2, "b2".into(), true));
    assert_eq!(p(7), ("a".into(), 5, "a5".into(), true));
    assert_eq!(r(8), (2, true, true));
    assert_eq!(r(9), (4, true, true));
    assert_eq!(r(10), (0, false, false));
    assert_eq!(r(11), (0, false, false));
    // One `now` per batch: every move and message of it carries the same time.
    let at = posted(&out[2]).0.at;
    assert!(out.iter().all(|o| match o {
        WriteOutcome::Posted { message, .. } => message.at == at,
        WriteOutcome::Read { moved, at: t, .. } => !moved || *t == at,
        WriteOutcome::Audited => true,
    }));

    let a = all_messages(s, "a").await;
    assert_contiguous(&a, 5);
    let bodies: Vec<&str> = a.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["x", "y", "a3", "a4", "a5"]);
    assert_contiguous(&all_messages(s, "b").await, 2);
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, 5);
    assert_eq!(s.room(&rid("b")).await.unwrap().unwrap().last_seq, 2);
    assert_eq!(s.room(&rid("c")).await.unwrap().unwrap().last_seq, 0);
    let pos = |room: &str, u: &str| {
        let (room, u) = (rid(room), uid(u));
        async move { read_seq(s, &room, &u).await.unwrap() }
    };
    assert_eq!(pos("a", "bo").await, 4);
    assert_eq!(pos("b", "bo").await, 2);
    assert_eq!(pos("c", "bo").await, 0);
    assert_eq!(pos("a", "cy").await, 3);
    // Authors: to their last post of the batch in each room.
    assert_eq!(pos("a", "ben").await, 5);
    assert_eq!(pos("a", "ann").await, 4);
    assert_eq!(pos("b", "ben").await, 1);
    assert_eq!(pos("b", "ann").await, 2);
    // Nothing recorded for rooms only clamped to 0.
    let receipts = s.receipts(&rid("c")).await.unwrap();
    assert!(receipts.is_empty(), "{receipts:?}");
}

async fn duplicate_client_id_within_one_batch(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    let out = s
        .commit(&[
            post("a", &ann, "k", "first"),
            post("b", &ann, "k", "other room"), // another key: new
            post("a", &ben, "k", "other author"), // another key: new
            read("a", "ann", 0),
            post("a", &ann, "k", "second"), // the same key: the first's answer
            post("a", &ann, "k", "third"),
            post("a", &ann, "k2", "next"),
        ])
        .await
        .unwrap();
    let (first, new) = posted(&out[0]);
    assert_eq!((first.seq, first.body.as_str(), new), (1, "first", true));
    assert_eq!(
        (posted(&out[1]).0.room.as_str(), posted(&out[1]).0.seq),
        ("b", 1)
    );
    assert_eq!(posted(&out[2]).0.seq, 2);
    assert_eq!(posted(&out[2]).0.author, ben);
    assert_eq!(read_outcome(&out[3]), (1, false, first.at));
    assert_eq!(posted(&out[4]), (first.clone(), false));
    assert_eq!(posted(&out[5]), (first.clone(), false));
    let (next, new) = posted(&out[6]);
    assert_eq!((next.seq, new), (3, true));
    let a = all_messages(s, "a").await;
    assert_contiguous(&a, 3);
    assert_eq!(a[0], first, "stored as answered");
    assert_eq!(read_seq(s, &rid("a"), &ann.id).await.unwrap(), 3);
    assert_eq!(read_seq(s, &rid("a"), &ben.id).await.unwrap(), 2);
}

async fn retry_of_committed_post_in_batch_with_new_posts(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    let (c1, _) = posted(&commit_one(s, post("a", &ann, "c1", "one")).await);
    let (d1, _) = posted(&commit_one(s, post("b", &ben, "d1", "b one")).await);
    commit_one(s, post("a", &ben, "c2", "two")).await;
    let out = s
        .commit(&[
            post("a", &ann, "c3", "three"),
            post("a", &ann, "c1", "one again"),
            post("b", &ben, "d1", "b again"),
            post("b", &ann, "d2", "b two"),
            post("a", &ann, "c1", "and again"),
            post("a", &ben, "c4", "four"),
        ])
        .await
        .unwrap();
    let (m, new) = posted(&out[0]);
    assert_eq!((m.seq, new), (3, true));
    assert_eq!(posted(&out[1]), (c1.clone(), false));
    assert_eq!(posted(&out[2]), (d1.clone(), false));
    let (m, new) = posted(&out[3]);
    assert_eq!((m.room.as_str(), m.seq, new), ("b", 2, true));
    assert_eq!(posted(&out[4]), (c1.clone(), false));
    let (m, new) = posted(&out[5]);
    assert_eq!((m.seq, new), (4, true));
    assert_contiguous(&all_messages(s, "a").await, 4);
    assert_contiguous(&all_messages(s, "b").await, 2);
    // A retry moves no read position (not back to the retried post's seq either).
    assert_eq!(read_seq(s, &rid("a"), &ann.id).await.unwrap(), 3);
    assert_eq!(read_seq(s, &rid("b"), &ben.id).await.unwrap(), 1);
    // A batch of retries only: no seq is taken.
    let out = s
        .commit(&[post("a", &ann, "c1", "x"), post("b", &ben, "d1", "y")])
        .await
        .unwrap();
    assert_eq!(posted(&out[0]), (c1, false));
    assert_eq!(posted(&out[1]), (d1, false));
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, 4);
    assert_eq!(s.room(&rid("b")).await.unwrap().unwrap().last_seq, 2);
}

async fn repeated_reads_of_one_pair_in_a_batch(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room_with_posts(s, "a", &ann, 5).await;
    let (_, _, before) = read_outcome(&commit_one(s, read("a", "bo", 2)).await);
    // Apart, so that this batch's `now` differs from the first move's.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let out = s
        .commit(&[
            read("a", "bo", 1), // behind the stored position
            read("a", "bo", 2), // at it
            read("a", "bo", 4),
            read("a", "bo", 4), // not further
            read("a", "bo", 3), // backwards
            read("a", "bo", 5),
        ])
        .await
        .unwrap();
    let outs: Vec<(u64, bool, Timestamp)> = out.iter().map(read_outcome).collect();
    let now = outs[2].2;
    assert!(now > before, "{now:?} {before:?}");
    assert_eq!(
        outs,
        vec![
            (2, false, before),
            (2, false, before),
            (4, true, now),
            (4, false, now),
            (4, false, now),
            (5, true, now)
        ]
    );
    assert_eq!(read_seq(s, &rid("a"), &uid("bo")).await.unwrap(), 5);
    let receipts = s.receipts(&rid("a")).await.unwrap();
    let bo = receipts
        .iter()
        .find(|r| r.user.id.as_str() == "bo")
        .unwrap();
    assert_eq!((bo.seq, bo.at), (5, now));
}

async fn author_reads_around_own_posts_in_a_batch(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben) = (user("ann"), user("ben"));
    team_room(s, "a", &ann).await;
    s.commit(&[post("a", &ben, "b1", "x"), post("a", &ben, "b2", "y")])
        .await
        .unwrap();
    let out = s
        .commit(&[
            read("a", "ann", 1),
            post("a", &ann, "a1", "mine"), // seq 3: ann's position moves to 3
            read("a", "ann", 2),           // behind her own post: stays
            read("a", "ann", 99),          // clamped to 3: not further
            post("a", &ben, "b3", "z"),    // seq 4
            read("a", "ann", 99),          // now 4
            read("a", "ben", 1),           // ben's own post moved him to 4
        ])
        .await
        .unwrap();
    let (r0, p1) = (read_outcome(&out[0]), posted(&out[1]).0);
    let now = p1.at;
    assert_eq!(r0, (1, true, now));
    assert_eq!(p1.seq, 3);
    assert_eq!(read_outcome(&out[2]), (3, false, now));
    assert_eq!(read_outcome(&out[3]), (3, false, now));
    assert_eq!(posted(&out[4]).0.seq, 4);
    assert_eq!(read_outcome(&out[5]), (4, true, now));
    assert_eq!(read_outcome(&out[6]), (4, false, now));
    assert_eq!(read_seq(s, &rid("a"), &ann.id).await.unwrap(), 4);
    assert_eq!(read_seq(s, &rid("a"), &ben.id).await.unwrap(), 4);
}

async fn audit_entries_keep_batch_order(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    let out = s
        .commit(&[
            audit_write("zed", "a", "t1"),
            post("a", &ann, "c1", "x"),
            audit_write("ann", "a", "t2"),
            read("a", "bo", 1),
            audit_write("bob", "b", "t3"),
            audit_write("ann", "a", "t4"),
        ])
        .await
        .unwrap();
    assert_eq!(out[0], WriteOutcome::Audited);
    assert_eq!(out[2], WriteOutcome::Audited);
    assert_eq!(out[4], WriteOutcome::Audited);
    assert_eq!(out[5], WriteOutcome::Audited);
    assert_eq!(read_outcome(&out[3]).0, 1);
    let all = s
        .audit_query(&AuditFilter {
            room: None,
            user: None,
            town: None,
            limit: 100,
            from: None,
            to: None,
            before: None,
        })
        .await
        .unwrap();
    // Newest first; the room_created of "a" is the oldest.
    let got: Vec<(&str, &str, &str)> = all
        .iter()
        .filter(|e| e.action == AuditAction::ReadHistory)
        .map(|e| {
            (
                e.actor.id.as_str(),
                e.room.as_str(),
                e.target.as_ref().map_or("", |t| t.as_str()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ann", "a", "t4"),
            ("bob", "b", "t3"),
            ("ann", "a", "t2"),
            ("zed", "a", "t1")
        ]
    );
    assert_eq!(all[0].actor.name.as_str(), "ann san");
    assert_eq!(all.last().unwrap().action, AuditAction::RoomCreated);
    // A batch of audit entries only.
    s.commit(&[audit_write("cy", "a", "t5")]).await.unwrap();
    let newest = s
        .audit_query(&AuditFilter {
            room: None,
            user: None,
            town: None,
            limit: 1,
            from: None,
            to: None,
            before: None,
        })
        .await
        .unwrap();
    assert_eq!(newest[0].target, Some(uid("t5")));
}

/// More rows of every kind than one statement takes (`batch::rows_per_statement`, at most 512).
async fn batch_larger_than_one_chunk(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    let (old, _) = posted(&commit_one(s, post("a", &ann, "c7", "old")).await);
    const POSTS: usize = 700;
    const READERS: usize = 600;
    const AUDITS: usize = 530;
    let mut writes = Vec::new();
    for i in 0..POSTS {
        let room = if i % 3 == 0 { "b" } else { "a" };
        let author = user(&format!("w{}", i % 7));
        writes.push(post(
            room,
            &author,
            &format!("c{i}"),
            &format!("{room} {i}"),
        ));
    }
    // A retry of the committed post, and in-batch repeats.
    writes.push(post("a", &ann, "c7", "retried"));
    writes.push(post("a", &user("w1"), "c1", "repeat"));
    for i in 0..READERS {
        writes.push(read("a", &format!("r{i}"), i as u64));
    }
    for i in 0..AUDITS {
        writes.push(audit_write("ann", "a", &format!("t{i}")));
    }
    let out = s.commit(&writes).await.unwrap();
    assert_eq!(out.len(), writes.len());
    let a_posts = POSTS - POSTS.div_ceil(3);
    let a_last = 1 + a_posts as u64;
    let (mut next_a, mut next_b) = (2, 1);
    for (i, o) in out[..POSTS].iter().enumerate() {
        let (m, new) = posted(o);
        assert!(new);
        let expected = if i % 3 == 0 { &mut next_b } else { &mut next_a };
        assert_eq!(m.seq, *expected, "post {i}");
        *expected += 1;
    }
    assert_eq!(posted(&out[POSTS]), (old, false));
    assert_eq!(posted(&out[POSTS + 1]), (posted(&out[1]).0, false));
    for i in 0..READERS {
        let (seq, moved, _) = read_outcome(&out[POSTS + 2 + i]);
        assert_eq!((seq, moved), ((i as u64).min(a_last), i > 0), "reader {i}");
    }
    assert!(out[POSTS + 2 + READERS..]
        .iter()
        .all(|o| *o == WriteOutcome::Audited));

    let a = all_messages(s, "a").await;
    assert_contiguous(&a, a_last);
    assert_contiguous(&all_messages(s, "b").await, POSTS.div_ceil(3) as u64);
    assert_eq!(s.room(&rid("a")).await.unwrap().unwrap().last_seq, a_last);
    let receipts = s.receipts(&rid("a")).await.unwrap();
    // Readers r1.. (r0 read 0) and the seven authors.
    assert_eq!(receipts.len(), READERS - 1 + 7 + 1);
    for r in &receipts {
        if let Some(i) = r.user.id.as_str().strip_prefix('r') {
            let i: u64 = i.parse().unwrap();
            assert_eq!(r.seq, i.min(a_last));
        }
    }
    let audit = s
        .audit_query(&AuditFilter {
            room: None,
            user: None,
            town: None,
            limit: 10_000,
            from: None,
            to: None,
            before: None,
        })
        .await
        .unwrap();
    let targets: Vec<String> = audit
        .iter()
        .filter_map(|e| e.target.as_ref().map(|t| t.as_str().to_owned()))
        .collect();
    let expected: Vec<String> = (0..AUDITS).rev().map(|i| format!("t{i}")).collect();
    assert_eq!(targets, expected, "ids follow batch order across chunks");
}

/// What an outcome says, without the room (the two runs use different rooms), message ids and
/// times (they differ between batches).
fn comparable(o: &WriteOutcome) -> String {
    match o {
        WriteOutcome::Posted {
            message: m, new, ..
        } => format!(
            "post {} {} {} {} {new}",
            m.seq, m.client_id, m.author.id, m.body
        ),
        WriteOutcome::Read { seq, moved, at } => {
            format!("read {seq} {moved} {}", at.millis() > 0)
        }
        WriteOutcome::Audited => "audited".into(),
    }
}

/// Random batches (seeded, so a failure reproduces) committed whole to rooms x0..x2 and one
/// write at a time to rooms y0..y2 of the same store: answers and resulting state must agree.
async fn batch_equals_one_write_at_a_time(s: Arc<dyn Store>) {
    use rand::{Rng, SeedableRng};
    let s = &*s;
    let ann = user("ann");
    for r in ["x0", "x1", "x2", "y0", "y1", "y2"] {
        team_room(s, r, &ann).await;
    }
    let users: Vec<UserRef> = ["u0", "u1", "u2", "u3"].iter().map(|u| user(u)).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_ba7c);
    for round in 0..8 {
        let n = rng.gen_range(1..=60);
        // (room index, or 3 for a room that does not exist, which only reads use) and a write.
        let mut plan: Vec<(usize, u8, usize, u64)> = Vec::new();
        for _ in 0..n {
            let kind = rng.gen_range(0..10u8);
            let room = if kind >= 8 {
                rng.gen_range(0..4)
            } else {
                rng.gen_range(0..3)
            };
            plan.push((room, kind, rng.gen_range(0..4), rng.gen_range(0..12)));
        }
        let write = |prefix: &str, &(room, kind, u, x): &(usize, u8, usize, u64)| {
            let room = if room == 3 {
                "nowhere".to_owned()
            } else {
                format!("{prefix}{room}")
            };
            match kind {
                // Few client ids: retries and in-batch repeats are frequent.
                0..=4 => post(
                    &room,
                    &users[u],
                    &format!("k{}", x % 6),
                    &format!("b{round}"),
                ),
                5..=8 => read(
                    &room,
                    users[u].id.as_str(),
                    if x == 11 { u64::MAX } else { x * 3 },
                ),
                _ => audit_write(users[u].id.as_str(), &room, "t"),
            }
        };
        let batch: Vec<Write> = plan.iter().map(|p| write("x", p)).collect();
        let together: Vec<String> = s
            .commit(&batch)
            .await
            .unwrap()
            .iter()
            .map(comparable)
            .collect();
        let mut apart = Vec::new();
        for p in &plan {
            apart.push(comparable(&commit_one(s, write("y", p)).await));
        }
        assert_eq!(together, apart, "round {round}: {batch:?}");
    }
    for i in 0..3 {
        let (x, y) = (format!("x{i}"), format!("y{i}"));
        let strip = |ms: Vec<Message>| {
            ms.into_iter()
                .map(|m| (m.seq, m.client_id, m.author, m.body))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            strip(all_messages(s, &x).await),
            strip(all_messages(s, &y).await)
        );
        let positions = |room: String| async move {
            s.receipts(&rid(&room))
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.user.id, r.seq))
                .collect::<Vec<_>>()
        };
        assert_eq!(positions(x).await, positions(y).await);
    }
}

// ---------------------------------------------------------------------------------------------
// Backend-specific

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/yui.db");
    let ann = user("ann");
    let first = {
        let store = SqliteStore::open(&path).await.unwrap();
        team_room(&store, "a", &ann).await;
        let out = store
            .commit(&[post("a", &ann, "c1", "kept"), read("a", "ben", 1)])
            .await
            .unwrap();
        store.close().await;
        posted(&out[0]).0
    };
    let store = SqliteStore::open(&path).await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    assert_eq!(all_messages(&store, "a").await, vec![first.clone()]);
    assert_eq!(read_seq(&store, &rid("a"), &uid("ben")).await.unwrap(), 1);
    assert_eq!(store.room(&rid("a")).await.unwrap().unwrap().last_seq, 1);
    // A retry after the restart is still recognized.
    let (again, new) = posted(&commit_one(&store, post("a", &ann, "c1", "other")).await);
    assert_eq!((again, new), (first, false));
    // And the pragmas that make an ack durable are on.
    assert_eq!(store.writer_pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(
        store.writer_pragma("synchronous").await.unwrap(),
        "2",
        "synchronous=FULL"
    );
    assert_eq!(store.writer_pragma("foreign_keys").await.unwrap(), "1");
}

/// A fresh SQLite store in a temporary directory (kept while the first value lives), its
/// database's path, and team room `a` created by ann.
async fn sqlite_with_team_room() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore, UserRef) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yui.db");
    let ann = user("ann");
    let store = SqliteStore::open(&path).await.unwrap();
    team_room(&store, "a", &ann).await;
    (dir, path, store, ann)
}

/// `(mxFrame, nBackfill)` from the WAL-index in `<database>-shm`: the frames in the WAL and
/// how many of them a checkpoint has copied into the database file
/// (https://www.sqlite.org/walformat.html: the first header's `mxFrame` at byte 16, the
/// checkpoint info's `nBackfill` at byte 96, native byte order).
fn wal_index(path: &std::path::Path) -> (u32, u32) {
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    let bytes = std::fs::read(shm).unwrap();
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(96))
}

/// The WAL is checkpointed by a thread of its own while the hub runs, not by the writer
/// between a commit and its acks: the writer's automatic checkpoint is only a backstop, and
/// what is committed reaches the database file within a few of the checkpointer's ticks
/// without another write. Closing stops that thread first, so the writer's connection is the
/// last and leaves no WAL behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_off_the_commit_path() {
    let (_dir, path, store, ann) = sqlite_with_team_room().await;
    assert_eq!(
        store.writer_pragma("wal_autocheckpoint").await.unwrap(),
        "4000",
        "the writer checkpoints only as a backstop"
    );
    for i in 0..20 {
        commit_one(&store, post("a", &ann, &format!("c{i}"), "a note")).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (frames, backfilled) = wal_index(&path);
        if frames > 0 && backfilled == frames {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not checkpointed in the background: {backfilled} of {frames} frames"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(all_messages(&store, "a").await.len(), 20);
    store.close().await;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        !std::path::Path::new(&wal).exists(),
        "the last connection to close checkpoints and removes the WAL"
    );
}

/// A search-index job commits without waiting for the disk (its rows can always be made again
/// from the queue), and leaves the write connection on `synchronous=FULL` for the posts
/// committed after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_index_jobs_leave_commits_synchronous() {
    let (_dir, _path, store, ann) = sqlite_with_team_room().await;
    for i in 0..3 {
        commit_one(
            &store,
            post("a", &ann, &format!("c{i}"), "転倒 right elbow"),
        )
        .await;
    }
    assert_eq!(store.index_search(1000).await.unwrap(), 3);
    assert_eq!(
        store.writer_pragma("synchronous").await.unwrap(),
        "2",
        "back on synchronous=FULL after the index job"
    );
    let (again, new) = posted(&commit_one(&store, post("a", &ann, "c3", "after")).await);
    assert!(new);
    assert_eq!(again.seq, 4);
    store.close().await;
}

/// The database as the sqlx-based store left it: sqlx's own migrator over the same files.
async fn sqlx_made_database(path: &std::path::Path) -> sqlx::SqlitePool {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();
    pool
}

async fn migration_rows(pool: &sqlx::SqlitePool) -> Vec<(i64, String, bool, Vec<u8>)> {
    sqlx::query_as("SELECT version, description, success, checksum FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_opens_a_database_made_by_the_sqlx_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yui.db");
    let pool = sqlx_made_database(&path).await;
    // Rows as the old store wrote them.
    for sql in [
        "INSERT INTO rooms (id, kind, title, town, last_seq, created_at) \
         VALUES ('a', 'team', 'A', 'kamiyama', 1, 1)",
        "INSERT INTO users (id, name, profession, org, town, from_token, updated_at) \
         VALUES ('ann', 'ann san', 'nurse', 'Kamiyama Clinic', 'kamiyama', 1, 1)",
        "INSERT INTO members (room, user_id, role, added_at) VALUES ('a', 'ann', 'owner', 1)",
        "INSERT INTO messages (room, seq, id, client_id, author_id, author_name, \
         author_profession, author_org, kind, body, at) VALUES ('a', 1, 'm-1', 'c1', 'ann', \
         'ann san', 'nurse', 'Kamiyama Clinic', 'note', 'old', 5)",
        "INSERT INTO read_positions (room, user_id, seq, at) VALUES ('a', 'ann', 1, 5)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let before = migration_rows(&pool).await;
    assert_eq!(
        before.len(),
        sqlx::migrate!("./migrations/sqlite").iter().count()
    );
    pool.close().await;

    // Opens without applying anything twice; the old rows are there; commits go on.
    let store = SqliteStore::open(&path).await.unwrap();
    let ann = user("ann");
    let old = all_messages(&store, "a").await;
    assert_eq!(old.len(), 1);
    assert_eq!((old[0].id.as_str(), old[0].body.as_str()), ("m-1", "old"));
    let (retry, new) = posted(&commit_one(&store, post("a", &ann, "c1", "again")).await);
    assert_eq!((retry, new), (old[0].clone(), false));
    let (m, new) = posted(&commit_one(&store, post("a", &ann, "c2", "next")).await);
    assert_eq!((m.seq, new), (2, true));
    store.close().await;
    drop(store);

    // And the old store's migrator still accepts the database: nothing new recorded.
    let pool = sqlx_made_database(&path).await;
    assert_eq!(migration_rows(&pool).await, before);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_made_here_opens_with_the_sqlx_migrator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yui.db");
    let store = SqliteStore::open(&path).await.unwrap();
    team_room(&store, "a", &user("ann")).await;
    store.close().await;
    drop(store);
    // sqlx validates every recorded migration (version, checksum, success) and applies none.
    let pool = sqlx_made_database(&path).await;
    let rows = migration_rows(&pool).await;
    let expected: Vec<_> = sqlx::migrate!("./migrations/sqlite")
        .iter()
        .map(|m| {
            (
                m.version,
                m.description.to_string(),
                true,
                m.checksum.to_vec(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    let rooms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rooms, 1);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_commit_contiguously() {
    let Some(db) = pg_database().await else {
        return;
    };
    // Two nodes starting at once: both migrate under sqlx's advisory lock.
    let (a, b) = tokio::join!(
        PostgresStore::connect(&db.url, 4),
        PostgresStore::connect(&db.url, 4)
    );
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
    hammer(vec![a.clone(), b.clone()]).await;
    // A retry on the other node gets the first answer.
    let ann = user("ann");
    let (m, _) = posted(&commit_one(&*a, post("a", &ann, "retry", "one")).await);
    let (again, new) = posted(&commit_one(&*b, post("a", &ann, "retry", "two")).await);
    assert_eq!((again, new), (m, false));
}

/// A read waits for its room's row while another commit moves (or first inserts) the same read
/// position: it is answered from the position as that commit left it, not from a snapshot taken
/// before the wait. (A commit that reads the positions in the statement that waits for the room
/// sees the older snapshot; an attempt at one round trip for reads had to lock the stored rows
/// after the room and look up rows inserted meanwhile, `docs/benchmarks.md` 2026-12-08.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_answers_a_position_moved_while_it_waited() {
    use sqlx::Connection;
    let Some(db) = pg_database().await else {
        return;
    };
    let store = Arc::new(PostgresStore::connect(&db.url, 4).await.unwrap());
    let s: &dyn Store = &*store;
    let ann = user("ann");
    team_room_with_posts(s, "a", &ann, 6).await;
    commit_one(s, read("a", "ben", 2)).await;
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // (user, what the other commit does while the read waits, the read's seq)
    let cases = [
        (
            "ben",
            "UPDATE read_positions SET seq = 5, at = 77 WHERE room = 'a' AND user_id = 'ben'",
            4,
        ),
        (
            "cy",
            "INSERT INTO read_positions (room, user_id, seq, at) VALUES ('a', 'cy', 5, 77)",
            3,
        ),
    ];
    for (reader, other, seq) in cases {
        let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT id FROM rooms WHERE id = 'a' FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlx::query(other).execute(&mut holder).await.unwrap();
        let pending = {
            let store = store.clone();
            let write = read("a", reader, seq);
            tokio::spawn(async move { store.commit(&[write]).await })
        };
        // Until the read's statement waits for the room's row.
        let started = std::time::Instant::now();
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = $1 AND wait_event_type = 'Lock'",
            )
            .bind(&db.name)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(started.elapsed().as_secs() < 10, "the read never waited");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        let out = pending.await.unwrap().unwrap();
        assert_eq!(
            out.iter().map(read_outcome).collect::<Vec<_>>(),
            vec![(5, false, Timestamp::from_millis(77))],
            "{reader}"
        );
        assert_eq!(read_seq(s, &rid("a"), &uid(reader)).await.unwrap(), 5);
    }
}

#[test]
fn database_url_rewriting() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// Every member add, update and removal and every room update increments the room's membership
/// version in its own transaction, and each new post's outcome carries the version its commit
/// read: what the hub compares with its access data before fanning a message out.
async fn members_version_moves_with_membership(s: Arc<dyn Store>) {
    let owner = user("owner");
    let nurse = user("nurse");
    team_room(s.as_ref(), "mv", &owner).await;
    let version = |s: Arc<dyn Store>| async move {
        s.room(&rid("mv")).await.unwrap().unwrap().members_version
    };
    let v0 = version(s.clone()).await;
    let posted_version = |o: &WriteOutcome| match o {
        WriteOutcome::Posted {
            members_version,
            new: true,
            ..
        } => *members_version,
        other => panic!("expected a new post, got {other:?}"),
    };
    let out = s.commit(&[post("mv", &owner, "c1", "a")]).await.unwrap();
    assert_eq!(posted_version(&out[0]), v0);

    let added = s
        .put_member(
            &rid("mv"),
            &nurse.id,
            None,
            &ProfilePatch::default(),
            &short(&owner),
        )
        .await
        .unwrap();
    assert_eq!(added, PutMember::Added);
    let v1 = version(s.clone()).await;
    assert!(v1 > v0, "add: {v0} -> {v1}");
    s.put_member(
        &rid("mv"),
        &nurse.id,
        Some(MemberRole::Owner),
        &ProfilePatch::default(),
        &short(&owner),
    )
    .await
    .unwrap();
    let v2 = version(s.clone()).await;
    assert!(v2 > v1, "update: {v1} -> {v2}");
    let out = s.commit(&[post("mv", &nurse, "c2", "b")]).await.unwrap();
    assert_eq!(posted_version(&out[0]), v2);

    assert!(s
        .remove_member(&rid("mv"), &nurse.id, &short(&owner))
        .await
        .unwrap());
    let v3 = version(s.clone()).await;
    assert!(v3 > v2, "remove: {v2} -> {v3}");
    let r = s
        .put_room(&rid("mv"), &spec(RoomKind::Team, "renamed", TOWN), &owner)
        .await
        .unwrap();
    assert!(matches!(r, PutRoom::Updated(_)), "{r:?}");
    let v4 = version(s.clone()).await;
    assert!(v4 > v3, "room update: {v3} -> {v4}");
    // A batch of posts (and a retry of an earlier one) reads the version once per room.
    let out = s
        .commit(&[
            post("mv", &owner, "c3", "c"),
            post("mv", &owner, "c1", "a"),
            post("mv", &owner, "c4", "d"),
        ])
        .await
        .unwrap();
    assert_eq!(posted_version(&out[0]), v4);
    assert!(matches!(out[1], WriteOutcome::Posted { new: false, .. }));
    assert_eq!(posted_version(&out[2]), v4);
}

// ---------------------------------------------------------------------------------------------
// Care notes (PROTOCOL.md 5.2)

fn note(room: &str, author: &UserRef, client_id: &str, body: Option<&str>) -> Write {
    let Write::Post {
        room,
        author,
        client_id,
        kind,
        ..
    } = post(room, author, client_id, "x")
    else {
        unreachable!()
    };
    Write::Post {
        room,
        author,
        client_id,
        kind,
        body: body.map(|b| Body::parse(b).unwrap()),
        priority: Priority::Normal,
        mentions: Vec::new(),
        revision: None,
        attachments: Vec::new(),
    }
}

fn with(w: Write, p: Priority, m: &[&UserRef], r: Option<Revision>) -> Write {
    match w {
        Write::Post {
            room,
            author,
            client_id,
            kind,
            body,
            ..
        } => Write::Post {
            room,
            author,
            client_id,
            kind,
            body,
            priority: p,
            mentions: m.iter().map(|u| short(u)).collect(),
            revision: r,
            attachments: Vec::new(),
        },
        other => other,
    }
}

fn counts(rooms: &[RoomSummary], room: &str) -> (u64, u64, u64) {
    let r = rooms.iter().find(|r| r.room.as_str() == room).unwrap();
    (r.unread, r.urgent, r.mentions)
}

async fn care_notes_fields_round_trip_and_count_unread(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben, carl) = (user("ann"), user("ben"), user("carl"));
    for u in [&ann, &ben, &carl] {
        s.upsert_user(u, &town(TOWN)).await.unwrap();
    }
    team_room(s, "n", &ann).await;
    team_room(s, "m", &ann).await;
    let actor = short(&ann);
    for u in [&ben, &carl] {
        s.put_member(&rid("n"), &u.id, None, &ProfilePatch::default(), &actor)
            .await
            .unwrap();
    }
    // One batch, two rooms, several messages with mentions (one insert of mention rows).
    let batch = [
        with(
            note("n", &ann, "u1", Some("転倒")),
            Priority::Urgent,
            &[&ben, &carl],
            None,
        ),
        with(
            note("m", &ann, "m1", Some("other room")),
            Priority::Urgent,
            &[&ben],
            None,
        ),
        with(
            note("n", &ann, "u2", Some("様子見")),
            Priority::Normal,
            &[&ben],
            None,
        ),
        with(
            note("n", &ann, "u3", None),
            Priority::Normal,
            &[],
            Some(Revision::Retracts(1)),
        ),
        with(
            note("n", &ann, "u4", Some("訂正")),
            Priority::Urgent,
            &[],
            Some(Revision::Replaces(1)),
        ),
    ];
    let out = s.commit(&batch).await.unwrap();
    let first = posted(&out[0]).0;
    assert_eq!(first.priority, Priority::Urgent);
    assert_eq!(first.mentions, vec![short(&ben), short(&carl)]);

    let stored = all_messages(s, "n").await;
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[0], first, "stored as committed");
    assert_eq!(stored[0].body, "転倒");
    assert_eq!(stored[1].mentions, vec![short(&ben)]);
    assert_eq!(stored[1].priority, Priority::Normal);
    assert_eq!((stored[2].retracts, stored[2].replaces), (Some(1), None));
    assert_eq!(stored[2].body, "");
    assert_eq!((stored[3].replaces, stored[3].retracts), (Some(1), None));
    // Catch-up pages carry neither confirms nor revised; history pages do.
    assert!(stored
        .iter()
        .all(|m| m.confirms.is_none() && m.revised.is_none()));
    let (page, _) = s.messages_before(&rid("n"), None, 10).await.unwrap();
    let got: Vec<(u64, Option<u64>, Option<u64>)> = page
        .iter()
        .map(|m| (m.seq, m.confirms, m.revised))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some(0), Some(4)),
            (2, Some(0), None),
            (3, Some(0), None),
            (4, Some(0), None)
        ]
    );
    // Another room's revisions are not this room's.
    let (other, _) = s.messages_before(&rid("m"), None, 10).await.unwrap();
    assert_eq!(other[0].revised, None);

    // A retry answers the stored message, every field included.
    let again = s
        .commit(&[with(
            note("n", &ann, "u1", Some("changed")),
            Priority::Normal,
            &[],
            None,
        )])
        .await
        .unwrap();
    let (m, new) = posted(&again[0]);
    assert!(!new);
    assert_eq!(m, first);
    assert_eq!(
        s.posted(&rid("n"), &ann.id, &ClientId::parse("u1").unwrap())
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.posted(&rid("n"), &ben.id, &ClientId::parse("u1").unwrap())
            .await
            .unwrap(),
        None
    );

    // Unread counts: ben has all 4 unread, 2 urgent (1 and 4), 2 mentions (1 and 2).
    let rooms = s.rooms_for(&ben.id, &town(TOWN)).await.unwrap();
    assert_eq!(counts(&rooms, "n"), (4, 2, 2));
    let rooms = s.rooms_for(&carl.id, &town(TOWN)).await.unwrap();
    assert_eq!(counts(&rooms, "n"), (4, 2, 1));
    let rooms = s.rooms_for(&ann.id, &town(TOWN)).await.unwrap();
    assert_eq!(counts(&rooms, "n"), (0, 0, 0));
    assert_eq!(counts(&rooms, "m"), (0, 0, 0));
    commit_one(s, read("n", "ben", 1)).await;
    let rooms = s.rooms_for(&ben.id, &town(TOWN)).await.unwrap();
    assert_eq!(counts(&rooms, "n"), (3, 1, 1));
    let one = s.room_summary(&rid("n"), &ben.id).await.unwrap().unwrap();
    assert_eq!((one.urgent, one.mentions), (1, 1));
    commit_one(s, read("n", "ben", 4)).await;
    let one = s.room_summary(&rid("n"), &ben.id).await.unwrap().unwrap();
    assert_eq!((one.unread, one.urgent, one.mentions), (0, 0, 0));
}

async fn confirmations_are_kept_once(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben, carl) = (user("ann"), user("ben"), user("carl"));
    for u in [&ann, &ben] {
        s.upsert_user(u, &town(TOWN)).await.unwrap();
    }
    team_room(s, "c", &ann).await;
    s.commit(&[post("c", &ann, "c1", "one"), post("c", &ann, "c2", "two")])
        .await
        .unwrap();
    let r = rid("c");
    let (at, new) = s.confirm(&r, 1, &ben.id).await.unwrap();
    assert!(new);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (again, new) = s.confirm(&r, 1, &ben.id).await.unwrap();
    assert!(!new);
    assert_eq!(again, at, "a second confirmation keeps the first time");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // Carl is not in the directory: a default profile, as in receipts.
    let (later, new) = s.confirm(&r, 1, &carl.id).await.unwrap();
    assert!(new && later > at);
    let list = s.confirms(&r, 1).await.unwrap();
    let got: Vec<(&str, Timestamp)> = list.iter().map(|c| (c.user.id.as_str(), c.at)).collect();
    assert_eq!(got, vec![("ben", at), ("carl", later)]);
    assert_eq!(list[0].user, ben);
    assert_eq!(list[1].user.name.as_str(), "carl");
    assert!(s.confirms(&r, 2).await.unwrap().is_empty());
    let (page, _) = s.messages_before(&r, None, 10).await.unwrap();
    let got: Vec<Option<u64>> = page.iter().map(|m| m.confirms).collect();
    assert_eq!(got, vec![Some(2), Some(0)]);
}

async fn pending_lists_the_audience_below_a_seq(s: Arc<dyn Store>) {
    let s = &*s;
    let (ann, ben, carl) = (user("ann"), user("ben"), user("carl"));
    for u in [&ann, &ben, &carl] {
        s.upsert_user(u, &town(TOWN)).await.unwrap();
    }
    s.upsert_user(&user("dan"), &town("naka")).await.unwrap();
    team_room(s, "p", &ann).await;
    town_room(s, "board", TOWN, &ann).await;
    let actor = short(&ann);
    s.put_member(&rid("p"), &ben.id, None, &ProfilePatch::default(), &actor)
        .await
        .unwrap();
    // A member added without a profile and never seen: a default profile.
    s.put_member(
        &rid("p"),
        &uid("eve"),
        None,
        &ProfilePatch::default(),
        &actor,
    )
    .await
    .unwrap();
    s.commit(&[
        post("p", &ann, "p1", "one"),
        post("p", &ann, "p2", "two"),
        post("board", &ann, "b1", "notice"),
        read("p", "ben", 1),
        read("board", "ben", 1),
    ])
    .await
    .unwrap();
    let team = s.room(&rid("p")).await.unwrap().unwrap();
    let ids =
        |v: Vec<UserRef>| -> Vec<String> { v.into_iter().map(|u| u.id.into_string()).collect() };
    assert_eq!(ids(s.pending(&team, 2).await.unwrap()), vec!["ben", "eve"]);
    assert_eq!(ids(s.pending(&team, 1).await.unwrap()), vec!["eve"]);
    assert!(s.pending(&team, 0).await.unwrap().is_empty());
    let pending = s.pending(&team, 2).await.unwrap();
    assert_eq!(pending[0], ben);
    assert_eq!(pending[1].name.as_str(), "eve");
    // Town room: the town's users in the directory (not dan of another town).
    let board = s.room(&rid("board")).await.unwrap().unwrap();
    assert_eq!(ids(s.pending(&board, 1).await.unwrap()), vec!["carl"]);
}

// ---------------------------------------------------------------------------------------------
// Attachments (PROTOCOL.md 5.3)

fn attachment_record(id: &str, room: &str, uploader: &str, sha: char, at: i64) -> AttachmentRecord {
    use yui_protocol::ids::{AttachmentId, FileName};
    use yui_protocol::model::{Attachment, AttachmentType};
    AttachmentRecord {
        attachment: Attachment {
            id: AttachmentId::parse(id).unwrap(),
            name: FileName::parse(format!("{id}.jpg")).unwrap(),
            content_type: AttachmentType::Jpeg,
            size: 1234,
            sha256: sha.to_string().repeat(64),
            width: Some(640),
            height: Some(480),
        },
        room: rid(room),
        uploader: uid(uploader),
        created_at: yui_protocol::model::Timestamp::from_millis(at),
        posted: None,
        consent: None,
    }
}

fn post_with(room: &str, author: &UserRef, client_id: &str, atts: &[&AttachmentRecord]) -> Write {
    let Write::Post {
        room,
        author,
        client_id,
        kind,
        body,
        priority,
        mentions,
        revision,
        ..
    } = post(room, author, client_id, "with attachments")
    else {
        unreachable!()
    };
    Write::Post {
        room,
        author,
        client_id,
        kind,
        body,
        priority,
        mentions,
        revision,
        attachments: atts.iter().map(|a| a.attachment.clone()).collect(),
    }
}

async fn attachments_are_claimed_once_by_their_post(s: Arc<dyn Store>) {
    let ann = user("ann");
    team_room(s.as_ref(), "r1", &ann).await;
    team_room(s.as_ref(), "r2", &ann).await;
    let now = yui_protocol::model::Timestamp::now().millis();
    let a = attachment_record("att_a", "r1", "ann", 'a', now);
    let b = attachment_record("att_b", "r1", "ann", 'b', now);
    let old = attachment_record("att_old", "r1", "ann", 'c', now - 10_000);
    let bens = attachment_record("att_ben", "r1", "ben", 'a', now);
    for r in [&a, &b, &old, &bens] {
        s.insert_attachment(r).await.unwrap();
    }
    assert_eq!(
        s.attachment(&a.attachment.id).await.unwrap().as_ref(),
        Some(&a)
    );
    let none = yui_protocol::ids::AttachmentId::parse("att_none").unwrap();
    assert!(s.attachment(&none).await.unwrap().is_none());

    // Claimed by the post, in the post's order; the message carries them.
    let out = s
        .commit(&[post_with("r1", &ann, "c1", &[&b, &a])])
        .await
        .unwrap();
    let (m, new) = posted(&out[0]);
    assert!(new);
    let ids: Vec<&str> = m.attachments.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, ["att_b", "att_a"]);
    let stored = s.attachment(&a.attachment.id).await.unwrap().unwrap();
    assert_eq!(stored.posted, Some((m.seq, ClientId::parse("c1").unwrap())));
    // History and catch-up carry them too; a message without any has none.
    s.commit(&[post("r1", &ann, "c2", "plain")]).await.unwrap();
    let after = s.messages_after(&rid("r1"), 0, 10).await.unwrap();
    assert_eq!(after[0].attachments, m.attachments);
    assert!(after[1].attachments.is_empty());
    let (before, _) = s.messages_before(&rid("r1"), None, 10).await.unwrap();
    assert_eq!(before[0].attachments, m.attachments);

    // A retry of the committed post is answered with it, claiming nothing again.
    let out = s
        .commit(&[post_with("r1", &ann, "c1", &[&b, &a])])
        .await
        .unwrap();
    let (again, new) = posted(&out[0]);
    assert_eq!((again.seq, again.id, new), (m.seq, m.id.clone(), false));
    // Another post naming a claimed attachment, or someone else's, or another room's, is
    // refused; nothing of its batch commits.
    for w in [
        post_with("r1", &ann, "c3", &[&a]),
        post_with("r1", &ann, "c4", &[&bens]),
        post_with("r2", &ann, "c5", &[&old]),
    ] {
        let err = s.commit(&[w]).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
    }
    // Two posts of one batch naming the same attachment: the batch is refused.
    let err = s
        .commit(&[
            post_with("r1", &ann, "c6", &[&old]),
            post_with("r1", &ann, "c7", &[&old]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err:?}");
    assert_eq!(s.room(&rid("r1")).await.unwrap().unwrap().last_seq, 2);

    // Clean-up: only unposted rows older than the cutoff.
    assert!(s.attachment_content_in_use(&"c".repeat(64)).await.unwrap());
    let cutoff = yui_protocol::model::Timestamp::from_millis(now - 5_000);
    assert_eq!(s.delete_unposted_attachments(cutoff).await.unwrap(), 1);
    assert!(s.attachment(&old.attachment.id).await.unwrap().is_none());
    assert!(!s.attachment_content_in_use(&"c".repeat(64)).await.unwrap());
    assert!(s.attachment_content_in_use(&"a".repeat(64)).await.unwrap());
    assert!(s.attachment(&bens.attachment.id).await.unwrap().is_some());
}
// Web Push's tables, with the same harness.
#[path = "push_tests.rs"]
mod push_tests;

// ---------------------------------------------------------------------------------------------
// Residents, consents, mutes, the directory (PROTOCOL.md 5.4, 5.5)

#[path = "town_tests.rs"]
mod town_tests;

// ---------------------------------------------------------------------------------------------
// Search (PROTOCOL.md 5.5): the bigram index both stores keep, and the backfill of messages
// committed before it existed.

mod search_on_sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_finds_words_in_the_given_rooms() {
        let (store, _dir) = super::sqlite_store().await;
        super::search_finds_words_in_the_given_rooms(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_pages_through_many_matches_in_time_order() {
        let (store, _dir) = super::sqlite_store().await;
        super::search_pages_through_many_matches_in_time_order(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_index_is_written_after_the_commit_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yui.db");
        let store = std::sync::Arc::new(super::SqliteStore::open(&path).await.unwrap());
        super::index_written_after_the_commit(store.clone()).await;
        // Queued and not indexed when the hub stops: indexed after the restart.
        super::queue_unindexed(store.as_ref()).await;
        store.close().await;
        drop(store);
        let store = std::sync::Arc::new(super::SqliteStore::open(&path).await.unwrap());
        super::queued_before_a_restart_are_indexed(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn older_messages_are_backfilled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yui.db");
        let store = super::SqliteStore::open(&path).await.unwrap();
        super::fill_for_backfill(&store).await;
        store.close().await;
        drop(store);
        // As a database migrated to 0008 with older messages finds it: nothing indexed.
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "INSERT INTO message_search (message_search) VALUES ('delete-all');
                 DELETE FROM message_search_rows;
                 UPDATE search_indexed SET upto = 0;
                 UPDATE search_backfill SET done = 0, at = -1, mid = '';",
            )
            .unwrap();
        }
        let store = super::SqliteStore::open(&path).await.unwrap();
        super::check_backfilled(&store).await;
        store.close().await;
        drop(store);
        // Opening again indexes nothing twice.
        let store = super::SqliteStore::open(&path).await.unwrap();
        super::check_backfilled(&store).await;
    }
}

mod search_on_postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_finds_words_in_the_given_rooms() {
        let Some((store, _db)) = super::pg_store().await else {
            return;
        };
        super::search_finds_words_in_the_given_rooms(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_pages_through_many_matches_in_time_order() {
        let Some((store, _db)) = super::pg_store().await else {
            return;
        };
        super::search_pages_through_many_matches_in_time_order(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_index_is_written_after_the_commit_and_survives_a_restart() {
        let Some(db) = super::pg_database().await else {
            return;
        };
        let store = std::sync::Arc::new(super::PostgresStore::connect(&db.url, 4).await.unwrap());
        super::index_written_after_the_commit(store.clone()).await;
        super::queue_unindexed(store.as_ref()).await;
        drop(store);
        let store = std::sync::Arc::new(super::PostgresStore::connect(&db.url, 4).await.unwrap());
        super::queued_before_a_restart_are_indexed(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn older_messages_are_backfilled() {
        let Some(db) = super::pg_database().await else {
            return;
        };
        let store = super::PostgresStore::connect(&db.url, 4).await.unwrap();
        super::fill_for_backfill(&store).await;
        {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query("DELETE FROM message_search")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("UPDATE search_backfill SET done = false")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let store = super::PostgresStore::connect(&db.url, 4).await.unwrap();
        super::check_backfilled(&store).await;
        let store = super::PostgresStore::connect(&db.url, 4).await.unwrap();
        super::check_backfilled(&store).await;
    }
}

/// A group commit only queues its messages for the index: `index_search` writes them, at most
/// `limit` at a time, and a search first indexes whatever is still queued.
async fn index_written_after_the_commit(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "q", &ann).await;
    // Whatever the room's creation left: nothing is queued now.
    while s.index_search(100).await.unwrap() > 0 {}
    s.commit(&[
        post("q", &ann, "q1", "夜間に発熱あり"),
        post("q", &ann, "q2", "発熱なし"),
        post("q", &ann, "q3", "転倒なし"),
    ])
    .await
    .unwrap();
    assert_eq!(s.index_search(2).await.unwrap(), 2);
    assert_eq!(s.index_search(2).await.unwrap(), 1);
    assert_eq!(s.index_search(2).await.unwrap(), 0);
    let (found, _) = s
        .search(&spec_for(&["q"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    // Committed and not indexed by anyone yet: the search indexes it first.
    commit_one(s, post("q", &ann, "q4", "発熱 37.8度")).await;
    let (found, _) = s
        .search(&spec_for(&["q"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].body, "発熱 37.8度");
    // Nothing twice: the search took the queue.
    assert_eq!(s.index_search(10).await.unwrap(), 0);
}

/// Two posts committed and left queued (see `queued_before_a_restart_are_indexed`).
async fn queue_unindexed(s: &dyn Store) {
    let ann = user("ann");
    s.commit(&[
        post("q", &ann, "r1", "褥瘡処置を行った"),
        post("q", &ann, "r2", "褥瘡の経過観察"),
    ])
    .await
    .unwrap();
}

async fn queued_before_a_restart_are_indexed(s: Arc<dyn Store>) {
    assert_eq!(s.index_search(10).await.unwrap(), 2);
    assert_eq!(s.index_search(10).await.unwrap(), 0);
    let (found, _) = s
        .search(&spec_for(&["q"], &["褥瘡"], None, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let (found, _) = s
        .search(&spec_for(&["q"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
}

fn spec_for(rooms: &[&str], words: &[&str], before: Option<String>, limit: u32) -> SearchSpec {
    SearchSpec {
        rooms: rooms.iter().map(|r| rid(r)).collect(),
        matcher: Arc::new(search::Matcher::new(words.iter().copied())),
        before,
        limit,
    }
}

async fn search_finds_words_in_the_given_rooms(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    // One batch across rooms, then one more post each: indexed in the group commit.
    s.commit(&[
        post("a", &ann, "a1", "夜間に発熱あり"),
        post("b", &ann, "b1", "発熱なし、転倒なし"),
        post("a", &ann, "a2", "居間で転倒"),
    ])
    .await
    .unwrap();
    commit_one(s, post("a", &ann, "a3", "発熱 38.0度")).await;
    let bodies = |ms: &[Message]| ms.iter().map(|m| m.body.clone()).collect::<Vec<_>>();

    let (found, more) = s
        .search(&spec_for(&["a", "b"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].body, "発熱 38.0度");
    // Only the rooms asked for.
    let (found, _) = s
        .search(&spec_for(&["a"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert_eq!(bodies(&found), vec!["発熱 38.0度", "夜間に発熱あり"]);
    let (found, _) = s
        .search(&spec_for(&["nowhere"], &["発熱"], None, 10))
        .await
        .unwrap();
    assert!(found.is_empty());
    // Every word, as a substring.
    let (found, _) = s
        .search(&spec_for(&["a", "b"], &["発熱", "転倒"], None, 10))
        .await
        .unwrap();
    assert_eq!(bodies(&found), vec!["発熱なし、転倒なし"]);
    let (found, _) = s
        .search(&spec_for(&["a", "b"], &["熱あ"], None, 10))
        .await
        .unwrap();
    assert_eq!(bodies(&found), vec!["夜間に発熱あり"]);
    // Paging: newest first, `before` the last one's id.
    let (page, more) = s
        .search(&spec_for(&["a", "b"], &["発熱"], None, 2))
        .await
        .unwrap();
    assert!(more);
    assert_eq!(page.len(), 2);
    let (rest, more) = s
        .search(&spec_for(
            &["a", "b"],
            &["発熱"],
            Some(page[1].id.clone()),
            2,
        ))
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(rest.len(), 1);
    assert!(!page.iter().any(|m| m.id == rest[0].id));
    let (none, _) = s
        .search(&spec_for(&["a"], &["発熱"], Some("unknown-id".into()), 2))
        .await
        .unwrap();
    assert!(none.is_empty());

    // The export's period read.
    let all = s
        .messages_between(
            &rid("a"),
            Timestamp::from_millis(0),
            Timestamp::from_millis(i64::MAX / 2),
            100,
        )
        .await
        .unwrap();
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    let first_at = all[0].at.millis();
    let later = s
        .messages_between(
            &rid("a"),
            Timestamp::from_millis(first_at + 1),
            Timestamp::from_millis(i64::MAX / 2),
            100,
        )
        .await
        .unwrap();
    assert!(later.iter().all(|m| m.at.millis() > first_at));
    let limited = s
        .messages_between(
            &rid("a"),
            Timestamp::from_millis(0),
            Timestamp::from_millis(i64::MAX / 2),
            2,
        )
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
}

/// Many matches across rooms, committed in group commits of several sizes (so many share an
/// `at`), some only candidates (the bigrams of 服薬管 present, the word absent), some in a room
/// not read: paging with `before` through all of them gives exactly the readable matches,
/// newest first by (at, id), each once, `more` true until the last page.
async fn search_pages_through_many_matches_in_time_order(s: Arc<dyn Store>) {
    let s = &*s;
    let ann = user("ann");
    for r in ["a", "b", "c", "hidden"] {
        team_room(s, r, &ann).await;
    }
    let rooms = ["a", "b", "c", "hidden"];
    let mut all: Vec<Message> = Vec::new();
    let mut n = 0;
    for size in [1, 7, 30, 2, 13, 1, 1, 40, 5] {
        let batch: Vec<Write> = (0..size)
            .map(|i| {
                n += 1;
                let body = match (n + i) % 4 {
                    0 => "服薬管理を確認",
                    1 => "服薬あり、薬管理表の記入",
                    2 => "特記事項なし",
                    _ => "服薬管理表を更新",
                };
                post(rooms[n % rooms.len()], &ann, &format!("p{n}"), body)
            })
            .collect();
        all.extend(s.commit(&batch).await.unwrap().iter().map(|o| posted(o).0));
    }
    let readable = ["a", "b", "c"];
    let mut expected: Vec<&Message> = all
        .iter()
        .filter(|m| readable.contains(&m.room.as_str()) && m.body.contains("服薬管"))
        .collect();
    expected.sort_by(|a, b| (b.at.millis(), &b.id).cmp(&(a.at.millis(), &a.id)));
    assert!(expected.len() > 30, "enough matches to page through");
    assert!(
        all.iter()
            .any(|m| m.body.contains("薬管") && !m.body.contains("服薬管")),
        "candidates the substring check rejects"
    );
    let mut paged: Vec<Message> = Vec::new();
    let mut before = None;
    loop {
        let (page, more) = s
            .search(&spec_for(&readable, &["服薬管"], before.clone(), 7))
            .await
            .unwrap();
        assert!(page.len() <= 7);
        paged.extend(page.iter().cloned());
        assert_eq!(
            more,
            paged.len() < expected.len(),
            "more after {}",
            paged.len()
        );
        if !more {
            break;
        }
        before = page.last().map(|m| m.id.clone());
    }
    let ids = |ms: &[&Message]| ms.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged.iter().collect::<Vec<_>>()), ids(&expected));
    // One page as large as all of them: the same list, no more.
    let (whole, more) = s
        .search(&spec_for(
            &readable,
            &["服薬管"],
            None,
            expected.len() as u32,
        ))
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(ids(&whole.iter().collect::<Vec<_>>()), ids(&expected));
}

/// Enough messages for several backfill chunks.
const BACKFILLED: usize = 4500;

async fn fill_for_backfill(s: &dyn Store) {
    let ann = user("ann");
    team_room(s, "a", &ann).await;
    team_room(s, "b", &ann).await;
    let writes: Vec<Write> = (0..BACKFILLED)
        .map(|i| {
            let room = if i % 3 == 0 { "b" } else { "a" };
            let body = if i % 100 == 7 {
                "服薬確認"
            } else {
                "特記事項なし"
            };
            post(room, &ann, &format!("c{i}"), body)
        })
        .collect();
    for chunk in writes.chunks(500) {
        s.commit(chunk).await.unwrap();
    }
}

async fn check_backfilled(s: &dyn Store) {
    let (found, more) = s
        .search(&spec_for(&["a", "b"], &["服薬"], None, 200))
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(found.len(), BACKFILLED / 100);
    let ids: HashSet<&str> = found.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), found.len(), "a message indexed twice");
    // Indexed in time order: newest first by (at, id), across the rooms.
    let mut sorted = found.clone();
    sorted.sort_by(|a, b| (b.at.millis(), &b.id).cmp(&(a.at.millis(), &a.id)));
    assert_eq!(
        found.iter().map(|m| &m.id).collect::<Vec<_>>(),
        sorted.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    // Paging through the backfilled matches finds each once.
    let (first, more) = s
        .search(&spec_for(&["a", "b"], &["服薬"], None, 20))
        .await
        .unwrap();
    assert!(more);
    let (rest, more) = s
        .search(&spec_for(
            &["a", "b"],
            &["服薬"],
            first.last().map(|m| m.id.clone()),
            200,
        ))
        .await
        .unwrap();
    assert!(!more);
    assert_eq!(
        first.iter().chain(&rest).map(|m| &m.id).collect::<Vec<_>>(),
        sorted.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    let (found, _) = s
        .search(&spec_for(&["a", "b"], &["特記"], None, 50))
        .await
        .unwrap();
    assert_eq!(found.len(), 50);
}

/// The 1,000,000-note search measurement (ignored: docs/benchmarks.md).
#[path = "bench.rs"]
mod bench;
