//! The demo town's peacemaker stations and a year of disputes (issue 6), made through the real
//! paths: every dispute is registered and acted on by `wuwei_store::mediation` under the rules
//! of `wuwei_domain::mediation`, in time order, by the people who would do it (the village's
//! grid worker or peacemaker, the village's grid chief, political-legal and the lead office),
//! so the figures, the board and the timelines are computed from data, not invented.
//!
//! Deterministic (a fixed seed). Demo parties carry names, sides and addresses but no ID or
//! phone numbers: those are sealed with the server's own key, which the loader does not hold.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use uuid::Uuid;
use wuwei_demo::DemoTown;
use wuwei_domain::mediation::six_in_one::{Office, RoutingFlag};
use wuwei_domain::mediation::workflow::{
    AgreementInput, DisputeAction, DisputeCapacity, DisputeInput, Registration, SessionInput, SessionOutcome,
};
use wuwei_domain::mediation::{DisputeType, MediationLevel, RiskLevel};
use wuwei_domain::region::RegionKind;
use wuwei_store::mediation::{self as store, ActRequest, NewDispute, SessionRecord, StationSeed, StoredParty};
use wuwei_store::{Actor, Tx, accounts};

use crate::demo::DemoError;

/// Disputes in the demo year (the article: "more than 80 resolved this year").
const DISPUTES: usize = 104;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: &[&str] =
    &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "孙", "马", "朱", "胡", "郭", "高"];
const GIVEN: &[&str] =
    &["建国", "秀英", "桂兰", "志强", "玉梅", "德福", "春生", "淑珍", "海涛", "红霞", "长青", "凤英", "国庆", "丽娟"];

fn name(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN))
}

/// (type, title, description) templates.
const CASES: &[(DisputeType, &str, &str)] = &[
    (DisputeType::Neighbour, "邻里排水纠纷", "两户因院墙排水沟走向发生争执，雨天积水流入邻家院内。"),
    (DisputeType::Neighbour, "邻里噪音纠纷", "一户夜间加工作坊噪音较大，邻居多次沟通未果。"),
    (DisputeType::LandHomestead, "宅基地边界纠纷", "两户翻建房屋时对宅基地界址有争议，各执一词。"),
    (DisputeType::LandHomestead, "承包地地界纠纷", "相邻承包地地界石被移动，双方对耕种范围有分歧。"),
    (DisputeType::FamilyMarriage, "赡养老人纠纷", "兄弟三人对老人赡养费用分担及轮流照顾安排有分歧。"),
    (DisputeType::FamilyMarriage, "婚姻家庭矛盾", "夫妻因家庭开支和子女教育问题长期争吵，女方回娘家。"),
    (DisputeType::Debts, "民间借贷纠纷", "借款到期未还，双方对利息约定说法不一。"),
    (DisputeType::UnpaidWages, "务工工资拖欠", "村民在本地建筑队务工，工程结束后尚有工资未结清。"),
    (DisputeType::Contracts, "土地流转合同纠纷", "流转土地租金支付时间与合同约定不符，农户要求解约。"),
    (DisputeType::DamageInjury, "牲畜损坏庄稼", "散养的羊群进入邻家麦田，造成部分青苗损失。"),
    (DisputeType::DamageInjury, "交通事故赔偿", "电动三轮车与摩托车在村道相撞，双方对责任和赔偿有争议。"),
    (DisputeType::Other, "红白事操办纠纷", "操办丧事占用公共道路，影响邻居出行引发口角。"),
];

const TERMS: &[&str] = &[
    "双方同意按原界址恢复，由甲方于十日内重砌院墙，费用各担一半。",
    "乙方一次性支付赔偿款人民币贰仟元，双方今后互不追究。",
    "三兄弟每月各承担赡养费叁佰元，老人由长子家照顾，其余两户按月探望。",
    "欠款本金于本月底前还清，利息按年利率百分之四计算。",
    "双方重新确认地界并埋设界桩，由村委会见证。",
];

const ACTIVITIES: &[(&str, &str)] = &[
    ("legal_publicity", "在村文化广场开展民法典宣讲，发放宣传资料"),
    ("mediation", "走访排查邻里矛盾，现场化解一起小纠纷"),
    ("customs_reform", "宣传红白事简办，劝导一户简办婚事"),
    ("rural_civility", "评选文明家庭，组织村民清理房前屋后"),
    ("neighbourhood_watch", "组织夜间巡逻，检查独居老人家中用电用火安全"),
    ("volunteering", "志愿服务队帮助孤寡老人收玉米"),
];

