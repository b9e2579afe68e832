//! Land-use layers (国土资源视图): imported GeoJSON per town, and the tags cases get from the
//! protected layers they lie in. The GeoJSON is validated by the caller (the domain's `geo`)
//! and stored as imported; points are tested against it in memory by the server.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::entity::{case_tag, land_layer};
use crate::{Actor, AuditDraft, Conn, Result, StoreError, Tx};

pub use crate::entity::case_tag::Model as CaseTagRow;
pub use crate::entity::land_layer::Model as LayerRow;

/// Layers per town at most.
pub const MAX_LAYERS_PER_TOWN: u64 = 50;

#[derive(Debug, Clone)]
pub struct LayerFields {
    pub kind: String,
    pub name: String,
    pub protected: bool,
    pub tag: Option<String>,
    pub feature_count: i32,
    pub bbox: Option<[f64; 4]>,
    pub geojson: String,
}

fn audit_view(r: &LayerRow) -> serde_json::Value {
    json!({"kind": r.kind, "name": r.name, "protected": r.protected, "tag": r.tag,
           "feature_count": r.feature_count, "version": r.version})
}

fn set_fields(m: &mut land_layer::ActiveModel, f: LayerFields) {
    m.kind = Set(f.kind);
    m.name = Set(f.name);
    m.protected = Set(f.protected);
    m.tag = Set(f.tag);
    m.feature_count = Set(f.feature_count);
    m.min_lon = Set(f.bbox.map(|b| b[0]));
    m.min_lat = Set(f.bbox.map(|b| b[1]));
    m.max_lon = Set(f.bbox.map(|b| b[2]));
    m.max_lat = Set(f.bbox.map(|b| b[3]));
    m.geojson = Set(f.geojson);
}

pub async fn insert_layer(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    town_id: Uuid,
    f: LayerFields,
) -> Result<LayerRow> {
    let mut m = land_layer::ActiveModel {
        town_id: Set(town_id),
        id: Set(Uuid::now_v7()),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    };
    set_fields(&mut m, f);
    let row = m.insert(tx.db()).await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "land_layer.create".into(),
        entity_type: "land_layer".into(),
        entity_id: row.id.to_string(),
        town_id: Some(town_id),
        before: None,
        after: Some(audit_view(&row)),
    });
    Ok(row)
}

pub async fn update_layer(
    tx: &mut Tx,
    actor: &Actor,
    now: DateTime<Utc>,
    current: &LayerRow,
    expected_version: i32,
    f: LayerFields,
) -> Result<LayerRow> {
    if current.version != expected_version {
        return Err(StoreError::VersionConflict { current: current.version });
    }
    let mut m = land_layer::ActiveModel { town_id: Set(current.town_id), id: Set(current.id), ..Default::default() };
    set_fields(&mut m, f);
    m.updated_at = Set(now);
    m.version = Set(current.version + 1);
    let res = land_layer::Entity::update_many()
        .set(m)
        .filter(land_layer::Column::TownId.eq(current.town_id))
        .filter(land_layer::Column::Id.eq(current.id))
        .filter(land_layer::Column::Version.eq(expected_version))
        .exec(tx.db())
        .await?;
    let row = layer(tx.db(), current.id).await?.ok_or(StoreError::NotFound)?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict { current: row.version });
    }
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "land_layer.update".into(),
        entity_type: "land_layer".into(),
        entity_id: row.id.to_string(),
        town_id: Some(row.town_id),
        before: Some(audit_view(current)),
        after: Some(audit_view(&row)),
    });
    Ok(row)
}

pub async fn delete_layer(tx: &mut Tx, actor: &Actor, current: &LayerRow) -> Result<()> {
    land_layer::Entity::delete_many()
        .filter(land_layer::Column::TownId.eq(current.town_id))
        .filter(land_layer::Column::Id.eq(current.id))
        .exec(tx.db())
        .await?;
    tx.audit(AuditDraft {
        actor: actor.clone(),
        action: "land_layer.delete".into(),
        entity_type: "land_layer".into(),
        entity_id: current.id.to_string(),
        town_id: Some(current.town_id),
        before: Some(audit_view(current)),
        after: None,
    });
    Ok(())
}

