//! Conformance tests of [`TownStore`] (PROTOCOL.md 5.4, 5.5), run on both stores like the rest
//! of `store::tests`, whose harness and fixtures they use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::town::Withdraw;
use yui_protocol::town::{
    ConsentRequest, Date, HouseholdMember, ResidentBrief, ResidentRequest, WithdrawRequest,
};

conformance!(
    resident_profiles_replace_and_keep_the_v1_id,
    consents_are_kept_and_withdrawn_once,
    mutes_are_per_user_and_expire,
    the_directory_lists_a_towns_users_with_last_seen,
);

fn resident(name: &str, kana: Option<&str>) -> ResidentRequest {
    ResidentRequest {
        name: Name::parse(name).unwrap(),
        kana: kana.map(String::from),
        birth_year: Some(1940),
        household: vec![HouseholdMember {
            name: Name::parse("山田 太郎").unwrap(),
            relation: "長男".into(),
        }],
        notes: Some("一行目\n二行目".into()),
    }
}

async fn version(s: &dyn Store, room: &str) -> u64 {
    s.room(&rid(room)).await.unwrap().unwrap().members_version
}

async fn actions(s: &dyn Store, room: &str) -> Vec<AuditAction> {
    let filter = AuditFilter {
        room: Some(rid(room)),
        user: None,
        town: None,
        limit: 100,
        from: None,
        to: None,
        before: None,
    };
    s.audit_query(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn resident_profiles_replace_and_keep_the_v1_id(s: Arc<dyn Store>) {
    let owner = user("owner");
    team_room(s.as_ref(), "yamada", &owner).await;
    town_room(s.as_ref(), "board", TOWN, &owner).await;
    assert_eq!(s.resident(&rid("yamada")).await.unwrap(), None);
    let v0 = version(s.as_ref(), "yamada").await;
    let p = s
        .put_resident(
            &rid("yamada"),
            &resident("山田 ハナ", Some("やまだ はな")),
            &short(&owner),
        )
        .await
        .unwrap();
    assert_eq!(p.id, "yamada");
    assert_eq!(p.name, "山田 ハナ");
    assert_eq!(p.kana.as_deref(), Some("やまだ はな"));
    assert_eq!(p.birth_year, Some(1940));
    assert_eq!(p.household.len(), 1);
    assert_eq!(p.notes.as_deref(), Some("一行目\n二行目"));
    assert_eq!(s.resident(&rid("yamada")).await.unwrap(), Some(p.clone()));
    assert!(version(s.as_ref(), "yamada").await > v0);
    // The room row names the resident as v1 does.
    let info = s.room(&rid("yamada")).await.unwrap().unwrap();
    assert_eq!(
        info.resident,
        Some(Resident {
            id: "yamada".into(),
            name: "山田 ハナ".into()
        })
    );
    // v1's PUT /api/rooms changes id and name and keeps the rest.
    let mut with_resident = spec(RoomKind::Team, "山田様", TOWN);
    with_resident.resident = Some(Resident::parse("R-7", "山田 はな").unwrap());
    s.put_room(&rid("yamada"), &with_resident, &owner)
        .await
        .unwrap();
    let p = s.resident(&rid("yamada")).await.unwrap().unwrap();
    assert_eq!((p.id.as_str(), p.name.as_str()), ("R-7", "山田 はな"));
    assert_eq!(p.kana.as_deref(), Some("やまだ はな"));
    // A PUT replaces: what is left out is cleared; the id stays.
    let bare = ResidentRequest {
        name: Name::parse("山田 ハナ").unwrap(),
        kana: None,
        birth_year: None,
        household: Vec::new(),
        notes: None,
    };
    let p = s
        .put_resident(&rid("yamada"), &bare, &short(&owner))
        .await
        .unwrap();
    assert_eq!(p.id, "R-7");
    assert_eq!((p.kana, p.birth_year, p.notes), (None, None, None));
    assert!(p.household.is_empty());
    s.put_resident(
        &rid("yamada"),
        &resident("山田 ハナ", Some("ヤマダ ハナ")),
        &short(&owner),
    )
    .await
    .unwrap();
    // Summaries: the team room's resident, none for the town room.
    let rooms = s.rooms_for(&owner.id, &town(TOWN)).await.unwrap();
    let team = rooms.iter().find(|r| r.room == rid("yamada")).unwrap();
    assert_eq!(
        team.resident,
        Some(ResidentBrief {
            id: "R-7".into(),
            name: "山田 ハナ".into(),
            kana: Some("ヤマダ ハナ".into()),
        })
    );
    let board = rooms.iter().find(|r| r.room == rid("board")).unwrap();
    assert_eq!(board.resident, None);
    let one = s
        .room_summary(&rid("yamada"), &owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.resident, team.resident);
    let logged = actions(s.as_ref(), "yamada").await;
    assert_eq!(
        logged
            .iter()
            .filter(|a| **a == AuditAction::ResidentUpdated)
            .count(),
        3
    );
}

fn consent_req(date: &str) -> ConsentRequest {
    ConsentRequest {
        given_by: Name::parse("山田 ハナ").unwrap(),
        relation: "本人".into(),
        date: Date::parse_as("date", date).unwrap(),
        explained_by: Name::parse("佐藤 ケアマネ").unwrap(),
        scope: Some("記録の共有".into()),
        document: None,
    }
}

fn withdraw_req(date: &str) -> WithdrawRequest {
    WithdrawRequest {
        date: Date::parse_as("date", date).unwrap(),
        note: Some("ご家族の意向".into()),
    }
}

async fn consents_are_kept_and_withdrawn_once(s: Arc<dyn Store>) {
    let owner = user("owner");
    let other = user("other");
    team_room(s.as_ref(), "yamada", &owner).await;
    team_room(s.as_ref(), "tanaka", &owner).await;
    let room = rid("yamada");
    assert!(!s.standing_consent(&room).await.unwrap());
    let v0 = version(s.as_ref(), "yamada").await;
    let first = s
        .record_consent(&room, "c1", &consent_req("2026-11-01"), &short(&owner))
        .await
        .unwrap();
    assert_eq!(first.id, "c1");
    assert_eq!(first.recorded_by, short(&owner));
    assert_eq!(first.scope.as_deref(), Some("記録の共有"));
    assert!(first.withdrawal.is_none());
    assert!(s.standing_consent(&room).await.unwrap());
    assert!(!s.standing_consent(&rid("tanaka")).await.unwrap());
    let v1 = version(s.as_ref(), "yamada").await;
    assert!(v1 > v0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.record_consent(&room, "c2", &consent_req("2026-11-20"), &short(&other))
        .await
        .unwrap();
    let list = s.consents(&room).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c2", "c1"], "newest first");
    assert!(s.consents(&rid("tanaka")).await.unwrap().is_empty());

    // Withdrawals: not before the date, once, only this room's.
    let w = s
        .withdraw_consent(&room, "c1", &withdraw_req("2026-10-31"), &short(&other))
        .await
        .unwrap();
    assert!(matches!(w, Withdraw::BeforeGiven(_)), "{w:?}");
    let w = s
        .withdraw_consent(
            &rid("tanaka"),
            "c1",
            &withdraw_req("2026-11-02"),
            &short(&other),
        )
        .await
        .unwrap();
    assert_eq!(w, Withdraw::NotFound);
    let v2 = version(s.as_ref(), "yamada").await;
    let w = s
        .withdraw_consent(&room, "c1", &withdraw_req("2026-11-02"), &short(&other))
        .await
        .unwrap();
    let Withdraw::Withdrawn(c) = w else {
        panic!("{w:?}")
    };
    let wd = c.withdrawal.clone().unwrap();
    assert_eq!(wd.date.to_string(), "2026-11-02");
    assert_eq!(wd.note.as_deref(), Some("ご家族の意向"));
    assert_eq!(wd.recorded_by, short(&other));
    assert!(version(s.as_ref(), "yamada").await > v2);
    let again = s
        .withdraw_consent(&room, "c1", &withdraw_req("2026-11-03"), &short(&owner))
        .await
        .unwrap();
    assert_eq!(again, Withdraw::Already(c.clone()), "nothing changed");
    assert!(s.standing_consent(&room).await.unwrap(), "c2 stands");
    s.withdraw_consent(&room, "c2", &withdraw_req("2026-11-21"), &short(&owner))
        .await
        .unwrap();
    assert!(!s.standing_consent(&room).await.unwrap());
    // Never erased: both listed with their withdrawals.
    let list = s.consents(&room).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|c| c.withdrawal.is_some()));
    let logged = actions(s.as_ref(), "yamada").await;
    let count = |a: AuditAction| logged.iter().filter(|x| **x == a).count();
    assert_eq!(count(AuditAction::ConsentRecorded), 2);
    assert_eq!(count(AuditAction::ConsentWithdrawn), 2);
}

async fn mutes_are_per_user_and_expire(s: Arc<dyn Store>) {
    let owner = user("owner");
    let nurse = user("nurse");
    team_room(s.as_ref(), "yamada", &owner).await;
    let room = rid("yamada");
    let now = Timestamp::now();
    let later = Timestamp::from_millis(now.millis() + 3_600_000);
    assert_eq!(s.muted_until(&room, &owner.id, now).await.unwrap(), None);
    s.set_muted(&room, &owner.id, Some(later)).await.unwrap();
    s.set_muted(
        &room,
        &nurse.id,
        Some(Timestamp::from_millis(now.millis() - 1)),
    )
    .await
    .unwrap();
    assert_eq!(
        s.muted_until(&room, &owner.id, now).await.unwrap(),
        Some(later)
    );
    assert_eq!(s.muted_until(&room, &nurse.id, now).await.unwrap(), None);
    assert_eq!(
        s.muted_in(&room, now).await.unwrap(),
        vec![owner.id.clone()]
    );
    // Past `later`, it is over.
    let after = Timestamp::from_millis(later.millis() + 1);
    assert_eq!(s.muted_until(&room, &owner.id, after).await.unwrap(), None);
    assert!(s.muted_in(&room, after).await.unwrap().is_empty());
    let summary = s.room_summary(&room, &owner.id).await.unwrap().unwrap();
    assert_eq!(summary.muted_until, Some(later));
    let rooms = s.rooms_for(&owner.id, &town(TOWN)).await.unwrap();
    assert_eq!(rooms[0].muted_until, Some(later));
    // Cleared.
    s.set_muted(&room, &owner.id, None).await.unwrap();
    assert_eq!(s.muted_until(&room, &owner.id, now).await.unwrap(), None);
    let summary = s.room_summary(&room, &owner.id).await.unwrap().unwrap();
    assert_eq!(summary.muted_until, None);
}

async fn the_directory_lists_a_towns_users_with_last_seen(s: Arc<dyn Store>) {
    let a = user("a");
    let b = user("b");
    let far = user("far");
    s.upsert_user(&a, &town(TOWN)).await.unwrap();
    s.upsert_user(&b, &town(TOWN)).await.unwrap();
    s.upsert_user(&far, &town("elsewhere")).await.unwrap();
    team_room(s.as_ref(), "r", &a).await;
    // Known only from a member's profile: no town, not listed.
    s.put_member(
        &rid("r"),
        &uid("ghost"),
        None,
        &ProfilePatch::default(),
        &short(&a),
    )
    .await
    .unwrap();
    let mut users = s.town_users(&town(TOWN)).await.unwrap();
    users.sort_by(|x, y| x.id.cmp(&y.id));
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(users[0].name, a.name);
    assert_eq!(users[0].org, a.org);
    let first = users[0].last_seen.unwrap();
    let later = Timestamp::from_millis(first.millis() + 60_000);
    s.seen(&a.id, later).await.unwrap();
    let users = s.town_users(&town(TOWN)).await.unwrap();
    let seen = users.iter().find(|u| u.id == a.id).unwrap().last_seen;
    assert_eq!(seen, Some(later));
}