/// A natural village's station and who acts for it.
struct Village {
    admin_village_id: Uuid,
    natural_village_id: Uuid,
    area_id: Option<Uuid>,
    /// The station's people: its grid worker or peacemaker first.
    members: Vec<Actor>,
    secretary: Option<Actor>,
}

async fn actor(tx: &Tx, username: &str) -> Result<Option<Actor>, DemoError> {
    Ok(accounts::user_by_username(tx.db(), username).await?.map(|u| Actor { id: Some(u.id), name: u.display_name }))
}

/// The stations of every natural village, their members (the village's grid worker and
/// peacemaker with their accounts, the admin village's cadre, and a few villagers) and a year
/// of their activity; with `history`, a year of disputes too.
pub(crate) async fn load(
    tx: &mut Tx,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &HashMap<String, (RegionKind, Uuid, wuwei_domain::region::Ancestry)>,
    town_id: Uuid,
    history: bool,
) -> Result<usize, DemoError> {
    let system = Actor::system("demo");
    let mut seeds = Vec::new();
    for nv in &demo.natural_villages {
        let Some((_, id, anc)) = ids.get(&nv.key) else { continue };
        let Some(av) = anc.admin_village_id else { continue };
        seeds.push(StationSeed {
            admin_village_id: av,
            natural_village_id: *id,
            name: format!("{}和事佬工作站", nv.name),
        });
    }
    store::ensure_stations(tx, &system, town_id, &seeds, now).await?;

    let mut rng = Rng(0x5EED_0006);
    let mut villages = Vec::new();
    let admin_index: HashMap<Uuid, usize> = demo
        .admin_villages
        .iter()
        .enumerate()
        .filter_map(|(i, av)| ids.get(&av.key).map(|(_, id, _)| (*id, i + 1)))
        .collect();
    for (i, nv) in demo.natural_villages.iter().enumerate() {
        let Some((_, nv_id, anc)) = ids.get(&nv.key) else { continue };
        let Some(av_id) = anc.admin_village_id else { continue };
        let Some(station) = store::station_of_village(tx.db(), town_id, *nv_id).await? else { continue };
        let av_n = admin_index.get(&av_id).copied().unwrap_or(1);
        let mut members = Vec::new();
        let linked = [
            (format!("pm{:02}", i + 1), "opinion_representative"),
            (format!("gw{:02}", i + 1), "grid_worker"),
            (format!("vc{av_n}"), "village_cadre"),
        ];
        let mut leader_set = false;
        for (username, kind) in linked {
            let Some(user) = accounts::user_by_username(tx.db(), &username).await? else { continue };
            let leader = kind == "village_cadre" && !leader_set;
            leader_set |= leader;
            let new = store::NewMember {
                name: user.display_name.clone(),
                kind: kind.into(),
                phone: user.phone.clone(),
                user_id: Some(user.id),
                is_leader: leader,
            };
            store::insert_member(tx, &system, &station, new, now).await?;
            if kind != "village_cadre" {
                members.push(Actor { id: Some(user.id), name: user.display_name });
            }
        }
        for kind in ["entrepreneur", "council_head", "legal_adviser"] {
            if kind != "legal_adviser" || rng.chance(0.5) {
                let n = name(&mut rng);
                let new = store::NewMember { name: n, kind: kind.into(), phone: None, user_id: None, is_leader: false };
                store::insert_member(tx, &system, &station, new, now).await?;
            }
        }
        // A year of the six duties, one to three entries a month.
        let today = wuwei_domain::case::local_day(now);
        for back in (0..12u32).rev() {
            let Some(month) = today.with_day(1).and_then(|d| d.checked_sub_months(chrono::Months::new(back))) else {
                continue;
            };
            for _ in 0..(1 + rng.below(3)) {
                let day = 1 + rng.below(27) as u32;
                let Some(on_date) = NaiveDate::from_ymd_opt(month.year(), month.month(), day) else { continue };
                if on_date > today {
                    continue;
                }
                let (duty, summary) = *rng.pick(ACTIVITIES);
                let who = members.first().cloned().unwrap_or_else(|| system.clone());
                store::insert_activity(
                    tx,
                    &who,
                    &station,
                    store::NewActivity {
                        on_date,
                        duty: duty.into(),
                        summary: summary.into(),
                        people_reached: 5 + rng.below(80) as i32,
                        photo_ids: Vec::new(),
                    },
                    now,
                )
                .await?;
            }
        }
        villages.push(Village {
            admin_village_id: av_id,
            natural_village_id: *nv_id,
            area_id: anc.area_id,
            members,
            secretary: actor(tx, &format!("gc{av_n}")).await?,
        });
    }
    if !history || villages.is_empty() {
        return Ok(0);
    }
    disputes(tx, now, town_id, &villages, &mut rng).await
}

