//! Conformance of Web Push's tables (`store::push`) on both stores: the key is made once, a
//! claim is exclusive until its lease is over, a push ends only for the node holding it, and
//! the coalescing window and the "again" mark.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::store::push::{Notify, Outcome, Target, VapidKey};
use yui_protocol::push::{base64url, KeysBody, SubscribeBody, Subscription};

conformance!(
    vapid_key_is_made_once,
    claims_are_exclusive_until_the_lease_ends,
    a_post_while_sending_goes_again_after_the_window,
    push_targets_follow_who_may_read,
    presence_counts_while_its_node_lives,
);

fn subscription(n: u8) -> Subscription {
    let mut p = vec![4u8];
    p.extend([n; 64]);
    Subscription::parse(
        SubscribeBody {
            endpoint: format!("https://push.example/{n}"),
            keys: KeysBody {
                p256dh: base64url(&p),
                auth: base64url(&[n; 16]),
            },
        },
        false,
    )
    .unwrap()
}

fn notify(n: u8, room: &str, user: &str, urgent: bool) -> Notify {
    Notify {
        endpoint: format!("https://push.example/{n}"),
        room: rid(room),
        user: uid(user),
        urgent,
        mentioned: false,
    }
}

async fn vapid_key_is_made_once(s: Arc<dyn Store>) {
    let first = VapidKey {
        private_pem: "first".into(),
        public_key: "k1".into(),
    };
    let second = VapidKey {
        private_pem: "second".into(),
        public_key: "k2".into(),
    };
    assert_eq!(s.push().vapid_key(&first).await.unwrap(), first);
    assert_eq!(s.push().vapid_key(&second).await.unwrap(), first);
}

