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
struct PgTestDb {
    admin_url: String,
    name: String,
    url: String,
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
async fn pg_database() -> Option<PgTestDb> {
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
        body: Body::parse(body).unwrap(),
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
        WriteOutcome::Posted { message, new } => (message.clone(), *new),
        other => panic!("expected Posted, got {other:?}"),
    }
}

fn read_outcome(o: &WriteOutcome) -> (u64, bool, Timestamp) {
    match o {
        WriteOutcome::Read { seq, moved, at } => (*seq, *moved, *at),
        other => panic!("expected Read, got {other:?}"),
    }
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
            assert_eq!(m.body, body.as_str());
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
    assert_eq!(s.read_seq(&rid("a"), &ann.id).await.unwrap(), 3);
    assert_eq!(s.read_seq(&rid("a"), &ben.id).await.unwrap(), 2);
    let receipts = s.receipts(&rid("a")).await.unwrap();
    let ann_r = receipts.iter().find(|r| r.user.id == ann.id).unwrap();
    assert_eq!((ann_r.seq, ann_r.at), (3, m.at));
    // A retry of an old post does not move the position back.
    commit_one(s, post("a", &ann, "c1", "one")).await;
    assert_eq!(s.read_seq(&rid("a"), &ann.id).await.unwrap(), 3);
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
    assert_eq!(s.read_seq(&rid("empty"), &uid("bo")).await.unwrap(), 0);

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
    assert_eq!(s.read_seq(&rid("a"), &uid("bo")).await.unwrap(), 3);

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
    assert_eq!(s.read_seq(&rid("a"), &uid("cy")).await.unwrap(), 4);
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
        s.member_role(&rid("tanaka"), &ann.id).await.unwrap(),
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
        s.member_role(&r, &uid("bob")).await.unwrap(),
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
    assert_eq!(s.member_role(&r, &carol.id).await.unwrap(), None);
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
    s.audit(&AuditRecord {
        actor: UserName {
            id: uid("bob"),
            name: Name::parse("Bob").unwrap(),
        },
        action: AuditAction::ReadHistory,
        room: rid("a"),
        target: None,
    })
    .await
    .unwrap(); // read_history a by bob
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
                // Batches touch the rooms in both orders, and sometimes carry reads.
                let (r1, r2) = if (t + i) % 2 == 0 {
                    ("a", "b")
                } else {
                    ("b", "a")
                };
                let mut batch = vec![post(r1, &author, &format!("c{i}"), "x")];
                if i % 3 == 0 {
                    batch.push(post(r2, &author, &format!("d{i}"), "y"));
                    batch.push(read(r1, "ann", u64::MAX));
                }
                for o in store.commit(&batch).await.unwrap() {
                    if let WriteOutcome::Posted { message, new } = o {
                        assert!(new);
                        acked.push((message.room, message.seq, message.id));
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
    let per_task = COMMITS + COMMITS.div_ceil(3);
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
    assert_eq!(store.read_seq(&rid("a"), &uid("ben")).await.unwrap(), 1);
    assert_eq!(store.room(&rid("a")).await.unwrap().unwrap().last_seq, 1);
    // A retry after the restart is still recognized.
    let (again, new) = posted(&commit_one(&store, post("a", &ann, "c1", "other")).await);
    assert_eq!((again, new), (first, false));
    // And the pragmas that make an ack durable are on.
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.write_pool_for_tests())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.write_pool_for_tests())
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&store.write_pool_for_tests())
        .await
        .unwrap();
    assert_eq!(fk, 1);
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
