//! Land-use layers (国土资源视图) on the server side: the protected layers of each town parsed
//! once and kept in memory (checked against the layers' versions on every use, so an import is
//! seen at once), and the tags a case or an alarm gets from the protected layers its point lies in.
//!
//! The cache holds one entry per town (bounded by the number of towns) and is replaced whole
//! when any of the town's layers changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;
use wuwei_domain::geo::{Geometry, Point};
use wuwei_store::cases::CaseRow;
use wuwei_store::layers::{self, LayerRow};
use wuwei_store::{Conn, Tx};

use crate::error::ApiResult;
use crate::state::AppState;

/// One protected layer ready for point tests.
#[derive(Debug)]
pub struct ProtectedArea {
    pub layer_id: Uuid,
    pub tag: String,
    pub geometries: Vec<Geometry>,
}

type Fingerprint = Vec<(Uuid, i32)>;
/// Per town: the layers' (id, version) it was built from, and the parsed areas.
type Cache = Mutex<HashMap<Uuid, (Fingerprint, Arc<Vec<ProtectedArea>>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The geometries of a stored FeatureCollection (validated at import; anything unreadable is
/// skipped, never a failure here).
pub fn geometries_of(geojson: &str) -> Vec<Geometry> {
    let Ok(v) = serde_json::from_str::<Value>(geojson) else { return Vec::new() };
    v.get("features")
        .and_then(Value::as_array)
        .map(|fs| fs.iter().filter_map(|f| f.get("geometry")).filter_map(|g| Geometry::from_geojson(g).ok()).collect())
        .unwrap_or_default()
}

/// The protected areas of a town, from the cache when the layers are unchanged.
pub async fn protected_areas(db: &impl Conn, town_id: Uuid) -> ApiResult<Arc<Vec<ProtectedArea>>> {
    let listed = layers::town_layers(db, town_id).await?;
    let fingerprint: Fingerprint = listed.iter().filter(|l| l.protected).map(|l| (l.id, l.version)).collect();
    if let Ok(c) = cache().lock()
        && let Some((fp, areas)) = c.get(&town_id)
        && *fp == fingerprint
    {
        return Ok(areas.clone());
    }
    let rows: Vec<LayerRow> =
        if fingerprint.is_empty() { Vec::new() } else { layers::protected_layers(db, town_id).await? };
    let areas: Vec<ProtectedArea> = rows
        .iter()
        .filter_map(|l| {
            let tag = l.tag.clone()?;
            Some(ProtectedArea { layer_id: l.id, tag, geometries: geometries_of(&l.geojson) })
        })
        .collect();
    let fingerprint: Fingerprint = rows.iter().map(|l| (l.id, l.version)).collect();
    let areas = Arc::new(areas);
    if let Ok(mut c) = cache().lock() {
        c.insert(town_id, (fingerprint, areas.clone()));
    }
    Ok(areas)
}

/// The tags of a point (each once, with the first layer that gave it), sorted.
pub fn tags_at(areas: &[ProtectedArea], lat: f64, lon: f64) -> Vec<(String, Option<Uuid>)> {
    let p = Point { lon, lat };
    let mut out: Vec<(String, Option<Uuid>)> = Vec::new();
    for a in areas {
        if a.geometries.iter().any(|g| g.contains(p)) && !out.iter().any(|(t, _)| *t == a.tag) {
            out.push((a.tag.clone(), Some(a.layer_id)));
        }
    }
    out.sort();
    out
}

/// Tag a new case from where it lies, in its own transaction. Every way a case arrives calls
/// this (or [`tag_new_cases`]) before committing.
pub async fn tag_new_case(_state: &AppState, tx: &mut Tx, row: &CaseRow, now: DateTime<Utc>) -> ApiResult<()> {
    tag_new_cases(tx, std::slice::from_ref(row), now).await.map(drop)
}

/// Tag new cases of one town: its protected areas are read once for all of them, the tags written
/// together. Returns each case's tags, as [`layers::case_tags`] would read them back.
pub async fn tag_new_cases(tx: &mut Tx, rows: &[CaseRow], now: DateTime<Utc>) -> ApiResult<Vec<Vec<String>>> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let mut areas = None;
    let mut tagged = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(lat), Some(lon)) = (row.lat, row.lon) else { continue };
        let areas = match &mut areas {
            Some(a) => a,
            None => areas.insert(protected_areas(tx.db(), first.town_id).await?),
        };
        let tags = tags_at(areas.as_slice(), lat, lon);
        if !tags.is_empty() {
            tagged.push((row.id, tags));
        }
    }
    layers::tag_cases(tx, now, first.town_id, &tagged);
    Ok(rows
        .iter()
        .map(|row| {
            let mut names: Vec<String> = tagged
                .iter()
                .filter(|(id, _)| *id == row.id)
                .flat_map(|(_, tags)| tags.iter().map(|(t, _)| t.chars().take(layers::TAG_CHARS).collect()))
                .collect();
            names.sort();
            names.dedup();
            names
        })
        .collect())
}