/// How a demo dispute goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    SettleInVillage,
    SettleInAdminVillage,
    SettleInTown,
    Referred,
    Withdrawn,
    /// Registered in the last days: still being mediated.
    Open,
}

fn session(outcome: SessionOutcome, notes: &str, agreement: Option<(String, u32)>) -> SessionInput {
    SessionInput {
        outcome,
        mediators: 2,
        parties_present: 2,
        notes: notes.into(),
        agreement: agreement.map(|(terms, parties)| AgreementInput { parties, terms }),
    }
}

async fn disputes(
    tx: &mut Tx,
    now: DateTime<Utc>,
    town_id: Uuid,
    villages: &[Village],
    rng: &mut Rng,
) -> Result<usize, DemoError> {
    let pl = actor(tx, "pl1").await?.unwrap_or_else(|| Actor::system("demo"));
    let mut offices: HashMap<Office, Actor> = HashMap::new();
    for (o, u) in [
        (Office::Justice, "justice1"),
        (Office::Police, "police1"),
        (Office::Petitions, "petitions1"),
        (Office::Discipline, "disc1"),
    ] {
        if let Some(a) = actor(tx, u).await? {
            offices.insert(o, a);
        }
    }
    // Registrations spread over this year up to two days ago, in time order.
    let start = Utc.with_ymd_and_hms(now.year(), 1, 5, 1, 0, 0).single().unwrap_or(now - Duration::days(330));
    let span = (now - Duration::days(2) - start).num_minutes().max(1) as u64;
    let mut at: Vec<DateTime<Utc>> = (0..DISPUTES).map(|_| start + Duration::minutes(rng.below(span) as i64)).collect();
    at.sort();
    let mut made = 0;
    for t0 in at {
        let v = &villages[rng.below(villages.len() as u64) as usize];
        let member = v.members.first().cloned().unwrap_or_else(|| Actor::system("demo"));
        let (dispute_type, title, description) = *rng.pick(CASES);
        let recent = now - t0 < Duration::days(6);
        let roll = rng.below(100);
        let plan = match roll {
            _ if recent => Plan::Open,
            0..=61 => Plan::SettleInVillage,
            62..=81 => Plan::SettleInAdminVillage,
            82..=93 => Plan::SettleInTown,
            94..=96 => Plan::Referred,
            _ => Plan::Withdrawn,
        };
        let risk = if rng.chance(0.05) {
            RiskLevel::High
        } else if rng.chance(0.12) {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        };
        let parties: Vec<StoredParty> = ["applicant", "respondent"]
            .iter()
            .map(|side| StoredParty {
                id: Uuid::now_v7(),
                name: name(rng),
                side: (*side).into(),
                household_id: None,
                address: None,
                id_number_sealed: None,
                id_number_masked: None,
                phone_sealed: None,
                phone_masked: None,
                is_party_member_or_cadre: false,
            })
            .collect();
        let party_ids: Vec<Uuid> = parties.iter().map(|p| p.id).collect();
        let mut flags = vec![RoutingFlag::PeoplesMediation];
        if dispute_type == DisputeType::DamageInjury || risk == RiskLevel::High {
            flags.push(RoutingFlag::Violence);
        }
        let new = NewDispute {
            town_id,
            registration: Registration {
                dispute_type,
                risk,
                level: MediationLevel::NaturalVillage,
                parties: 2,
                description: description.into(),
                skip_reason: None,
            },
            title: title.into(),
            flags,
            lat: None,
            lon: None,
            address: None,
            area_id: v.area_id,
            admin_village_id: v.admin_village_id,
            natural_village_id: v.natural_village_id,
            grid_id: None,
            parties,
            case_id: None,
        };
        let w = store::register(tx, &member, new, &[DisputeCapacity::StationMember], t0).await.map_err(demo_err)?;
        let id = w.dispute.id;
        made += 1;
        let mut t = t0 + Duration::hours(20 + rng.below(60) as i64);
        let act = |action: DisputeAction, input: DisputeInput, session: Option<SessionRecord>| ActRequest {
            action,
            version: None,
            input,
            session,
            tasks: Vec::new(),
        };
        let record = |place: &str, mediators: Vec<String>, agreed: bool| SessionRecord {
            held_at: None,
            place: place.into(),
            mediators,
            agreement_party_ids: if agreed { party_ids.clone() } else { Vec::new() },
            photo_ids: Vec::new(),
        };
        let station_names: Vec<String> = v.members.iter().map(|a| a.name.clone()).collect();
        if plan == Plan::Open {
            if rng.chance(0.5) && t < now {
                let input = DisputeInput {
                    session: Some(session(SessionOutcome::Adjourned, "双方情绪激动，约定三日后再调。", None)),
                    ..Default::default()
                };
                store::act(
                    tx,
                    &member,
                    town_id,
                    id,
                    &[DisputeCapacity::StationMember],
                    act(
                        DisputeAction::RecordSession,
                        input,
                        Some(record("和事佬工作站", station_names.clone(), false)),
                    ),
                    t,
                )
                .await
                .map_err(demo_err)?;
            }
            continue;
        }
        if plan == Plan::Withdrawn {
            let input = DisputeInput {
                reason: Some("双方自行和解，申请人撤回调解申请。".into()),
                ..Default::default()
            };
            store::act(
                tx,
                &member,
                town_id,
                id,
                &[DisputeCapacity::StationMember],
                act(DisputeAction::Close, input, None),
                t,
            )
            .await
            .map_err(demo_err)?;
            continue;
        }
        let terms = (rng.pick(TERMS).to_string(), 2u32);
        // The natural village.
        if rng.chance(0.3) {
            let input = DisputeInput {
                session: Some(session(SessionOutcome::Partly, "部分事项达成一致，其余待进一步核实。", None)),
                ..Default::default()
            };
            store::act(
                tx,
                &member,
                town_id,
                id,
                &[DisputeCapacity::StationMember],
                act(DisputeAction::RecordSession, input, Some(record("和事佬工作站", station_names.clone(), false))),
                t,
            )
            .await
            .map_err(demo_err)?;
            t += Duration::hours(24 + rng.below(48) as i64);
        }
        let settled_at = if plan == Plan::SettleInVillage {
            let input = DisputeInput {
                session: Some(session(
                    SessionOutcome::Agreed,
                    "经和事佬耐心劝说，双方达成调解协议。",
                    Some(terms.clone()),
                )),
                ..Default::default()
            };
            store::act(
                tx,
                &member,
                town_id,
                id,
                &[DisputeCapacity::StationMember],
                act(DisputeAction::RecordSession, input, Some(record("和事佬工作站", station_names.clone(), true))),
                t,
            )
            .await
            .map_err(demo_err)?;
            Some((t, member.clone(), DisputeCapacity::StationMember))
        } else {
            let input = DisputeInput {
                session: Some(session(SessionOutcome::Failed, "双方分歧较大，村级调解未果，上交行政村。", None)),
                ..Default::default()
            };
            store::act(
                tx,
                &member,
                town_id,
                id,
                &[DisputeCapacity::StationMember],
                act(DisputeAction::RecordSession, input, Some(record("和事佬工作站", station_names.clone(), false))),
                t,
            )
            .await
            .map_err(demo_err)?;
            t += Duration::hours(24 + rng.below(72) as i64);
            let secretary = v.secretary.clone().unwrap_or_else(|| Actor::system("demo"));
            let mediators = vec![secretary.name.clone(), "包村干部".into()];
            if plan == Plan::SettleInAdminVillage {
                let input = DisputeInput {
                    session: Some(session(
                        SessionOutcome::Agreed,
                        "村党支部书记牵头，党员代表参与，双方达成一致。",
                        Some(terms.clone()),
                    )),
                    ..Default::default()
                };
                store::act(
                    tx,
                    &secretary,
                    town_id,
                    id,
                    &[DisputeCapacity::VillageSecretary],
                    act(DisputeAction::RecordSession, input, Some(record("村委会调解室", mediators, true))),
                    t,
                )
                .await
                .map_err(demo_err)?;
                Some((t, secretary, DisputeCapacity::VillageSecretary))
            } else {
                let input = DisputeInput {
                    session: Some(session(
                        SessionOutcome::Failed,
                        "涉及金额较大，双方各执一词，提交镇六位一体联合调处。",
                        None,
                    )),
                    ..Default::default()
                };
                store::act(
                    tx,
                    &secretary,
                    town_id,
                    id,
                    &[DisputeCapacity::VillageSecretary],
                    act(DisputeAction::RecordSession, input, Some(record("村委会调解室", mediators, false))),
                    t,
                )
                .await
                .map_err(demo_err)?;
                t += Duration::hours(4 + rng.below(24) as i64);
                let violent = w.dispute.flags().contains(&RoutingFlag::Violence);
                let collaborators = if violent { vec![Office::Police] } else { Vec::new() };
                let input = DisputeInput { lead: Some(Office::Justice), collaborators, ..Default::default() };
                let mut req = act(DisputeAction::Assign, input, None);
                req.tasks =
                    vec![store::TaskDraft {
                        office: Office::Justice, task: "牵头组织联合调处".into(), due_at: None
                    }];
                if violent {
                    req.tasks.push(store::TaskDraft {
                        office: Office::Police,
                        task: "排查风险，防止矛盾激化".into(),
                        due_at: None,
                    });
                }
                store::act(tx, &pl, town_id, id, &[DisputeCapacity::PoliticalLegal], req, t).await.map_err(demo_err)?;
                t += Duration::hours(24 + rng.below(120) as i64);
                let justice = offices.get(&Office::Justice).cloned().unwrap_or_else(|| Actor::system("demo"));
                let mediators = vec![justice.name.clone(), "镇法律顾问".into()];
                if plan == Plan::SettleInTown {
                    let input = DisputeInput {
                        session: Some(session(
                            SessionOutcome::Agreed,
                            "司法所牵头，派出所配合，依法依规调处，双方签订协议。",
                            Some(terms.clone()),
                        )),
                        ..Default::default()
                    };
                    store::act(
                        tx,
                        &justice,
                        town_id,
                        id,
                        &[DisputeCapacity::LeadOffice],
                        act(DisputeAction::RecordSession, input, Some(record("镇综治中心调解室", mediators, true))),
                        t,
                    )
                    .await
                    .map_err(demo_err)?;
                    Some((t, justice, DisputeCapacity::LeadOffice))
                } else {
                    let input = DisputeInput {
                        session: Some(session(SessionOutcome::Failed, "调解不成，引导当事人通过诉讼途径解决。", None)),
                        ..Default::default()
                    };
                    store::act(
                        tx,
                        &justice,
                        town_id,
                        id,
                        &[DisputeCapacity::LeadOffice],
                        act(DisputeAction::RecordSession, input, Some(record("镇综治中心调解室", mediators, false))),
                        t,
                    )
                    .await
                    .map_err(demo_err)?;
                    None
                }
            }
        };
        // The follow-up visit, once it is due.
        if let Some((agreed_at, who, cap)) = settled_at {
            let visit = agreed_at + Duration::days(30) + Duration::hours(rng.below(96) as i64);
            if visit < now {
                let holds = rng.chance(0.93);
                let notes = if holds {
                    "回访双方，协议已履行，关系缓和。"
                } else {
                    "回访发现一方未按约定履行，重新调解。"
                };
                let input = DisputeInput { holds: Some(holds), notes: Some(notes.into()), ..Default::default() };
                store::act(tx, &who, town_id, id, &[cap], act(DisputeAction::FollowUp, input, None), visit)
                    .await
                    .map_err(demo_err)?;
                if !holds && visit + Duration::days(3) < now {
                    let input = DisputeInput {
                        session: Some(session(SessionOutcome::Agreed, "再次调解，双方重新确认履行期限。", Some(terms))),
                        ..Default::default()
                    };
                    store::act(
                        tx,
                        &who,
                        town_id,
                        id,
                        &[cap],
                        act(DisputeAction::RecordSession, input, Some(record("调解室", vec![who.name.clone()], true))),
                        visit + Duration::days(3),
                    )
                    .await
                    .map_err(demo_err)?;
                }
            }
        }
    }
    Ok(made)
}

fn demo_err(e: store::MediationError) -> DemoError {
    match e {
        store::MediationError::Store(s) => DemoError::Store(s),
        other => DemoError::Data(format!("mediation: {other}")),
    }
}
