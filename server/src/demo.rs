//! `yui serve --demo`: the town of Misaki (美咲町), seeded once, with a ready token per user.

use crate::auth::Minter;
use crate::state::DemoUser;
use crate::store::{ProfilePatch, RoomSpec, Store, Write};
use anyhow::Context;
use yui_protocol::ids::{Body, ClientId, Name, RoomId, Title, TownId, UserId};
use yui_protocol::model::{
    MemberRole, Priority, Profession, Resident, RoomKind, UserName, UserRef,
};
use yui_protocol::town::{
    ConsentBody, ConsentRequest, HouseholdBody, ResidentBody, ResidentRequest,
};

pub const TOWN: &str = "misaki";
pub const NOTICE_ROOM: &str = "misaki-notices";

/// (id, name, profession, org, role)
const USERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "coord-yamada",
        "山田 恵子",
        "municipal",
        "美咲町役場 地域包括支援センター",
        "coordinator",
    ),
    (
        "dr-tanaka",
        "田中 誠",
        "doctor",
        "美咲ファミリークリニック",
        "member",
    ),
    (
        "dr-inoue",
        "井上 彩",
        "doctor",
        "美咲中央病院 地域連携室",
        "member",
    ),
    (
        "ns-sato",
        "佐藤 花子",
        "nurse",
        "みさき訪問看護ステーション",
        "member",
    ),
    (
        "ns-ito",
        "伊藤 由美",
        "nurse",
        "みさき訪問看護ステーション",
        "member",
    ),
    (
        "ph-suzuki",
        "鈴木 健太",
        "pharmacist",
        "さくら薬局 美咲店",
        "member",
    ),
    (
        "cm-takahashi",
        "高橋 直子",
        "care_manager",
        "美咲居宅介護支援事業所",
        "member",
    ),
    (
        "cm-watanabe",
        "渡辺 大輔",
        "care_manager",
        "ケアプランセンターみどり",
        "member",
    ),
    (
        "cw-kobayashi",
        "小林 さくら",
        "care_worker",
        "ヘルパーステーションひだまり",
        "member",
    ),
    (
        "pt-kato",
        "加藤 翔",
        "therapist",
        "美咲リハビリ訪問センター",
        "member",
    ),
    (
        "sw-yoshida",
        "吉田 真理",
        "social_worker",
        "美咲町社会福祉協議会",
        "member",
    ),
    (
        "mu-matsumoto",
        "松本 浩二",
        "municipal",
        "美咲町役場 子育て支援課",
        "member",
    ),
    (
        "admin",
        "システム管理者",
        "other",
        "Yui 運用チーム",
        "admin",
    ),
];

