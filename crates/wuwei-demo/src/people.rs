//! Households and residents: plausible family structures, ages and phones.

use crate::names;
use crate::rng::Rng;
use crate::{DEMO_YEAR, DemoResident};
use std::collections::BTreeSet;

/// Phone numbers in the 1700 virtual-operator range, never repeated.
pub(crate) struct Phones {
    used: BTreeSet<u32>,
}

impl Phones {
    pub(crate) fn new() -> Phones {
        Phones { used: BTreeSet::new() }
    }

    /// `1700` followed by seven digits, unique among all numbers drawn here.
    pub(crate) fn next(&mut self, rng: &mut Rng) -> String {
        loop {
            let n = rng.below(10_000_000) as u32;
            if self.used.insert(n) {
                return format!("1700{n:07}");
            }
        }
    }
}

struct Draft {
    female: bool,
    age: i32,
    relation: &'static str,
    surname: Option<String>,
}

fn person(female: bool, age: i32, relation: &'static str) -> Draft {
    Draft { female, age: age.max(0), relation, surname: None }
}

/// Children of a couple whose younger parent is `parent_age`: 1..=`max` of them, the eldest
/// born when the parent was 22–32, the next ones 1–6 years apart.
fn children(rng: &mut Rng, parent_age: i32, max: i32, relation: &'static str) -> Vec<Draft> {
    let count = rng.int(1, max.max(1));
    let mut age = parent_age - rng.int(22, 32);
    let mut out = Vec::new();
    for _ in 0..count {
        if age < 0 {
            break;
        }
        out.push(person(rng.chance(0.48), age, relation));
        age -= rng.int(1, 6);
    }
    out
}

/// Whether a household is an elderly person living alone (the one-click call serves them).
pub(crate) fn is_elderly_alone(residents: &[DemoResident]) -> bool {
    matches!(residents, [only] if DEMO_YEAR - only.birth_year >= 65)
}

/// The residents of one household, head first. `village_surname` is the surname many families
/// of the village share, if its name has one.
pub(crate) fn residents(
    rng: &mut Rng,
    phones: &mut Phones,
    household_phone: &str,
    village_surname: Option<&str>,
) -> Vec<DemoResident> {
    let roll = rng.index(100);
    let mut drafts: Vec<Draft> = Vec::new();
    match roll {
        // an elderly person living alone, more often a widow
        0..=10 => drafts.push(person(rng.chance(0.58), rng.int(65, 80), "head")),
        // an elderly couple, sometimes with a grandchild left in their care
        11..=25 => {
            let age = rng.int(62, 80);
            drafts.push(person(false, age, "head"));
            drafts.push(person(true, age - rng.int(-1, 4), "spouse"));
            if rng.chance(0.3) {
                drafts.push(person(rng.chance(0.48), rng.int(5, 15), "grandchild"));
            }
        }
        // a couple with children
        26..=59 => {
            let age = rng.int(30, 55);
            let spouse_age = age - rng.int(-2, 4);
            drafts.push(person(false, age, "head"));
            drafts.push(person(true, spouse_age, "spouse"));
            drafts.extend(children(rng, age.min(spouse_age), 3, "child"));
        }
        // three generations: the couple, children and one or two old parents
        60..=84 => {
            let age = rng.int(32, 56);
            let spouse_age = age - rng.int(-2, 4);
            drafts.push(person(false, age, "head"));
            drafts.push(person(true, spouse_age, "spouse"));
            drafts.extend(children(rng, age.min(spouse_age), 2, "child"));
            let parent_age = (age + rng.int(22, 32)).min(94);
            drafts.push(person(true, parent_age - rng.int(0, 3), "parent"));
            if rng.chance(0.45) {
                drafts.push(person(false, parent_age, "parent"));
            }
        }
        // an older couple with a married son and grandchildren
        85..=94 => {
            let age = rng.int(50, 72);
            let spouse_age = age - rng.int(-1, 4);
            drafts.push(person(false, age, "head"));
            drafts.push(person(true, spouse_age, "spouse"));
            let son_age = age.min(spouse_age) - rng.int(22, 30);
            drafts.push(person(false, son_age, "child"));
            let mut in_law = person(true, son_age - rng.int(0, 3), "other");
            in_law.surname = Some(names::surname(rng).to_string());
            drafts.push(in_law);
            drafts.extend(children(rng, son_age - 1, 2, "grandchild"));
        }
        // a single adult, sometimes with a sibling or an old parent
        _ => {
            let age = rng.int(30, 60);
            drafts.push(person(rng.chance(0.3), age, "head"));
            if rng.chance(0.5) {
                drafts.push(person(rng.chance(0.5), age + rng.int(-8, 8), "sibling"));
            } else {
                drafts.push(person(true, (age + rng.int(24, 32)).min(94), "parent"));
            }
        }
    }
    drafts.truncate(6);

    // Family surname: shared with the village's main surname in many households.
    let family = match village_surname {
        Some(s) if rng.chance(0.45) => s.to_string(),
        _ => names::surname(rng).to_string(),
    };
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let birth_year = DEMO_YEAR - d.age;
        // The head's side of the family carries `family`; a spouse, the head's mother or a
        // daughter-in-law has the surname she was born with.
        let surname = match (d.relation, &d.surname) {
            (_, Some(s)) => s.clone(),
            ("spouse", _) => names::surname(rng).to_string(),
            ("parent", _) if d.female => names::surname(rng).to_string(),
            _ => family.clone(),
        };
        let name = names::person_name_with(rng, &surname, d.female, birth_year);
        let phone = match d.relation {
            "head" => Some(household_phone.to_string()),
            _ if d.age < 16 => None,
            _ if d.age >= 75 => rng.chance(0.15).then(|| phones.next(rng)),
            _ => rng.chance(0.75).then(|| phones.next(rng)),
        };
        out.push(DemoResident {
            name,
            gender: if d.female { "female" } else { "male" },
            birth_year,
            relation: d.relation,
            phone,
        });
    }
    out
}
