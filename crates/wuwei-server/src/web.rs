//! The web UI, built by Vite into `web/dist` and embedded in the binary: users never need Node.
//! Unknown paths outside `/api` get `index.html`, so client-side routes survive a reload.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
struct Assets;

fn serve(path: &str, headers: &HeaderMap, file: rust_embed::EmbeddedFile) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    // Hashed file names under assets/ never change content; everything else is revalidated.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache.to_string())])
            .into_response();
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream().to_string();
    let mut resp = (StatusCode::OK, file.data.into_owned()).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The router's fallback: embedded files, the SPA shell, or a JSON 404 under `/api`.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") || path.starts_with("open311/") {
        return ApiError::not_found().into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").into_response();
    }
    if !path.is_empty()
        && let Some(file) = Assets::get(path)
    {
        return serve(path, &headers, file);
    }
    if path.starts_with("assets/") {
        // A missing hashed asset is a real 404 (an old page asking for a replaced bundle).
        return ApiError::not_found().into_response();
    }
    match Assets::get("index.html") {
        Some(file) => serve("index.html", &headers, file),
        None => (StatusCode::OK, "wuwei: the web UI was not built into this binary").into_response(),
    }
}
