//! Roles, scopes and permissions: who may do what, where. The one place authorization is
//! decided; the HTTP layer only asks [`Principal::can`] and turns a "no" into 404 or 403.
//!
//! Every row that belongs somewhere has a [`Place`]: the ids of the regions above it. A role is
//! bound to a scope, itself a place at some [`Level`]; the scope contains a target when the
//! target's id at that level is the scope's. So a grid worker's scope (a grid) contains the
//! households of that grid, a village cadre's the whole admin village, a county admin's every
//! town of the city.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The levels of the region tree, coarse to fine, plus the household below the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    City,
    Town,
    Area,
    AdminVillage,
    NaturalVillage,
    Grid,
    Household,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::City,
        Level::Town,
        Level::Area,
        Level::AdminVillage,
        Level::NaturalVillage,
        Level::Grid,
        Level::Household,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::City => "city",
            Level::Town => "town",
            Level::Area => "area",
            Level::AdminVillage => "admin_village",
            Level::NaturalVillage => "natural_village",
            Level::Grid => "grid",
            Level::Household => "household",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Where something sits: the id of each region above it (and itself, at its own level).
/// `area_id` may be `None` even below an area level: areas are optional groupings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Place {
    pub city_id: Option<Uuid>,
    pub town_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    pub admin_village_id: Option<Uuid>,
    pub natural_village_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub household_id: Option<Uuid>,
}

impl Place {
    pub fn id_at(&self, level: Level) -> Option<Uuid> {
        match level {
            Level::City => self.city_id,
            Level::Town => self.town_id,
            Level::Area => self.area_id,
            Level::AdminVillage => self.admin_village_id,
            Level::NaturalVillage => self.natural_village_id,
            Level::Grid => self.grid_id,
            Level::Household => self.household_id,
        }
    }

    /// The finest level this place is at.
    pub fn level(&self) -> Option<Level> {
        Level::ALL.into_iter().rev().find(|l| self.id_at(*l).is_some())
    }
}

/// A role bound to a region: "grid worker of grid 3".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub level: Level,
    /// The scope's own place (its id at `level` and the ids above it).
    pub place: Place,
}

impl Scope {
    pub fn id(&self) -> Option<Uuid> {
        self.place.id_at(self.level)
    }