async fn claims_are_exclusive_until_the_lease_ends(s: Arc<dyn Store>) {
    let p = s.push();
    p.put_push_subscription(&uid("b"), &town(TOWN), false, &subscription(1), 0)
        .await
        .unwrap();
    let (now, lease, window) = (1_000_000i64, 30_000i64, 60_000i64);
    p.enqueue_pushes(&[notify(1, "r1", "b", false)], now, window)
        .await
        .unwrap();
    assert_eq!(p.outbox_depth().await.unwrap(), 1);
    let a = p.claim_pushes("node-a", now, lease, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].subscription.as_ref(), Some(&subscription(1)));
    assert!(p
        .claim_pushes("node-b", now + 1, lease, 10)
        .await
        .unwrap()
        .is_empty());
    // Past the lease: another node takes it; the first may no longer end it.
    let b = p
        .claim_pushes("node-b", now + lease, lease, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    p.finish_push(
        &a[0].endpoint,
        &a[0].room,
        "node-a",
        Outcome::Sent,
        now + lease + 1,
        window,
    )
    .await
    .unwrap();
    assert_eq!(
        p.outbox_depth().await.unwrap(),
        1,
        "node-a no longer holds it"
    );
    let sent_at = now + lease + 2;
    p.finish_push(
        &b[0].endpoint,
        &b[0].room,
        "node-b",
        Outcome::Sent,
        sent_at,
        window,
    )
    .await
    .unwrap();
    assert_eq!(p.outbox_depth().await.unwrap(), 0);
    // A new post inside the window is due at its end.
    p.enqueue_pushes(&[notify(1, "r1", "b", false)], sent_at + 10, window)
        .await
        .unwrap();
    assert!(p
        .claim_pushes("node-a", sent_at + 10, lease, 10)
        .await
        .unwrap()
        .is_empty());
    let c = p
        .claim_pushes("node-a", sent_at + window, lease, 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    // A retry gives it back for later, one attempt more.
    p.finish_push(
        &c[0].endpoint,
        &c[0].room,
        "node-a",
        Outcome::Retry {
            at: sent_at + window + 500,
        },
        sent_at + window,
        window,
    )
    .await
    .unwrap();
    assert!(p
        .claim_pushes("node-a", sent_at + window + 1, lease, 10)
        .await
        .unwrap()
        .is_empty());
    let d = p
        .claim_pushes("node-b", sent_at + window + 500, lease, 10)
        .await
        .unwrap();
    assert_eq!(d[0].attempts, 1);
    // A removed subscription takes its pushes with it.
    p.remove_push_endpoint(&d[0].endpoint).await.unwrap();
    assert_eq!(p.outbox_depth().await.unwrap(), 0);
}

async fn a_post_while_sending_goes_again_after_the_window(s: Arc<dyn Store>) {
    let p = s.push();
    p.put_push_subscription(&uid("b"), &town(TOWN), false, &subscription(2), 0)
        .await
        .unwrap();
    let (now, lease, window) = (5_000_000i64, 30_000i64, 60_000i64);
    p.enqueue_pushes(&[notify(2, "r1", "b", false)], now, window)
        .await
        .unwrap();
    let a = p.claim_pushes("n", now, lease, 10).await.unwrap();
    assert!(!a[0].urgent);
    // An urgent post arrives while the push is being sent.
    p.enqueue_pushes(&[notify(2, "r1", "b", true)], now + 5, window)
        .await
        .unwrap();
    p.finish_push(
        &a[0].endpoint,
        &a[0].room,
        "n",
        Outcome::Sent,
        now + 10,
        window,
    )
    .await
    .unwrap();
    assert_eq!(p.outbox_depth().await.unwrap(), 1, "sent again");
    assert!(p
        .claim_pushes("n", now + 20, lease, 10)
        .await
        .unwrap()
        .is_empty());
    let b = p
        .claim_pushes("n", now + 10 + window, lease, 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert!(
        b[0].urgent,
        "the urgent flag of the post that came while sending"
    );
    p.finish_push(
        &b[0].endpoint,
        &b[0].room,
        "n",
        Outcome::Dropped,
        now + 10 + window,
        window,
    )
    .await
    .unwrap();
    assert_eq!(p.outbox_depth().await.unwrap(), 0);
    assert_eq!(
        p.prune_pushes(now + 10 + 3 * window, window).await.unwrap(),
        1
    );
}

async fn push_targets_follow_who_may_read(s: Arc<dyn Store>) {
    let owner = user("owner");
    team_room(s.as_ref(), "team", &owner).await;
    town_room(s.as_ref(), "board", TOWN, &owner).await;
    s.put_member(
        &rid("team"),
        &uid("b"),
        None,
        &ProfilePatch::default(),
        &short(&owner),
    )
    .await
    .unwrap();
    let p = s.push();
    p.put_push_subscription(&uid("b"), &town(TOWN), false, &subscription(3), 0)
        .await
        .unwrap();
    p.put_push_subscription(&uid("c"), &town(TOWN), false, &subscription(4), 0)
        .await
        .unwrap();
    p.put_push_subscription(&uid("x"), &town("elsewhere"), false, &subscription(5), 0)
        .await
        .unwrap();
    p.put_push_subscription(&uid("adm"), &town("hq"), true, &subscription(6), 0)
        .await
        .unwrap();
    let users = |ts: Vec<crate::store::push::Target>| {
        ts.into_iter()
            .map(|t| t.user.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let team = s.room(&rid("team")).await.unwrap().unwrap();
    let board = s.room(&rid("board")).await.unwrap().unwrap();
    let one = |rooms: Vec<Vec<Target>>| {
        assert_eq!(rooms.len(), 1);
        users(rooms.into_iter().next().unwrap())
    };
    assert_eq!(
        one(p.push_targets(std::slice::from_ref(&team)).await.unwrap()),
        ["b"]
    );
    assert_eq!(
        one(p.push_targets(std::slice::from_ref(&board)).await.unwrap()),
        ["adm", "b", "c"]
    );
    // A batch: one list per room, in the order asked, a room asked twice answered twice.
    let batch = p
        .push_targets(&[board.clone(), team.clone(), board.clone()])
        .await
        .unwrap();
    let batch: Vec<Vec<String>> = batch.into_iter().map(users).collect();
    assert_eq!(
        batch,
        [vec!["adm", "b", "c"], vec!["b"], vec!["adm", "b", "c"]]
    );
    assert!(p.push_targets(&[]).await.unwrap().is_empty());
    // Unsubscribing is the user's own: another user's endpoint is left alone.
    let e3 = subscription(3).endpoint;
    assert!(!p.delete_push_subscription(&uid("c"), &e3).await.unwrap());
    assert!(p.delete_push_subscription(&uid("b"), &e3).await.unwrap());
    assert_eq!(
        p.push_targets(&[team]).await.unwrap(),
        vec![Vec::<Target>::new()]
    );
}

/// A node's pairs count while the node's liveness row has not expired, a refresh keeps every
/// pair alive without naming them, and a starting node clears its own old rows and those of
/// expired nodes, not those of live ones.
async fn presence_counts_while_its_node_lives(s: Arc<dyn Store>) {
    let p = s.push();
    let (room, other) = (rid("r1"), rid("r2"));
    let pairs = [
        (uid("a"), room.clone()),
        (uid("b"), room.clone()),
        (uid("a"), other.clone()),
    ];
    p.sync_presence("n1", &pairs, &[], 1_000, 6_000, true)
        .await
        .unwrap();
    p.sync_presence("n2", &[(uid("c"), room.clone())], &[], 1_000, 6_000, true)
        .await
        .unwrap();
    let present = |now| {
        let p = s.push();
        let room = room.clone();
        async move {
            let mut users = p.present_users(&room, now).await.unwrap();
            users.sort();
            users
        }
    };
    assert_eq!(present(5_999).await, vec![uid("a"), uid("b"), uid("c")]);
    assert_eq!(
        present(6_000).await,
        Vec::<UserId>::new(),
        "both nodes expired"
    );
    // n1 refreshes alone, naming no pair: all of its pairs live on; n2's have expired.
    p.sync_presence("n1", &[], &[(uid("b"), room.clone())], 5_000, 10_000, false)
        .await
        .unwrap();
    assert_eq!(present(9_000).await, vec![uid("a")]);
    assert_eq!(
        p.present_users(&other, 9_000).await.unwrap(),
        vec![uid("a")]
    );
    // A node starting at 9,500 removes n2's rows (expired) but not n1's (alive).
    p.sync_presence("n3", &[(uid("d"), room.clone())], &[], 9_500, 14_500, true)
        .await
        .unwrap();
    p.sync_presence("n2", &[], &[], 9_600, 14_600, false)
        .await
        .unwrap();
    assert_eq!(
        present(9_700).await,
        vec![uid("a"), uid("d")],
        "n2 came back with no pairs: its old ones were cleared while it was expired"
    );
    // Leaving: n1's rows go at once.
    p.sync_presence("n1", &[], &[], 9_800, 0, true)
        .await
        .unwrap();
    assert_eq!(present(9_900).await, vec![uid("d")]);
}