/// (room, title, resident id, resident name, members, notes as (author, body))
type RoomSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const ROOMS: &[RoomSeed] = &[
    (
        "res-nakamura", "中村 トメ さん（92歳・独居）", "R-0001", "中村 トメ",
        &["dr-tanaka", "ns-sato", "ph-suzuki", "cm-takahashi", "cw-kobayashi"],
        &[
            ("ns-sato", "本日10時に訪問しました。血圧138/82、体温36.4℃。食欲はやや低下、水分摂取を促しました。"),
            ("ph-suzuki", "お薬カレンダーを確認しました。昨日の夕食後の分が残っていました。一包化の時間帯を見直しましょうか。"),
            ("cm-takahashi", "来週月曜にサービス担当者会議を予定しています。ご都合の悪い方はお知らせください。"),
            ("dr-tanaka", "飲み忘れが続くようなら夕食後の薬を朝にまとめられるか検討します。次回往診で相談します。"),
        ],
    ),
    (
        "res-kimura", "木村さん世帯（ダブルケア）", "H-0002", "木村 恵美・木村 茂",
        &["cm-watanabe", "ns-ito", "mu-matsumoto", "sw-yoshida", "dr-inoue"],
        &[
            ("cm-watanabe", "恵美さんはお父様（茂さん、認知症）の介護と、3歳・6歳のお子さんの育児を両立されています。負担がかなり大きい様子です。"),
            ("mu-matsumoto", "保育園の一時預かりの枠が来月から空きます。申請書類をお持ちします。"),
            ("sw-yoshida", "家族介護者の会のご案内をしました。来週の集まりに参加を検討されるそうです。"),
            ("ns-ito", "茂さんのショートステイ中に、恵美さんご自身の健診を受けられるよう調整できそうです。"),
        ],
    ),
    (
        "res-hayashi", "林さん世帯（8050）", "H-0003", "林 キヨ・林 隆",
        &["sw-yoshida", "cm-takahashi", "ns-sato", "mu-matsumoto"],
        &[
            ("sw-yoshida", "キヨさん（82歳）と、長年ひきこもりの隆さん（53歳）の二人暮らしです。年金のみで生活されています。"),
            ("cm-takahashi", "キヨさんの要介護認定の更新時期です。隆さんとは玄関越しに少しお話しできました。"),
            ("ns-sato", "キヨさんの膝の痛みが強く、買い物が難しくなっています。配食サービスの利用を提案しました。"),
        ],
    ),
    (
        "res-shimizu", "清水 正男 さん（脳梗塞後リハビリ）", "R-0004", "清水 正男",
        &["pt-kato", "ns-ito", "cm-watanabe", "dr-tanaka", "cw-kobayashi"],
        &[
            ("pt-kato", "屋内は杖歩行で安定してきました。玄関の段差に手すりの設置を提案しています。"),
            ("cw-kobayashi", "入浴介助の際、右手の握力が少し戻ってきたとご本人が喜んでいました。"),
            ("dr-tanaka", "血圧は安定しています。抗血小板薬は継続です。"),
        ],
    ),
    (
        "res-mori", "森 ハル さん（在宅看取り）", "R-0005", "森 ハル",
        &["dr-inoue", "ns-sato", "ph-suzuki", "cm-takahashi"],
        &[
            ("dr-inoue", "ご家族と今後の方針を確認しました。ご自宅での看取りを希望されています。"),
            ("ns-sato", "夜間の連絡体制をご家族にお伝えしました。緊急時はステーションの携帯へ。"),
            ("ph-suzuki", "疼痛時の頓用薬を本日お届けしました。使用方法はご家族に説明済みです。"),
        ],
    ),
    (
        "res-ikeda", "池田 良子 さん（糖尿病・インスリン）", "R-0006", "池田 良子",
        &["ph-suzuki", "ns-ito", "dr-tanaka", "cm-watanabe"],
        &[
            ("ns-ito", "朝の血糖値 182 mg/dL。インスリンの自己注射は手技に問題ありません。"),
            ("ph-suzuki", "インスリンの残量が少なくなっています。次回処方のタイミングをご確認ください。"),
        ],
    ),
];

const NOTICES: &[&str] = &[
    "【お知らせ】12月の多職種連携研修会は12月10日（木）18時から役場2階大会議室で開催します。",
    "【注意】町内でインフルエンザの流行が始まっています。訪問時の手指消毒とマスク着用の徹底をお願いします。",
];

fn user_ref(u: &(&str, &str, &str, &str, &str)) -> anyhow::Result<UserRef> {
    Ok(UserRef {
        id: UserId::parse(u.0)?,
        name: Name::parse(u.1)?,
        profession: Profession::parse(u.2).context("demo profession")?,
        org: Name::parse(u.3)?,
    })
}

fn find(id: &str) -> anyhow::Result<UserRef> {
    let u = USERS.iter().find(|u| u.0 == id).context("demo user")?;
    user_ref(u)
}