    /// Whether `target` lies inside this scope.
    pub fn contains(&self, target: &Place) -> bool {
        match (self.place.id_at(self.level), target.id_at(self.level)) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// Whether `target` is a region above this scope (a grid worker may read the names of the
    /// village and town their grid is in, but nothing else in them).
    pub fn is_below(&self, target: &Place) -> bool {
        match target.level() {
            Some(level) if level < self.level => target.id_at(level) == self.place.id_at(level),
            _ => false,
        }
    }

    /// Whether another scope lies wholly inside this one.
    pub fn covers(&self, other: &Scope) -> bool {
        other.level >= self.level && self.contains(&other.place)
    }
}

/// What a role allows. Checked against a target's [`Place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "regions.read")]
    RegionsRead,
    #[serde(rename = "regions.write")]
    RegionsWrite,
    #[serde(rename = "households.read")]
    HouseholdsRead,
    #[serde(rename = "households.write")]
    HouseholdsWrite,
    #[serde(rename = "users.read")]
    UsersRead,
    #[serde(rename = "users.write")]
    UsersWrite,
    #[serde(rename = "api_tokens.manage")]
    ApiTokensManage,
    #[serde(rename = "audit.read")]
    AuditRead,
    /// See cases inside the scope (cases assigned to one's unit or reported by oneself are
    /// visible regardless).
    #[serde(rename = "cases.read")]
    CasesRead,
    /// Report a case.
    #[serde(rename = "cases.report")]
    CasesReport,
    /// Act as the operations centre: accept, dispatch, close, merge, reject.
    #[serde(rename = "cases.dispatch")]
    CasesDispatch,
    /// Issue supervision orders.
    #[serde(rename = "cases.supervise")]
    CasesSupervise,
    /// Edit categories, deadline policies, handling units and routing rules.
    #[serde(rename = "catalog.write")]
    CatalogWrite,
    /// See households' points, awards and the village notice inside the scope.
    #[serde(rename = "points.read")]
    PointsRead,
    /// Propose awards (a resident only for their own household; see `points::award`).
    #[serde(rename = "points.propose")]
    PointsPropose,
    /// Review awards as the village committee: approve, reject, answer objections.
    #[serde(rename = "points.review")]
    PointsReview,
    /// Keep the town's rulebook and points settings.
    #[serde(rename = "points.manage")]
    PointsManage,
    /// Work a points store's counter: goods, stock, redemptions and returns.
    #[serde(rename = "points.sell")]
    PointsSell,
    /// See disputes and peacemaker stations inside the scope (acting on a dispute depends on
    /// the capacity `mediation::workflow` derives, not on a permission).
    #[serde(rename = "mediation.read")]
    MediationRead,
    /// Keep the town's stations, their members, the mediation deadlines and routing rules.
    #[serde(rename = "mediation.manage")]
    MediationManage,
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::RegionsRead,
        Permission::RegionsWrite,
        Permission::HouseholdsRead,
        Permission::HouseholdsWrite,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::ApiTokensManage,
        Permission::AuditRead,
        Permission::CasesRead,
        Permission::CasesReport,
        Permission::CasesDispatch,
        Permission::CasesSupervise,
        Permission::CatalogWrite,
        Permission::PointsRead,
        Permission::PointsPropose,
        Permission::PointsReview,
        Permission::PointsManage,
        Permission::PointsSell,
        Permission::MediationRead,
        Permission::MediationManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::RegionsRead => "regions.read",
            Permission::RegionsWrite => "regions.write",
            Permission::HouseholdsRead => "households.read",
            Permission::HouseholdsWrite => "households.write",
            Permission::UsersRead => "users.read",
            Permission::UsersWrite => "users.write",
            Permission::ApiTokensManage => "api_tokens.manage",
            Permission::AuditRead => "audit.read",
            Permission::CasesRead => "cases.read",
            Permission::CasesReport => "cases.report",
            Permission::CasesDispatch => "cases.dispatch",
            Permission::CasesSupervise => "cases.supervise",
            Permission::CatalogWrite => "catalog.write",
            Permission::PointsRead => "points.read",
            Permission::PointsPropose => "points.propose",
            Permission::PointsReview => "points.review",
            Permission::PointsManage => "points.manage",
            Permission::PointsSell => "points.sell",
            Permission::MediationRead => "mediation.read",
            Permission::MediationManage => "mediation.manage",
        }
    }
}

macro_rules! roles {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The roles of the glossary.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role { $($variant),* }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Role::$variant => $name),* }
            }

            pub fn parse(s: &str) -> Option<Role> {
                match s { $($name => Some(Role::$variant),)* _ => None }
            }
        }
    };
}

roles! {
    Dispatcher => "dispatcher",
    GridWorker => "grid_worker",
    GridChief => "grid_chief",
    AreaChief => "area_chief",
    VillageCadre => "village_cadre",
    LiaisonCadre => "liaison_cadre",
    Peacemaker => "peacemaker",
    Officer => "officer",
    StoreClerk => "store_clerk",
    PoliticalLegal => "political_legal",
    Discipline => "discipline",
    Police => "police",
    Justice => "justice",
    Petitions => "petitions",
    Village => "village",
    TownAdmin => "town_admin",
    CountyAdmin => "county_admin",
    Resident => "resident",
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown role {s}")))
    }
}

