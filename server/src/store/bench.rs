//! The search measurement of docs/benchmarks.md: a generated history of care notes (1,000,000
//! by default, `YUI_BENCH_NOTES`) committed through `Store::commit` in group commits of 1000,
//! then the time of a search for a two-character and a five-character word, on both stores.
//! Ignored by default (minutes and about a gigabyte of disk); run with
//! `cargo test -p yui-server --lib bench_search -- --ignored --nocapture`.

use super::{pg_store, sqlite_store};
use crate::store::search::Matcher;
use crate::store::{RoomSpec, SearchSpec, Store, Write};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};
use yui_protocol::ids::{Name, RoomId, Title, TownId, UserId};
use yui_protocol::model::{Profession, RoomKind, UserRef};

const ROOMS: usize = 1000;

const FRAGMENTS: &[&str] = &[
    "夜間に発熱あり、解熱剤を使用",
    "発熱なし",
    "転倒なし",
    "居間で転倒、右膝に擦過傷あり、消毒した",
    "服薬確認済み",
    "服薬カレンダーの残薬が多い",
    "食事は全量摂取",
    "食欲低下、半量摂取",
    "排便あり",
    "入浴介助を実施",
    "仙骨部の褥瘡処置を行った",
    "ご家族より相談あり",
    "ケアマネジャーへ報告した",
    "デイサービス利用",
    "訪問リハビリテーション実施、歩行訓練",
    "嚥下状態良好",
    "水分摂取量が少なめ、声かけを継続",
    "息子さんの介護負担が大きい様子",
    "血圧がやや高め、主治医に連絡",
    "睡眠良好",
    "夜間の不穏あり",
    "口腔ケア実施",
    "血圧の変動が大きく経過観察",
];

fn note(rng: &mut StdRng) -> String {
    let mut s = format!(
        "体温36.{}度、血圧1{}{}/7{}、脈拍{}。",
        rng.gen_range(0..10),
        rng.gen_range(0..5),
        rng.gen_range(0..10),
        rng.gen_range(0..10),
        rng.gen_range(60..95)
    );
    for _ in 0..rng.gen_range(2..5) {
        s.push_str(FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())]);
        s.push('。');
    }
    s
}

fn author(i: usize) -> UserRef {
    UserRef {
        id: UserId::parse(format!("staff{}", i % 200)).unwrap_or_else(|e| panic!("{e:?}")),
        name: Name::parse(format!("職員{}", i % 200)).unwrap_or_else(|e| panic!("{e:?}")),
        profession: Profession::Nurse,
        org: Name::parse("みさき訪問看護").unwrap_or_else(|e| panic!("{e:?}")),
    }
}

fn room(i: usize) -> RoomId {
    RoomId::parse(format!("res-{i:04}")).unwrap_or_else(|e| panic!("{e:?}"))
}

async fn fill(s: &dyn Store, notes: usize) -> Duration {
    let town = TownId::parse("misaki").unwrap_or_else(|e| panic!("{e:?}"));
    for r in 0..ROOMS {
        let spec = RoomSpec {
            kind: RoomKind::Team,
            title: Title::parse(format!("利用者{r}")).unwrap_or_else(|e| panic!("{e:?}")),
            town: town.clone(),
            resident: None,
        };
        s.put_room(&room(r), &spec, &author(0))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut rng = StdRng::seed_from_u64(12);
    let started = Instant::now();
    let mut i = 0;
    while i < notes {
        let batch: Vec<Write> = (i..(i + 1000).min(notes))
            .map(|n| {
                super::post(
                    room(n % ROOMS).as_str(),
                    &author(n),
                    &format!("c{n}"),
                    &note(&mut rng),
                )
            })
            .collect();
        i += batch.len();
        s.commit(&batch).await.unwrap_or_else(|e| panic!("{e}"));
        // The follower's work (`crate::indexer`), here right after each group commit.
        while s.index_search(1000).await.unwrap_or_else(|e| panic!("{e}")) == 1000 {}
        if i % 100_000 == 0 {
            println!("  {i} notes, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    started.elapsed()
}

/// Median and slowest of `runs` searches for `word` over `rooms` rooms, and how many results
/// the first page had.
async fn time_search(s: &dyn Store, word: &str, rooms: usize, runs: usize) -> (f64, f64, usize) {
    let spec = SearchSpec {
        rooms: (0..rooms).map(room).collect(),
        matcher: Arc::new(Matcher::new([word].into_iter())),
        before: None,
        limit: 20,
    };
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (results, _) = s.search(&spec).await.unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found = results.len();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], found)
}

/// `pg_url`: a Postgres store's database, analyzed after the fill (as autovacuum would have
/// done on a table that size) and the planner's choices printed, before the timed searches.
async fn measure(name: &str, s: Arc<dyn Store>, pg_url: Option<&str>) {
    let notes: usize = std::env::var("YUI_BENCH_NOTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!("{name}: filling {notes} notes in {ROOMS} rooms");
    let took = fill(&*s, notes).await;
    println!(
        "{name}: filled in {:.0} s ({:.0} notes/s, index written after each group commit)",
        took.as_secs_f64(),
        notes as f64 / took.as_secs_f64()
    );
    if let Some(url) = pg_url {
        explain(url).await;
    }
    for (word, rooms) in [
        ("発熱", 30),
        ("発熱", ROOMS),
        ("血圧の変動", 30),
        ("血圧の変動", ROOMS),
        ("褥瘡処置", 30),
    ] {
        let (median, max, found) = time_search(&*s, word, rooms, 11).await;
        println!(
            "{name}: {word} ({} chars) over {rooms} rooms: median {median:.1} ms, max {max:.1} ms, {found} results",
            word.chars().count()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes and about a gigabyte: docs/benchmarks.md"]
async fn bench_search_sqlite() {
    let (store, _dir) = sqlite_store().await;
    measure("sqlite", store, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes and about a gigabyte: docs/benchmarks.md"]
async fn bench_search_postgres() {
    let Some((store, db)) = pg_store().await else {
        return;
    };
    measure("postgres", store, Some(&db.url)).await;
}

/// What the planner picks for the search query (as `store::postgres::search` sends it, first
/// page, no cursor) for a frequent and a rarer word over 30 and 1000 rooms.
async fn explain(url: &str) {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("ANALYZE message_search")
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (word, rooms) in [
        ("発熱", 30),
        ("発熱", ROOMS),
        ("褥瘡処置", 30),
        ("血圧の変動", 30),
    ] {
        let terms = Matcher::new([word].into_iter()).terms;
        let rooms: Vec<String> = (0..rooms).map(|r| room(r).as_str().to_owned()).collect();
        let plan = sqlx::query(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT m.* FROM message_search s \
             JOIN messages m ON m.room = s.room AND m.seq = s.seq \
             WHERE s.terms @> $1 AND s.room = ANY($2) AND (s.at, s.id) < ($3, $4) \
             ORDER BY s.at DESC, s.id DESC LIMIT 42",
        )
        .bind(&terms)
        .bind(&rooms)
        .bind(i64::MAX)
        .bind("")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        println!("postgres plan, {word} over {} rooms:", rooms.len());
        for row in plan {
            let line: String = row.try_get(0).unwrap_or_else(|e| panic!("{e}"));
            println!("    {line}");
        }
    }
}
