//! The region tree: `town → area → admin_village → natural_village → grid`, under a `city`.
//! Areas are optional groupings: an admin village hangs under an area or directly under the town.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{Level, Place};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    Town,
    Area,
    AdminVillage,
    NaturalVillage,
    Grid,
}

impl RegionKind {
    pub const ALL: [RegionKind; 5] =
        [RegionKind::Town, RegionKind::Area, RegionKind::AdminVillage, RegionKind::NaturalVillage, RegionKind::Grid];

    pub fn as_str(self) -> &'static str {
        self.level().as_str()
    }

    pub fn parse(s: &str) -> Option<RegionKind> {
        RegionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn level(self) -> Level {
        match self {
            RegionKind::Town => Level::Town,
            RegionKind::Area => Level::Area,
            RegionKind::AdminVillage => Level::AdminVillage,
            RegionKind::NaturalVillage => Level::NaturalVillage,
            RegionKind::Grid => Level::Grid,
        }
    }

    /// The kinds a region of this kind may hang under (a town hangs under a city, not a region).
    pub fn allowed_parents(self) -> &'static [RegionKind] {
        match self {
            RegionKind::Town => &[],
            RegionKind::Area => &[RegionKind::Town],
            RegionKind::AdminVillage => &[RegionKind::Area, RegionKind::Town],
            RegionKind::NaturalVillage => &[RegionKind::AdminVillage],
            RegionKind::Grid => &[RegionKind::NaturalVillage],
        }
    }
}

/// The ancestors a region row stores beside its own id, so that "everything in this village"
/// is one indexed equality, never a recursive walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ancestry {
    pub city_id: Option<Uuid>,
    pub town_id: Uuid,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
}

impl Ancestry {
    /// The ancestry a child of `parent` (a region of `parent_kind` with ancestry `self`) gets.
    pub fn child_of(&self, parent_kind: RegionKind, parent_id: Uuid) -> Ancestry {
        let mut a = *self;
        match parent_kind {
            RegionKind::Town => {}
            RegionKind::Area => a.area_id = Some(parent_id),
            RegionKind::AdminVillage => a.admin_village_id = Some(parent_id),
            RegionKind::NaturalVillage => a.natural_village_id = Some(parent_id),
            RegionKind::Grid => {}
        }
        a
    }

    /// The place of a region of `kind` with id `id` and this ancestry.
    pub fn place_of(&self, kind: RegionKind, id: Uuid) -> Place {
        let mut p = Place {
            city_id: self.city_id,
            town_id: Some(self.town_id),
            area_id: self.area_id,
            admin_village_id: self.admin_village_id,
            natural_village_id: self.natural_village_id,
            grid_id: None,
            household_id: None,
        };
        match kind {
            RegionKind::Town => p.town_id = Some(id),
            RegionKind::Area => p.area_id = Some(id),
            RegionKind::AdminVillage => p.admin_village_id = Some(id),
            RegionKind::NaturalVillage => p.natural_village_id = Some(id),
            RegionKind::Grid => p.grid_id = Some(id),
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_nest() {
        for k in RegionKind::ALL {
            assert_eq!(RegionKind::parse(k.as_str()), Some(k));
            for p in k.allowed_parents() {
                assert!(p.level() < k.level());
            }
        }
    }

    #[test]
    fn a_grid_place_names_all_its_ancestors() {
        let town = Uuid::from_u128(1);
        let (av, nv, grid) = (Uuid::from_u128(2), Uuid::from_u128(3), Uuid::from_u128(4));
        let top = Ancestry { city_id: Some(Uuid::from_u128(9)), town_id: town, ..Ancestry::default() };
        let under_nv = top.child_of(RegionKind::AdminVillage, av).child_of(RegionKind::NaturalVillage, nv);
        let place = under_nv.place_of(RegionKind::Grid, grid);
        assert_eq!(place.town_id, Some(town));
        assert_eq!(place.admin_village_id, Some(av));
        assert_eq!(place.natural_village_id, Some(nv));
        assert_eq!(place.grid_id, Some(grid));
        assert_eq!(place.level(), Some(Level::Grid));
    }
}
