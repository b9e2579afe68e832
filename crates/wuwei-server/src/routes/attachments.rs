//! Case attachments: photos and voice notes, checked by content, stored content-addressed under
//! the data directory, readable by whoever may read the case.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use wuwei_domain::validate::Rule;
use wuwei_media::{MediaError, MediaKind};
use wuwei_store::cases::{self, NewAttachment};

use crate::auth::Auth;
use crate::caseflow::{self, CaseChange};
use crate::error::{ApiError, ApiResult};
use crate::extract::IdPath;
use crate::routes::cases::AttachmentDto;
use crate::state::AppState;

/// Photos per case at most (the limit), and voice notes per case.
pub const MAX_PHOTOS_PER_CASE: i32 = 9;
pub const MAX_VOICE_PER_CASE: i32 = 3;
/// The upload route's body limit: the largest photo plus the multipart envelope.
pub const UPLOAD_BODY_LIMIT: usize = wuwei_media::MAX_PHOTO_BYTES + 64 * 1024;

/// Where a blob lives: `<data_dir>/files/ab/cd/<sha256>`.
pub fn blob_path(data_dir: &Path, sha256: &str) -> PathBuf {
    let (a, b) = (sha256.get(0..2).unwrap_or("00"), sha256.get(2..4).unwrap_or("00"));
    data_dir.join("files").join(a).join(b).join(sha256)
}

/// Write a blob once (content-addressed: an existing file already holds these bytes), through a
/// temporary file and a rename so a crash never leaves half a file under the final name.
pub(crate) async fn store_blob(data_dir: &Path, sha256: &str, bytes: &[u8]) -> ApiResult<()> {
    let path = blob_path(data_dir, sha256);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let io = |e: std::io::Error| {
        tracing::error!(error = %e, path = %path.display(), "cannot store an attachment");
        ApiError::internal()
    };
    let dir = path.parent().ok_or_else(ApiError::internal)?;
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let tmp = dir.join(format!(".{sha256}.{}.tmp", Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    if let Ok(f) = tokio::fs::File::open(&tmp).await {
        // Durable before it is referenced by a committed row.
        let _ = f.sync_all().await;
    }
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(())
}

pub(crate) fn media_error(e: MediaError) -> ApiError {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "validation_failed",
    };
    let mut err = ApiError::new(status, code).with_detail(e.to_string());
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        err = err.with_field("file", Rule::NotAllowed { reason: "media_invalid" });
    }
    err
}