impl Role {
    /// The levels a role may be bound at. The first is the usual one.
    pub fn scope_levels(self) -> &'static [Level] {
        use Role::*;
        match self {
            CountyAdmin => &[Level::City],
            TownAdmin | Dispatcher | Officer | PoliticalLegal | Discipline | Police | Justice | Petitions | Village => {
                &[Level::Town]
            }
            AreaChief => &[Level::Area],
            GridChief | VillageCadre | LiaisonCadre | StoreClerk => &[Level::AdminVillage],
            Peacemaker => &[Level::NaturalVillage, Level::AdminVillage],
            GridWorker => &[Level::Grid],
            Resident => &[Level::Household],
        }
    }

    /// Field roles work from the phone pages.
    pub fn is_field_role(self) -> bool {
        matches!(self, Role::GridWorker | Role::Peacemaker | Role::Resident)
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        use Role::*;
        match self {
            CountyAdmin | TownAdmin => &[
                RegionsRead,
                RegionsWrite,
                HouseholdsRead,
                HouseholdsWrite,
                UsersRead,
                UsersWrite,
                ApiTokensManage,
                AuditRead,
                CasesRead,
                CasesReport,
                CasesDispatch,
                CasesSupervise,
                CatalogWrite,
                PointsRead,
                PointsManage,
                PointsSell,
                MediationRead,
                MediationManage,
            ],
            Dispatcher => &[
                RegionsRead,
                HouseholdsRead,
                UsersRead,
                CasesRead,
                CasesReport,
                CasesDispatch,
                CasesSupervise,
                MediationRead,
            ],
            GridWorker | GridChief => &[
                RegionsRead,
                HouseholdsRead,
                HouseholdsWrite,
                CasesRead,
                CasesReport,
                PointsRead,
                PointsPropose,
                MediationRead,
            ],
            // The village committee reviews its village's awards.
            VillageCadre => &[
                RegionsRead,
                HouseholdsRead,
                HouseholdsWrite,
                CasesRead,
                CasesReport,
                PointsRead,
                PointsPropose,
                PointsReview,
                MediationRead,
            ],
            Peacemaker => {
                &[RegionsRead, HouseholdsRead, CasesRead, CasesReport, PointsRead, PointsPropose, MediationRead]
            }
            AreaChief | LiaisonCadre => {
                &[RegionsRead, HouseholdsRead, CasesRead, CasesReport, PointsRead, MediationRead]
            }
            // Political-legal coordinates mediation: it keeps the deadlines and routing rules.
            PoliticalLegal => {
                &[RegionsRead, HouseholdsRead, CasesRead, CasesReport, CasesSupervise, MediationRead, MediationManage]
            }
            Discipline | Police | Justice | Petitions | Village => {
                &[RegionsRead, HouseholdsRead, CasesRead, CasesReport, MediationRead]
            }
            Officer => &[RegionsRead, HouseholdsRead, CasesReport],
            StoreClerk => &[RegionsRead, HouseholdsRead, PointsRead, PointsSell],
            // A resident's scope is their household: its points, and proposing for it.
            Resident => &[HouseholdsRead, CasesReport, PointsRead, PointsPropose],
        }
    }

    pub fn has(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub role: Role,
    pub scope: Scope,
}

/// Who is asking: a signed-in user or an API token, with its role bindings.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    /// Set when the request is authenticated by an API token rather than a session.
    pub api_token_id: Option<Uuid>,
    pub bindings: Vec<Binding>,
}

impl Principal {
    /// Whether any binding grants `permission` at `target`.
    pub fn can(&self, permission: Permission, target: &Place) -> bool {
        self.bindings.iter().any(|b| b.role.has(permission) && b.scope.contains(target))
    }

    /// Whether the principal may read `target` as context: inside a scope with `permission`, or
    /// a region above such a scope (names of the village and town around a grid).
    pub fn can_see_region(&self, permission: Permission, target: &Place) -> bool {
        self.bindings.iter().any(|b| b.role.has(permission) && (b.scope.contains(target) || b.scope.is_below(target)))
    }

