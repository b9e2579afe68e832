//! The demo town's intake (issue 4): a dozen xueliang cameras at village crossroads and four
//! lookout towers over the fields, call buttons in the homes of the eldest (a head of household
//! born in 1950 or before, every third such household), and three land-use layers (farmland
//! red line, construction land, forest). All synthetic and deterministic in what and where:
//! picked from the generated town by order, never by chance. Secrets are random per load (they
//! are secrets). Loaded with the demo's history only, so tests of an empty register see none.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;
use uuid::Uuid;
use wuwei_demo::DemoTown;
use wuwei_domain::intake::device::{DEFAULT_HEARTBEAT_INTERVAL_SECS, DeviceKind};
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_domain::region::{Ancestry, RegionKind};
use wuwei_store::cameras::{self, CameraFields, CameraPlace};
use wuwei_store::devices::{self, DeviceBinding, DevicePlace, NewDevice};
use wuwei_store::layers::{self, LayerFields};
use wuwei_store::{Actor, Tx};

use crate::demo::DemoError;

type Ids = HashMap<String, (RegionKind, Uuid, Ancestry)>;

/// Call buttons at most.
const MAX_BUTTONS: usize = 40;
const XUELIANG: usize = 12;
const LOOKOUT: usize = 4;

fn secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    IntakeSecret::from_random(b).to_hex()
}

fn square(lon: f64, lat: f64, half: f64) -> serde_json::Value {
    json!({"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
        [lon + half, lat + half], [lon - half, lat + half], [lon - half, lat - half]]]})
}