/// Seeds the demo town unless it is there already, and mints a token per demo user.
pub async fn seed(store: &dyn Store, minter: &Minter) -> anyhow::Result<Vec<DemoUser>> {
    let town = TownId::parse(TOWN)?;
    let notice_room = RoomId::parse(NOTICE_ROOM)?;
    if store.room(&notice_room).await?.is_none() {
        for u in USERS {
            store.upsert_user(&user_ref(u)?, &town).await?;
        }
        let coordinator = find("coord-yamada")?;
        let actor = UserName {
            id: coordinator.id.clone(),
            name: coordinator.name.clone(),
        };
        store
            .put_room(
                &notice_room,
                &RoomSpec {
                    kind: RoomKind::Town,
                    title: Title::parse("美咲町 お知らせ")?,
                    town: town.clone(),
                    resident: None,
                },
                &coordinator,
            )
            .await?;
        let mut writes = Vec::new();
        for (i, n) in NOTICES.iter().enumerate() {
            writes.push(Write::Post {
                room: notice_room.clone(),
                author: coordinator.clone(),
                client_id: ClientId::parse(format!("demo-notice-{i}"))?,
                kind: RoomKind::Town.message_kind(),
                body: Some(Body::parse(*n)?),
                priority: Priority::Normal,
                mentions: Vec::new(),
                revision: None,
                attachments: Vec::new(),
            });
        }
        for (room, title, rid, rname, members, notes) in ROOMS {
            let room = RoomId::parse(*room)?;
            let spec = RoomSpec {
                kind: RoomKind::Team,
                title: Title::parse(*title)?,
                town: town.clone(),
                resident: Some(Resident {
                    id: (*rid).into(),
                    name: (*rname).into(),
                }),
            };
            store.put_room(&room, &spec, &coordinator).await?;
            for (i, m) in members.iter().enumerate() {
                // The first listed member (the lead professional) co-owns the room.
                let role = if i == 0 {
                    MemberRole::Owner
                } else {
                    MemberRole::Member
                };
                store
                    .put_member(
                        &room,
                        &UserId::parse(*m)?,
                        Some(role),
                        &ProfilePatch::default(),
                        &actor,
                    )
                    .await?;
            }
            for (i, (author, body)) in notes.iter().enumerate() {
                writes.push(Write::Post {
                    room: room.clone(),
                    author: find(author)?,
                    client_id: ClientId::parse(format!("demo-{i}"))?,
                    kind: RoomKind::Team.message_kind(),
                    body: Some(Body::parse(*body)?),
                    priority: Priority::Normal,
                    mentions: Vec::new(),
                    revision: None,
                    attachments: Vec::new(),
                });
            }
        }
        store.commit(&writes).await?;
        tracing::info!("demo town '{TOWN}' seeded");
    }
    seed_profiles(store).await?;
    USERS
        .iter()
        .map(|u| {
            let role = (u.4 != "member").then_some(u.4);
            Ok(DemoUser {
                id: u.0.into(),
                name: u.1.into(),
                profession: u.2.into(),
                org: u.3.into(),
                town: TOWN.into(),
                role: u.4.into(),
                token: minter.mint(u.0, u.1, u.2, u.3, TOWN, role, 7 * 24 * 3600)?,
            })
        })
        .collect()
}

