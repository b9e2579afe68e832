//! The rulebook (积分评定细则): what earns or costs a household points, how much, on what
//! evidence, how often, and who may propose it.
//!
//! A rulebook is only ever built through [`Rulebook::new`], which checks every item and reports
//! every problem with its row and field, so that an imported spreadsheet can be refused whole
//! with a list of what to fix (nothing half-imported). Awards copy the item's points when they are
//! proposed, so editing the rulebook never alters points already posted.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Points;
use crate::access::Role;

named_enum!(
    /// The 8 categories of the town's rules (glossary, "Points").
    Category {
        /// 勤劳致富
        Industry => "industry",
        /// 孝老爱亲
        FilialCare => "filial_care",
        /// 移风易俗
        CustomsReform => "customs_reform",
        /// 矛盾调解
        Mediation => "mediation",
        /// 环保卫生
        Hygiene => "hygiene",
        /// 遵纪守法
        LawAbiding => "law_abiding",
        /// 热心公益
        PublicWelfare => "public_welfare",
        /// 榜样好人
        RoleModel => "role_model",
    }
);

impl Category {
    pub fn name_zh(self) -> &'static str {
        match self {
            Category::Industry => "勤劳致富",
            Category::FilialCare => "孝老爱亲",
            Category::CustomsReform => "移风易俗",
            Category::Mediation => "矛盾调解",
            Category::Hygiene => "环保卫生",
            Category::LawAbiding => "遵纪守法",
            Category::PublicWelfare => "热心公益",
            Category::RoleModel => "榜样好人",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Category::Industry => "Hard work and prosperity",
            Category::FilialCare => "Filial piety and family care",
            Category::CustomsReform => "Reforming customs",
            Category::Mediation => "Dispute mediation",
            Category::Hygiene => "Environment and hygiene",
            Category::LawAbiding => "Law-abiding",
            Category::PublicWelfare => "Public welfare",
            Category::RoleModel => "Role models",
        }
    }
}

named_enum!(
    /// What a proposal must carry before it can be submitted.
    Evidence {
        None => "none",
        Photo => "photo",
        Document => "document",
    }
);

named_enum!(
    /// A calendar period in China Standard Time (see [`super::cap::period_bounds`]).
    Period {
        Month => "month",
        Quarter => "quarter",
        Year => "year",
    }
);

/// At most `points` (in magnitude) from one item per household per `period`: "at most 20 points
/// a month for volunteering". For a deduction item the cap bounds what may be deducted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    pub points: Points,
    pub period: Period,
}

/// One line of the rulebook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleItem {
    /// Stable identifier (`[a-z0-9_]`), what awards and spreadsheets refer to.
    pub code: String,
    pub category: Category,
    pub name_zh: String,
    pub name_en: String,
    /// Points per occurrence: positive earns, negative deducts; never zero.
    pub points: Points,
    pub evidence: Evidence,
    pub cap: Option<Cap>,
    /// Who may propose it; only the roles in [`PROPOSER_ROLES`].
    pub proposers: Vec<Role>,
}

/// The roles that may propose an award at all. A resident only for their own household, with
/// evidence, and never a deduction (see [`RuleItem`] checks and `award::check_proposal`).
pub const PROPOSER_ROLES: &[Role] = &[Role::GridWorker, Role::VillageCadre, Role::Peacemaker, Role::Resident];

/// Limits: a rulebook is a page of rules, not a database.
pub const MAX_ITEMS: usize = 500;
pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_NAME_CHARS: usize = 100;
/// No single occurrence is worth more than this (in magnitude); a typo of 1000 for 10 is refused.
pub const MAX_ITEM_POINTS: Points = 500;
/// No cap above this; a larger "cap" is no cap and should be left empty.
pub const MAX_CAP_POINTS: Points = 10_000;

/// One problem of one item, located for a 422 listing "row, column, what".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {row} ({field}): {problem}")]
pub struct RuleProblem {
    /// Position of the item in the input, from 0 (a spreadsheet adds its header row).
    pub row: usize,
    pub field: &'static str,
    pub problem: &'static str,
}