/// Returns (cameras, buttons, layers).
pub(crate) async fn load(
    tx: &mut Tx,
    now: DateTime<Utc>,
    demo: &DemoTown,
    ids: &Ids,
    household_ids: &HashMap<String, Uuid>,
    town_id: Uuid,
) -> Result<(usize, usize, usize), DemoError> {
    let actor = Actor::system("demo");
    let place_of = |grid_key: &str| -> Option<(Uuid, Ancestry)> { ids.get(grid_key).map(|(_, id, a)| (*id, *a)) };

    // Call buttons: every third household whose head was born in 1950 or before.
    let mut buttons = 0;
    for (i, h) in
        demo.households.iter().filter(|h| h.residents.first().is_some_and(|r| r.birth_year <= 1950)).enumerate()
    {
        if i % 3 != 0 || buttons >= MAX_BUTTONS {
            continue;
        }
        let (Some(hid), Some((grid_id, a))) = (household_ids.get(&h.code), place_of(&h.grid_key)) else { continue };
        devices::insert_device(
            tx,
            &actor,
            now,
            NewDevice {
                id: Uuid::now_v7(),
                town_id,
                code: format!("btn-{:04}", buttons + 1),
                kind: DeviceKind::CallButton,
                name: format!("{}家一键呼应按钮", h.residents.first().map_or("", |r| r.name.as_str())),
                binding: DeviceBinding {
                    household_id: Some(*hid),
                    lat: Some(h.lat),
                    lon: Some(h.lon),
                    address: Some(h.address.clone()),
                    place: DevicePlace {
                        area_id: a.area_id,
                        admin_village_id: a.admin_village_id,
                        natural_village_id: a.natural_village_id,
                        grid_id: Some(grid_id),
                    },
                },
                secret_hex: secret(),
                heartbeat_interval_secs: DEFAULT_HEARTBEAT_INTERVAL_SECS,
            },
        )
        .await?;
        buttons += 1;
    }

    // Cameras: xueliang at the first household of evenly spaced natural villages (the village
    // crossroads), lookout towers 600 m north of others, watching all round over the fields.
    let mut first_of_village: Vec<&wuwei_demo::DemoHousehold> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for h in &demo.households {
        let nv = place_of(&h.grid_key).and_then(|(_, a)| a.natural_village_id);
        if let Some(nv) = nv
            && seen.insert(nv)
        {
            first_of_village.push(h);
        }
    }
    let step = (first_of_village.len() / (XUELIANG + LOOKOUT)).max(1);
    let mut made = 0;
    let vendors = ["海康威视", "大华", "宇视"];
    for (i, h) in first_of_village.iter().step_by(step).take(XUELIANG + LOOKOUT).enumerate() {
        let Some((grid_id, a)) = place_of(&h.grid_key) else { continue };
        let lookout = i >= XUELIANG;
        let (code, lat, name) = if lookout {
            (
                format!("LK-{:03}", i - XUELIANG + 1),
                h.lat + 0.0054,
                format!("{}高空瞭望塔", h.address.split(' ').next().unwrap_or("")),
            )
        } else {
            (format!("XL-{:04}", i + 1), h.lat, format!("{}路口", h.address.split(' ').next().unwrap_or("")))
        };
        cameras::insert_camera(
            tx,
            &actor,
            now,
            town_id,
            code,
            secret(),
            CameraFields {
                name: name.chars().take(100).collect(),
                kind: if lookout { "lookout".into() } else { "xueliang".into() },
                lat,
                lon: h.lon,
                bearing_deg: ((i * 47) % 360) as f64,
                field_of_view_deg: if lookout { 360.0 } else { 90.0 },
                range_m: if lookout { 3000.0 } else { 120.0 },
                vendor: Some(vendors[i % vendors.len()].to_string()),
                live_view_url: Some(format!("https://video.example.cn/live/{i:04}.m3u8")),
                status: if i == 5 { "maintenance".into() } else { "active".into() },
                place: if lookout {
                    CameraPlace { area_id: a.area_id, admin_village_id: a.admin_village_id, ..CameraPlace::default() }
                } else {
                    CameraPlace {
                        area_id: a.area_id,
                        admin_village_id: a.admin_village_id,
                        natural_village_id: a.natural_village_id,
                        grid_id: Some(grid_id),
                    }
                },
                tags: Vec::new(),
            },
        )
        .await?;
        made += 1;
    }

    // Land-use layers: fields 450 m east of every fourth village (farmland red line), the
    // village cores (construction land), and woods 900 m west of every fifth (forest).
    let mut farmland = Vec::new();
    let mut construction = Vec::new();
    let mut forest = Vec::new();
    for (i, h) in first_of_village.iter().enumerate() {
        if i % 4 == 0 {
            farmland.push(
                json!({"type": "Feature", "properties": {"name": format!("永久基本农田 {}", farmland.len() + 1)},
                "geometry": square(h.lon + 0.0046, h.lat, 0.0018)}),
            );
        }
        if i % 3 == 0 {
            construction.push(
                json!({"type": "Feature", "properties": {"name": format!("村庄建设用地 {}", construction.len() + 1)},
                "geometry": square(h.lon, h.lat, 0.0012)}),
            );
        }
        if i % 5 == 0 {
            forest.push(json!({"type": "Feature", "properties": {"name": format!("公益林 {}", forest.len() + 1)},
                "geometry": square(h.lon - 0.0093, h.lat, 0.0025)}));
        }
    }
    let mut n_layers = 0;
    for (kind, name, protected, tag, features) in [
        ("farmland_red_line", "永久基本农田保护红线", true, Some("protected_farmland"), farmland),
        ("construction_land", "村庄建设用地", false, None, construction),
        ("forest", "生态公益林", true, Some("protected_forest"), forest),
    ] {
        if features.is_empty() {
            continue;
        }
        let mut bbox = wuwei_domain::geo::BBox::EMPTY;
        for f in &features {
            if let Ok(g) = wuwei_domain::geo::Geometry::from_geojson(&f["geometry"]) {
                bbox.union(&g.bbox);
            }
        }
        let count = features.len() as i32;
        layers::insert_layer(
            tx,
            &actor,
            now,
            town_id,
            LayerFields {
                kind: kind.into(),
                name: name.into(),
                protected,
                tag: tag.map(str::to_string),
                feature_count: count,
                bbox: Some(bbox.to_array()),
                geojson: json!({"type": "FeatureCollection", "features": features}).to_string(),
            },
        )
        .await?;
        n_layers += 1;
    }
    // The cameras standing in protected layers carry their tags.
    let areas = crate::layers::protected_areas(tx.db(), town_id).await.map_err(|_| DemoError::Data("layers".into()))?;
    for c in cameras::town_cameras(tx.db(), town_id, 100).await? {
        let tags: Vec<String> = crate::layers::tags_at(&areas, c.lat, c.lon).into_iter().map(|(t, _)| t).collect();
        if !tags.is_empty() {
            cameras::set_camera_tags(tx, &c, &tags).await?;
        }
    }
    Ok((made, buttons, n_layers))
}