    /// The scopes in which the principal holds `permission`, for filtering lists.
    pub fn scopes_with(&self, permission: Permission) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = Vec::new();
        for b in &self.bindings {
            if b.role.has(permission) && !scopes.iter().any(|s| s.covers(&b.scope)) {
                scopes.retain(|s| !b.scope.covers(s));
                scopes.push(b.scope);
            }
        }
        scopes
    }

    pub fn permissions(&self) -> Vec<Permission> {
        let mut all: Vec<Permission> =
            Permission::ALL.into_iter().filter(|p| self.bindings.iter().any(|b| b.role.has(*p))).collect();
        all.sort();
        all
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.bindings.iter().any(|b| b.role == role)
    }

    /// Whether the principal may hand `role` at `scope` to someone else (a new user or an API
    /// token): it must manage that scope (`via`), and only a county admin makes county admins.
    pub fn may_grant(&self, via: Permission, role: Role, scope: &Scope) -> bool {
        if !role.scope_levels().contains(&scope.level) {
            return false;
        }
        self.bindings.iter().any(|b| {
            b.role.has(via) && b.scope.covers(scope) && (role != Role::CountyAdmin || b.role == Role::CountyAdmin)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn grid_place(grid: u128, nv: u128, av: u128, town: u128) -> Place {
        Place {
            city_id: Some(id(1)),
            town_id: Some(id(town)),
            area_id: None,
            admin_village_id: Some(id(av)),
            natural_village_id: Some(id(nv)),
            grid_id: Some(id(grid)),
            household_id: None,
        }
    }

    fn principal(role: Role, level: Level, place: Place) -> Principal {
        Principal {
            user_id: id(999),
            username: "u".into(),
            api_token_id: None,
            bindings: vec![Binding { role, scope: Scope { level, place } }],
        }
    }

    #[test]
    fn grid_worker_sees_only_their_grid() {
        let mine = grid_place(10, 20, 30, 2);
        let other = grid_place(11, 20, 30, 2);
        let p = principal(Role::GridWorker, Level::Grid, mine);
        let household = Place { household_id: Some(id(5)), ..mine };
        assert!(p.can(Permission::HouseholdsRead, &household));
        assert!(!p.can(Permission::HouseholdsRead, &other));
        assert!(!p.can(Permission::RegionsWrite, &mine));
        // The natural village above is context, but its sibling grid is not.
        let nv = Place { grid_id: None, ..mine };
        assert!(p.can_see_region(Permission::RegionsRead, &nv));
        assert!(!p.can(Permission::RegionsRead, &nv));
        assert!(!p.can_see_region(Permission::RegionsRead, &other));
    }

    #[test]
    fn county_admin_sees_every_town_of_the_city() {
        let city = Place { city_id: Some(id(1)), ..Place::default() };
        let p = principal(Role::CountyAdmin, Level::City, city);
        assert!(p.can(Permission::UsersWrite, &grid_place(10, 20, 30, 2)));
        assert!(p.can(Permission::UsersWrite, &grid_place(10, 20, 30, 3)));
        let elsewhere = Place { city_id: Some(id(77)), ..grid_place(10, 20, 30, 3) };
        assert!(!p.can(Permission::UsersWrite, &elsewhere));
    }

    #[test]
    fn town_staff_see_their_town_only() {
        let town = Place { city_id: Some(id(1)), town_id: Some(id(2)), ..Place::default() };
        let p = principal(Role::Dispatcher, Level::Town, town);
        assert!(p.can(Permission::HouseholdsRead, &grid_place(10, 20, 30, 2)));
        assert!(!p.can(Permission::HouseholdsRead, &grid_place(10, 20, 30, 3)));
        assert!(!p.can(Permission::UsersWrite, &grid_place(10, 20, 30, 2)));
    }

    #[test]
    fn granting_stays_within_scope_and_role_levels() {
        let town = Place { city_id: Some(id(1)), town_id: Some(id(2)), ..Place::default() };
        let admin = principal(Role::TownAdmin, Level::Town, town);
        let grid = Scope { level: Level::Grid, place: grid_place(10, 20, 30, 2) };
        assert!(admin.may_grant(Permission::UsersWrite, Role::GridWorker, &grid));
        // A grid worker is bound to a grid, not a town.
        assert!(!admin.may_grant(Permission::UsersWrite, Role::GridWorker, &Scope { level: Level::Town, place: town }));
        // Not in another town, and never county admin.
        let other = Scope { level: Level::Grid, place: grid_place(10, 20, 30, 3) };
        assert!(!admin.may_grant(Permission::UsersWrite, Role::GridWorker, &other));
        let city = Scope { level: Level::City, place: Place { city_id: Some(id(1)), ..Place::default() } };
        assert!(!admin.may_grant(Permission::UsersWrite, Role::CountyAdmin, &city));
    }

    #[test]
    fn scopes_with_drops_covered_scopes() {
        let town = Place { city_id: Some(id(1)), town_id: Some(id(2)), ..Place::default() };
        let mut p = principal(Role::GridWorker, Level::Grid, grid_place(10, 20, 30, 2));
        p.bindings.push(Binding { role: Role::Dispatcher, scope: Scope { level: Level::Town, place: town } });
        let scopes = p.scopes_with(Permission::HouseholdsRead);
        assert_eq!(scopes.len(), 1);
        assert_eq!(scopes[0].level, Level::Town);
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
            assert!(!r.scope_levels().is_empty());
        }
        assert_eq!(Role::ALL.len(), 18);
        assert_eq!(Role::parse("root"), None);
    }
}