pub async fn layer(db: &impl Conn, id: Uuid) -> Result<Option<LayerRow>> {
    Ok(land_layer::Entity::find().filter(land_layer::Column::Id.eq(id)).one(db).await?)
}

/// A town's layers without their GeoJSON (ordered by kind, name), for listing and cache checks.
pub async fn town_layers(db: &impl Conn, town_id: Uuid) -> Result<Vec<LayerRow>> {
    let rows = land_layer::Entity::find()
        .select_only()
        .columns([
            land_layer::Column::TownId,
            land_layer::Column::Id,
            land_layer::Column::Kind,
            land_layer::Column::Name,
            land_layer::Column::Protected,
            land_layer::Column::Tag,
            land_layer::Column::FeatureCount,
            land_layer::Column::MinLon,
            land_layer::Column::MinLat,
            land_layer::Column::MaxLon,
            land_layer::Column::MaxLat,
            land_layer::Column::CreatedAt,
            land_layer::Column::UpdatedAt,
            land_layer::Column::Version,
        ])
        .column_as(sea_orm::sea_query::Expr::val(""), "geojson")
        .filter(land_layer::Column::TownId.eq(town_id))
        .order_by_asc(land_layer::Column::Kind)
        .order_by_asc(land_layer::Column::Name)
        .order_by_asc(land_layer::Column::Id)
        .limit(MAX_LAYERS_PER_TOWN)
        .into_model::<LayerRow>()
        .all(db)
        .await?;
    Ok(rows)
}

/// The protected layers of a town with their GeoJSON.
pub async fn protected_layers(db: &impl Conn, town_id: Uuid) -> Result<Vec<LayerRow>> {
    Ok(land_layer::Entity::find()
        .filter(land_layer::Column::TownId.eq(town_id))
        .filter(land_layer::Column::Protected.eq(true))
        .order_by_asc(land_layer::Column::Id)
        .limit(MAX_LAYERS_PER_TOWN)
        .all(db)
        .await?)
}

// ---- case tags ----

/// A tag's length as kept.
pub const TAG_CHARS: usize = 32;

/// A case's tags, each with the layer that gave it.
pub type CaseTags = (Uuid, Vec<(String, Option<Uuid>)>);

/// Add tags to cases of one town (existing ones are kept): multi-row statements, whatever the
/// number of cases, queued on the transaction ([`Tx::write_later`]).
pub fn tag_cases(tx: &mut Tx, now: DateTime<Utc>, town_id: Uuid, tags: &[CaseTags]) {
    let rows: Vec<case_tag::ActiveModel> = tags
        .iter()
        .flat_map(|(case_id, tags)| {
            tags.iter().map(move |(tag, layer_id)| case_tag::ActiveModel {
                town_id: Set(town_id),
                case_id: Set(*case_id),
                tag: Set(tag.chars().take(TAG_CHARS).collect()),
                layer_id: Set(*layer_id),
                created_at: Set(now),
            })
        })
        .collect();
    let backend = tx.db().get_database_backend();
    for chunk in crate::statement_chunks(rows) {
        tx.write_later(case_tag::Entity::insert_many(chunk).on_conflict_do_nothing().build(backend));
    }
}

pub async fn case_tags(db: &impl Conn, town_id: Uuid, case_id: Uuid) -> Result<Vec<String>> {
    Ok(case_tag::Entity::find()
        .filter(case_tag::Column::TownId.eq(town_id))
        .filter(case_tag::Column::CaseId.eq(case_id))
        .order_by_asc(case_tag::Column::Tag)
        .limit(32)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.tag)
        .collect())
}
