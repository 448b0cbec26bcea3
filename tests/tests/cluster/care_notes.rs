//! Care notes across nodes: a confirmation made on one node is told on the others, once.

use super::Cluster;
use std::time::Duration;
use yui_protocol::client::Request;
use yui_protocol::server::ServerFrame;
use yui_tests::*;

#[tokio::test]
async fn a_confirmation_on_one_node_is_told_once_on_the_others() {
    let cl = Cluster::start(2).await;
    let coord = User::coordinator("coord");
    let nurse = User::member("nurse");
    let r = cl.team_room(&coord, "res-conf", &[&nurse]).await;
    let mut author = cl.connect(1, &coord).await;
    author.subscribe(&r, None).await;
    author.post(&r, "c1", "明日10時に訪問").await;
    let mut n = cl.connect(0, &nurse).await;
    for _ in 0..2 {
        let f = n
            .request(Request::Confirm {
                room: r.clone(),
                seq: 1,
            })
            .await;
        assert_eq!(ack_seq(&f), 1);
    }
    let f = author
        .wait_for("confirmed", |f| matches!(f, ServerFrame::Confirmed { .. }))
        .await;
    assert!(
        matches!(&f, ServerFrame::Confirmed { seq: 1, user, .. } if user.id.as_str() == "nurse"),
        "{f:?}"
    );
    let more = author.drain(Duration::from_millis(500)).await;
    assert!(
        !more
            .iter()
            .any(|f| matches!(f, ServerFrame::Confirmed { .. })),
        "told twice: {more:?}"
    );
    // Listed the same on either node.
    let f = author
        .request(Request::Confirms {
            room: r.clone(),
            seq: 1,
        })
        .await;
    assert!(
        matches!(&f, ServerFrame::Confirms { users, .. } if users.len() == 1),
        "{f:?}"
    );
}