/// A photo read from a multipart form, checked by content and stored (with its thumbnail) as
/// blobs, ready for the row that will reference it.
#[derive(Debug, Clone)]
pub struct StoredPhoto {
    pub mime: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub thumb_sha256: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

/// Read multipart field `file`, check that it is a photo (JPEG, PNG, WebP, at most 10 MB) by
/// its content, and store it and its thumbnail under the data directory. Used by every upload
/// of a photo that is not a case attachment (points evidence, mediation photos, snapshots).
pub async fn store_checked_photo(state: &AppState, form: &mut Multipart) -> ApiResult<StoredPhoto> {
    let mut bytes = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            bytes = Some(field.bytes().await.map_err(multipart_error)?);
            break;
        }
    }
    let bytes = bytes.ok_or_else(|| ApiError::field("file", Rule::Required))?;
    let (info, thumb, bytes) = tokio::task::spawn_blocking(move || {
        wuwei_media::inspect_with_thumbnail(&bytes, wuwei_media::THUMB_MAX_SIDE).map(|(i, t)| (i, t, bytes))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(media_error)?;
    if info.kind != MediaKind::Photo {
        return Err(ApiError::field("file", Rule::NotAllowed { reason: "photo_required" }));
    }
    let data_dir = state.config().data_dir.clone();
    let sha = wuwei_media::sha256_hex(&bytes);
    store_blob(&data_dir, &sha, &bytes).await?;
    let thumb_sha256 = match &thumb {
        Some(t) => {
            let s = wuwei_media::sha256_hex(t);
            store_blob(&data_dir, &s, t).await?;
            Some(s)
        }
        None => None,
    };
    Ok(StoredPhoto {
        mime: info.mime.to_string(),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: sha,
        thumb_sha256,
        width: info.width.map(|w| i32::try_from(w).unwrap_or(i32::MAX)),
        height: info.height.map(|h| i32::try_from(h).unwrap_or(i32::MAX)),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    pub attachment: AttachmentDto,
    /// The case's version after the upload (attachments bump it).
    pub case_version: i32,
}

/// Attach a photo (JPEG, PNG, WebP; at most 10 MB, 9 per case) or a voice note (WebM, Ogg,
/// M4A; at most 2 minutes) as multipart field `file`. The type is checked by content.
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", tag = "cases", params(("id" = Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 201, body = UploadResult), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<UploadResult>)> {
    let c = caseflow::readable(&state, &auth.principal, id).await?;
    if caseflow::capacities(&state, &auth.principal, &c).await?.is_empty() {
        return Err(ApiError::forbidden());
    }
    if c.state().is_final() {
        return Err(ApiError::conflict("conflict").with_detail(format!("the case is {}", c.state)));
    }
    attach(&state, &auth.actor(), c, form, None).await
}

/// Read field `file` of `form`, check it by content (only a `only` kind when given), store it
/// and attach it to `c`. The caller has checked that the actor may.
pub(crate) async fn attach(
    state: &AppState,
    actor: &wuwei_store::Actor,
    c: cases::CaseRow,
    mut form: Multipart,
    only: Option<MediaKind>,
) -> ApiResult<(StatusCode, Json<UploadResult>)> {
    let mut bytes = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            bytes = Some(field.bytes().await.map_err(multipart_error)?);
            break;
        }
    }
    let bytes = bytes.ok_or_else(|| ApiError::field("file", Rule::Required))?;
    // Decoding a 50-megapixel photo takes a while: off the async workers.
    let inspected = tokio::task::spawn_blocking(move || {
        wuwei_media::inspect_with_thumbnail(&bytes, wuwei_media::THUMB_MAX_SIDE).map(|(i, t)| (i, t, bytes))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(media_error)?;
    let (info, thumb, bytes) = inspected;
    if only.is_some_and(|k| k != info.kind) {
        return Err(ApiError::field("file", Rule::NotAllowed { reason: "media_invalid" }));
    }
    let is_photo = info.kind == MediaKind::Photo;
    if is_photo && c.photo_count >= MAX_PHOTOS_PER_CASE {
        return Err(ApiError::field("file", Rule::OutOfRange { min: 0, max: i64::from(MAX_PHOTOS_PER_CASE) }));
    }
    if !is_photo && c.attachment_count - c.photo_count >= MAX_VOICE_PER_CASE {
        return Err(ApiError::field("file", Rule::OutOfRange { min: 0, max: i64::from(MAX_VOICE_PER_CASE) }));
    }
    let data_dir = state.config().data_dir.clone();
    let sha = wuwei_media::sha256_hex(&bytes);
    store_blob(&data_dir, &sha, &bytes).await?;
    let thumb_sha = match &thumb {
        Some(t) => {
            let s = wuwei_media::sha256_hex(t);
            store_blob(&data_dir, &s, t).await?;
            Some(s)
        }
        None => None,
    };
    let now = state.now();
    let mut tx = state.store().begin().await?;
    let row = cases::insert_attachment(
        &mut tx,
        actor,
        now,
        &c,
        NewAttachment {
            id: Uuid::now_v7(),
            kind: if is_photo { "photo".into() } else { "voice".into() },
            mime: info.mime.to_string(),
            size_bytes: bytes.len() as i64,
            sha256: sha,
            thumb_sha256: thumb_sha,
            width: info.width.map(|w| w.min(i32::MAX as u32) as i32),
            height: info.height.map(|h| h.min(i32::MAX as u32) as i32),
            duration_ms: info.duration_ms.map(|d| d.min(i32::MAX as u64) as i32),
        },
    )
    .await?;
    tx.commit(now).await?;
    let fresh = cases::case_in_town(state.store().db(), c.town_id, c.id).await?.ok_or_else(ApiError::internal)?;
    state.0.case_events.publish(CaseChange::of("updated", &fresh));
    let dto = AttachmentDto {
        url: format!("/api/v1/attachments/{}/content", row.id),
        thumbnail_url: row.thumb_sha256.as_ref().map(|_| format!("/api/v1/attachments/{}/thumbnail", row.id)),
        id: row.id,
        kind: row.kind,
        mime: row.mime,
        size_bytes: row.size_bytes,
        width: row.width,
        height: row.height,
        duration_ms: row.duration_ms,
        created_at: row.created_at,
    };
    Ok((StatusCode::CREATED, Json(UploadResult { attachment: dto, case_version: fresh.version })))
}

pub(crate) fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    } else {
        ApiError::bad_request("invalid_multipart").with_detail(e.body_text())
    }
}

async fn serve_blob(
    state: &AppState,
    auth: &Auth,
    id: Uuid,
    thumbnail: bool,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let a = cases::attachment(state.store().db(), id).await?.ok_or_else(ApiError::not_found)?;
    // Access is checked like the case's.
    caseflow::readable(state, &auth.principal, a.case_id).await?;
    let (sha, mime) = if thumbnail {
        (a.thumb_sha256.clone().ok_or_else(ApiError::not_found)?, "image/jpeg".to_string())
    } else {
        (a.sha256.clone(), a.mime.clone())
    };
    blob_response(state, id, &sha, &mime, headers).await
}

/// A stored blob as the answer (ETag, long private caching: content-addressed, it never changes).
/// The caller has checked access.
pub(crate) async fn blob_response(
    state: &AppState,
    id: Uuid,
    sha: &str,
    mime: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{sha}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let bytes = tokio::fs::read(blob_path(&state.config().data_dir, sha)).await.map_err(|e| {
        tracing::error!(error = %e, attachment = %id, "attachment file missing");
        ApiError::not_found()
    })?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Content-addressed: never changes, but private to those who may read the case.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    Ok(resp)
}

/// The attachment's bytes.
#[utoipa::path(get, path = "/api/v1/attachments/{id}/content", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The photo or voice note"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_blob(&state, &auth, id, false, &headers).await
}

/// A photo's thumbnail (JPEG, at most 320 px on its longer side).
#[utoipa::path(get, path = "/api/v1/attachments/{id}/thumbnail", tag = "cases", params(("id" = Uuid, Path)),
    responses((status = 200, description = "JPEG thumbnail"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn thumbnail(
    State(state): State<AppState>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve_blob(&state, &auth, id, true, &headers).await
}
