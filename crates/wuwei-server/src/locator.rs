//! The locate index of each town, built from its regions on first use and rebuilt after a
//! region changes (or after a minute, so that servers sharing a PostgreSQL database pick up
//! each other's edits).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;
use wuwei_domain::geo::Geometry;
use wuwei_domain::locate::{Parents, TownIndex};
use wuwei_domain::region::RegionKind;
use wuwei_store::{Store, regions};

const MAX_AGE: Duration = Duration::from_secs(60);

pub struct Locator {
    towns: RwLock<HashMap<Uuid, TownEntry>>,
}

/// When it was built, the town's locate index and its regions' names.
type TownEntry = (Instant, Arc<TownIndex>, Arc<HashMap<Uuid, String>>);

impl Default for Locator {
    fn default() -> Self {
        Self::new()
    }
}

impl Locator {
    pub fn new() -> Locator {
        Locator { towns: RwLock::new(HashMap::new()) }
    }

    pub fn invalidate(&self, town_id: Uuid) {
        if let Ok(mut m) = self.towns.write() {
            m.remove(&town_id);
        }
    }

    pub async fn town(&self, store: &Store, town_id: Uuid) -> wuwei_store::Result<Arc<TownIndex>> {
        Ok(self.entry(store, town_id).await?.0)
    }

    /// The names of regions of the town, from the same read as its index (a new case's answer
    /// names its village and grid without a read of its own). Ids not of the town are left out.
    pub async fn names(
        &self,
        store: &Store,
        town_id: Uuid,
        ids: &[Uuid],
    ) -> wuwei_store::Result<HashMap<Uuid, String>> {
        let names = self.entry(store, town_id).await?.1;
        Ok(ids.iter().filter_map(|id| names.get(id).map(|n| (*id, n.clone()))).collect())
    }

    async fn entry(
        &self,
        store: &Store,
        town_id: Uuid,
    ) -> wuwei_store::Result<(Arc<TownIndex>, Arc<HashMap<Uuid, String>>)> {
        if let Ok(m) = self.towns.read()
            && let Some((built, index, names)) = m.get(&town_id)
            && built.elapsed() < MAX_AGE
        {
            return Ok((index.clone(), names.clone()));
        }
        let rows = regions::town_regions(store.db(), town_id).await?;
        let index = Arc::new(build(town_id, &rows));
        let names: Arc<HashMap<Uuid, String>> = Arc::new(rows.iter().map(|r| (r.id, r.name.clone())).collect());
        if let Ok(mut m) = self.towns.write() {
            m.insert(town_id, (Instant::now(), index.clone(), names.clone()));
        }
        Ok((index, names))
    }
}

pub fn build(town_id: Uuid, rows: &[regions::RegionRow]) -> TownIndex {
    let mut town = None;
    let (mut grids, mut nvs, mut avs) = (Vec::new(), Vec::new(), Vec::new());
    let mut parents = HashMap::new();
    for r in rows {
        let Some(kind) = r.kind() else { continue };
        let geometry: Option<Geometry> = r.geometry();
        match kind {
            RegionKind::Town => town = geometry,
            RegionKind::Grid => {
                parents.insert(
                    r.id,
                    Parents { natural_village_id: r.natural_village_id, admin_village_id: r.admin_village_id },
                );
                if let Some(g) = geometry {
                    grids.push((r.id, g));
                }
            }
            RegionKind::NaturalVillage => {
                parents.insert(r.id, Parents { natural_village_id: Some(r.id), admin_village_id: r.admin_village_id });
                if let Some(g) = geometry {
                    nvs.push((r.id, g));
                }
            }
            RegionKind::AdminVillage => {
                if let Some(g) = geometry {
                    avs.push((r.id, g));
                }
            }
            RegionKind::Area => {}
        }
    }
    TownIndex::new(town_id, town, grids, nvs, avs, parents)
}