/// A checked rulebook: unique codes, non-zero bounded points, positive caps that an occurrence
/// fits in, allowed proposers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rulebook {
    items: Vec<RuleItem>,
}

impl Rulebook {
    /// Check every item; on any problem, return all of them (in row order) and build nothing.
    pub fn new(items: Vec<RuleItem>) -> Result<Rulebook, Vec<RuleProblem>> {
        let mut problems = Vec::new();
        if items.len() > MAX_ITEMS {
            problems.push(RuleProblem { row: MAX_ITEMS, field: "code", problem: "too_many_items" });
            return Err(problems);
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (row, item) in items.iter().enumerate() {
            let mut bad = |field, problem| problems.push(RuleProblem { row, field, problem });
            let code_ok = !item.code.is_empty()
                && item.code.len() <= MAX_CODE_CHARS
                && item.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !code_ok {
                bad("code", "lowercase_letters_digits_underscore");
            } else if seen.insert(item.code.as_str(), row).is_some() {
                bad("code", "duplicate");
            }
            for (field, name) in [("name_zh", &item.name_zh), ("name_en", &item.name_en)] {
                if name.trim().is_empty() {
                    bad(field, "required");
                } else if name.chars().count() > MAX_NAME_CHARS {
                    bad(field, "too_long");
                }
            }
            if item.points == 0 {
                bad("points", "not_zero");
            } else if item.points.abs() > MAX_ITEM_POINTS {
                bad("points", "too_large");
            }
            if let Some(cap) = item.cap {
                if cap.points <= 0 {
                    bad("cap", "positive");
                } else if cap.points > MAX_CAP_POINTS {
                    bad("cap", "too_large");
                } else if cap.points < item.points.abs() {
                    // One occurrence would already exceed it: the item could never be awarded.
                    bad("cap", "below_one_occurrence");
                }
            }
            if item.proposers.is_empty() {
                bad("proposers", "required");
            } else if item.proposers.iter().any(|r| !PROPOSER_ROLES.contains(r)) {
                bad("proposers", "role_may_not_propose");
            } else if item.proposers.contains(&Role::Resident) {
                // A household proposing for itself must show proof, and never deducts itself.
                if item.evidence == Evidence::None {
                    bad("evidence", "required_when_residents_propose");
                }
                if item.points < 0 {
                    bad("proposers", "residents_may_not_propose_deductions");
                }
            }
        }
        if problems.is_empty() { Ok(Rulebook { items }) } else { Err(problems) }
    }

    pub fn items(&self) -> &[RuleItem] {
        &self.items
    }

    pub fn get(&self, code: &str) -> Option<&RuleItem> {
        self.items.iter().find(|i| i.code == code)
    }

    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &RuleItem> {
        self.items.iter().filter(move |i| i.category == category)
    }

    pub fn into_items(self) -> Vec<RuleItem> {
        self.items
    }
}

/// The default rulebook: a realistic 积分评定细则 with items in every category, modelled on the
/// rules Shandong villages publish. A town starts from it and edits its own copy.
pub fn default_rulebook() -> Result<Rulebook, Vec<RuleProblem>> {
    Rulebook::new(default_items())
}

/// The default items, unchecked (see [`default_rulebook`]).
pub fn default_items() -> Vec<RuleItem> {
    use Category::*;
    use Evidence::{Document as Doc, None as NoEv, Photo};
    use Period::{Month, Quarter, Year};
    const STAFF: &[Role] = &[Role::GridWorker, Role::VillageCadre];
    const STAFF_AND_PEACEMAKER: &[Role] = &[Role::GridWorker, Role::VillageCadre, Role::Peacemaker];
    const STAFF_AND_RESIDENT: &[Role] = &[Role::GridWorker, Role::VillageCadre, Role::Resident];
    const CADRE: &[Role] = &[Role::VillageCadre];
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    let rows: &[(&str, Category, &str, &str, Points, Evidence, Option<(Points, Period)>, &[Role])] = &[
        // 勤劳致富
        ("industry_new_business", Industry, "自主创业或发展特色种养", "Starting a business or specialty farming", 10, Doc, Some((10, Year)), STAFF),
        ("industry_skills_training", Industry, "参加职业技能培训", "Attending vocational skills training", 3, Doc, Some((9, Year)), STAFF_AND_RESIDENT),
        ("industry_employ_villagers", Industry, "带动村民就业增收", "Employing fellow villagers", 5, Doc, Some((20, Year)), STAFF),
        ("industry_poverty_exit", Industry, "稳定脱贫、勤劳致富", "Leaving poverty through work", 5, NoEv, Some((5, Year)), CADRE),
        // 孝老爱亲
        ("filial_care_elders", FilialCare, "孝老爱亲、赡养老人", "Caring for elderly parents", 5, NoEv, Some((5, Quarter)), STAFF),
        ("filial_care_good_family", FilialCare, "评为文明家庭、五好家庭", "Named a model family", 10, Doc, Some((10, Year)), CADRE),
        ("filial_care_neighbours", FilialCare, "邻里互助、照顾孤寡老人", "Helping neighbours and lone elders", 2, Photo, Some((10, Month)), STAFF_AND_RESIDENT),
        ("filial_care_neglect", FilialCare, "不赡养老人、虐待家庭成员", "Neglecting elders or abusing family members", -10, Doc, None, CADRE),
        // 移风易俗
        ("customs_simple_wedding", CustomsReform, "婚事新办、不要高价彩礼", "A simple wedding without a high bride price", 5, Doc, Some((5, Year)), STAFF),
        ("customs_simple_funeral", CustomsReform, "丧事简办、文明祭扫", "A simple funeral and civil mourning", 5, Doc, Some((5, Year)), STAFF),
        ("customs_extravagance", CustomsReform, "大操大办、铺张浪费", "Extravagant banquets", -5, Photo, Some((10, Year)), STAFF),
        ("customs_superstition", CustomsReform, "参与封建迷信活动", "Taking part in superstitious rites", -5, NoEv, Some((10, Year)), CADRE),
        // 矛盾调解
        ("mediation_resolved", Mediation, "主动化解邻里矛盾纠纷", "Settling a neighbour dispute", 3, NoEv, Some((9, Month)), STAFF_AND_PEACEMAKER),
        ("mediation_peacemaker_duty", Mediation, "担任和事佬参与调解", "Mediating as a peacemaker", 2, NoEv, Some((10, Month)), STAFF_AND_PEACEMAKER),
        ("mediation_agreement_kept", Mediation, "履行调解协议", "Keeping a mediation agreement", 2, Doc, Some((4, Quarter)), STAFF_AND_PEACEMAKER),
        ("mediation_petition_skip", Mediation, "越级上访、缠访闹访", "Bypassing levels or disruptive petitioning", -10, Doc, Some((20, Year)), CADRE),
        // 环保卫生
        ("hygiene_courtyard_clean", Hygiene, "庭院整洁、美丽庭院", "A clean and tidy courtyard", 2, Photo, Some((2, Month)), STAFF),
        ("hygiene_cleanup_day", Hygiene, "参加环境卫生整治", "Joining an environmental clean-up", 2, Photo, Some((8, Month)), STAFF_AND_RESIDENT),
        ("hygiene_waste_sorting", Hygiene, "垃圾分类投放", "Sorting household waste", 1, Photo, Some((3, Month)), STAFF),
        ("hygiene_littering", Hygiene, "乱扔乱倒、乱堆乱放", "Littering or dumping", -2, Photo, Some((6, Month)), STAFF),
        ("hygiene_straw_burning", Hygiene, "焚烧秸秆、垃圾", "Burning straw or rubbish", -10, Photo, None, STAFF),
        // 遵纪守法
        ("law_no_violations", LawAbiding, "全年无违法违纪行为", "A year without violations", 5, NoEv, Some((5, Year)), CADRE),
        ("law_clue_report", LawAbiding, "举报违法线索经查属实", "Reporting a confirmed violation", 3, NoEv, Some((9, Month)), STAFF),
        ("law_illegal_building", LawAbiding, "私搭乱建、违法占地", "Illegal building or land use", -10, Photo, None, STAFF),
        ("law_gambling", LawAbiding, "参与赌博", "Gambling", -10, Doc, None, CADRE),
        // 热心公益
        ("welfare_volunteer", PublicWelfare, "参加志愿服务", "Volunteer service", 2, Photo, Some((20, Month)), STAFF_AND_RESIDENT),
        ("welfare_donation", PublicWelfare, "捐款捐物、扶贫济困", "Donating to those in need", 3, Doc, Some((9, Quarter)), STAFF_AND_RESIDENT),
        ("welfare_blood_donation", PublicWelfare, "无偿献血", "Donating blood", 5, Doc, Some((10, Year)), STAFF_AND_RESIDENT),
        ("welfare_village_affairs", PublicWelfare, "参加村民议事、义务劳动", "Village meetings and voluntary labour", 1, NoEv, Some((4, Month)), STAFF),
        // 榜样好人
        ("role_model_good_person", RoleModel, "评为好人好事、道德模范", "Named a good Samaritan or moral model", 20, Doc, Some((20, Year)), CADRE),
        ("role_model_brave", RoleModel, "见义勇为", "A brave deed", 20, Doc, Some((40, Year)), CADRE),
        ("role_model_star_household", RoleModel, "评为星级文明户", "Named a star civilised household", 10, Doc, Some((10, Year)), CADRE),
        ("role_model_soldier_family", RoleModel, "参军入伍、光荣之家", "A family member enlisted", 10, Doc, Some((10, Year)), CADRE),
    ];
    rows.iter()
        .map(|&(code, category, zh, en, points, evidence, cap, proposers)| RuleItem {
            code: code.to_string(),
            category,
            name_zh: zh.to_string(),
            name_en: en.to_string(),
            points,
            evidence,
            cap: cap.map(|(points, period)| Cap { points, period }),
            proposers: proposers.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rulebook_is_valid_and_covers_every_category() {
        let book = default_rulebook().unwrap();
        for &c in Category::ALL {
            let n = book.in_category(c).count();
            assert!(n >= 3, "{c} has {n} items");
            assert!(book.in_category(c).any(|i| i.points > 0), "{c} has nothing to earn");
        }
        assert!(book.items().iter().any(|i| i.points < 0), "some items deduct");
        assert_eq!(book.get("welfare_volunteer").unwrap().cap, Some(Cap { points: 20, period: Period::Month }));
        assert!(book.get("no_such_item").is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_row_and_field() {
        let mut items = default_items();
        items[1].code = items[0].code.clone();
        items[2].points = 0;
        items[3].cap = Some(Cap { points: 0, period: Period::Month });
        items[4].name_zh = "  ".into();
        items[5].proposers = vec![Role::Dispatcher];
        let problems = Rulebook::new(items).unwrap_err();
        let found: Vec<(usize, &str, &str)> = problems.iter().map(|p| (p.row, p.field, p.problem)).collect();
        assert_eq!(
            found,
            vec![
                (1, "code", "duplicate"),
                (2, "points", "not_zero"),
                (3, "cap", "positive"),
                (4, "name_zh", "required"),
                (5, "proposers", "role_may_not_propose"),
            ]
        );
    }

    #[test]
    fn a_cap_below_one_occurrence_and_resident_deductions_are_refused() {
        let mut items = default_items();
        items[0].cap = Some(Cap { points: 5, period: Period::Year }); // the item is worth 10
        let neglect = items.iter().position(|i| i.code == "filial_care_neglect").unwrap();
        items[neglect].proposers.push(Role::Resident);
        let problems = Rulebook::new(items).unwrap_err();
        assert_eq!(problems[0], RuleProblem { row: 0, field: "cap", problem: "below_one_occurrence" });
        assert_eq!(
            problems[1],
            RuleProblem { row: neglect, field: "proposers", problem: "residents_may_not_propose_deductions" }
        );
    }

    #[test]
    fn names_round_trip() {
        for &c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert!(!c.name_zh().is_empty() && !c.name_en().is_empty());
        }
        assert_eq!(serde_json::to_string(&Period::Quarter).unwrap(), "\"quarter\"");
        assert_eq!(serde_json::from_str::<Evidence>("\"photo\"").unwrap(), Evidence::Photo);
        assert!(serde_json::from_str::<Evidence>("\"video\"").is_err());
    }
}