/// (room, kana, birth year, household as (name, relation), notes)
type ProfileSeed = (
    &'static str,
    &'static str,
    Option<i32>,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const PROFILES: &[ProfileSeed] = &[
    (
        "res-nakamura",
        "なかむら とめ",
        Some(1934),
        &[("中村 一夫", "長男（東京在住）")],
        "独居。長男は月1回来訪。鍵は玄関横のキーボックス。",
    ),
    (
        "res-kimura",
        "きむら えみ・きむら しげる",
        None,
        &[
            ("木村 恵美", "本人（主介護者）"),
            ("木村 茂", "父（認知症、要介護2）"),
            ("木村 陽太", "長男（6歳）"),
            ("木村 結衣", "長女（3歳）"),
        ],
        "ダブルケア世帯。恵美さんの負担軽減を最優先に。",
    ),
    (
        "res-hayashi",
        "はやし きよ・はやし たかし",
        Some(1944),
        &[
            ("林 キヨ", "本人（要支援2）"),
            ("林 隆", "長男（53歳、同居、就労なし）"),
        ],
        "8050 世帯。隆さんへの直接の働きかけは社会福祉士が窓口。",
    ),
    (
        "res-shimizu",
        "しみず まさお",
        Some(1950),
        &[("清水 和子", "妻")],
        "",
    ),
    (
        "res-mori",
        "もり はる",
        Some(1931),
        &[("森 洋子", "長女（同居）")],
        "在宅看取りの方針。夜間はステーションの携帯へ。",
    ),
    ("res-ikeda", "いけだ よしこ", Some(1958), &[], ""),
];

/// (room, given by, relation, date, explained by): res-ikeda has none yet, so with
/// `--require-consent` it shows the gate.
const CONSENTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "res-nakamura",
        "中村 トメ",
        "本人",
        "2026-10-01",
        "高橋 ケアマネ",
    ),
    (
        "res-kimura",
        "木村 恵美",
        "本人・長女（茂さんの代理）",
        "2026-10-15",
        "渡辺 ケアマネ",
    ),
    (
        "res-hayashi",
        "林 キヨ",
        "本人",
        "2026-09-20",
        "吉田 社会福祉士",
    ),
    (
        "res-shimizu",
        "清水 正男",
        "本人",
        "2026-11-02",
        "渡辺 ケアマネ",
    ),
    (
        "res-mori",
        "森 洋子",
        "長女（代理）",
        "2026-11-10",
        "高橋 ケアマネ",
    ),
];

/// Seeds residents' profiles (kana, household) and consents (5.4) once, also into a demo
/// town seeded before they existed.
async fn seed_profiles(store: &dyn Store) -> anyhow::Result<()> {
    let first = RoomId::parse(PROFILES[0].0)?;
    if store
        .resident(&first)
        .await?
        .is_none_or(|p| p.kana.is_some())
    {
        return Ok(());
    }
    let coordinator = find("coord-yamada")?;
    let actor = UserName {
        id: coordinator.id.clone(),
        name: coordinator.name.clone(),
    };
    for (room, kana, birth_year, household, notes) in PROFILES {
        let room = RoomId::parse(*room)?;
        let Some(current) = store.resident(&room).await? else {
            continue;
        };
        let req = ResidentRequest::try_from(ResidentBody {
            name: current.name,
            kana: Some((*kana).into()),
            birth_year: birth_year.map(i64::from),
            household: Some(
                household
                    .iter()
                    .map(|(name, relation)| HouseholdBody {
                        name: (*name).into(),
                        relation: (*relation).into(),
                    })
                    .collect(),
            ),
            notes: Some((*notes).into()),
        })?;
        store.put_resident(&room, &req, &actor).await?;
    }
    for (i, (room, given_by, relation, date, explained_by)) in CONSENTS.iter().enumerate() {
        let room = RoomId::parse(*room)?;
        let req = ConsentRequest::try_from(ConsentBody {
            given_by: (*given_by).into(),
            relation: (*relation).into(),
            date: (*date).into(),
            explained_by: (*explained_by).into(),
            scope: Some("訪問診療・訪問看護・薬局・介護事業所・町の間での支援経過の共有".into()),
            document: None,
        })?;
        store
            .record_consent(&room, &format!("demo-consent-{i}"), &req, &actor)
            .await?;
    }
    Ok(())
}

/// Prints where to connect and a sign-in link per demo user.
pub fn print_tokens(state: &crate::state::AppState, addr: std::net::SocketAddr) {
    let Some(users) = &state.demo_users else {
        return;
    };
    println!("\nDemo town 美咲町 ({TOWN}). Open http://{addr}/ and pick a user, or use a link:");
    for u in users {
        println!(
            "  {:<14} {} ({}, {})\n      http://{addr}/#token={}",
            u.id, u.name, u.profession, u.role, u.token
        );
    }
}
