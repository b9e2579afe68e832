//! Extractors whose failures answer in our error format: a malformed body is 400, a wrong type
//! or missing field 422 naming the field, a body over the limit 413, a wrong content type 415.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body.
pub struct ApiJson<T>(pub T);

fn is_json(content_type: Option<&str>) -> bool {
    content_type.and_then(|ct| ct.split(';').next()).is_some_and(|mime| {
        let mime = mime.trim().to_ascii_lowercase();
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    })
}

pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    } else {
        ApiError::bad_request("invalid_json").with_detail(rejection.body_text())
    }
}

/// Parse JSON, telling a syntax error (400) from a shape error (422 with the field's path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { "body".to_string() } else { path };
                    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
                    e.raw_fields.push((field, strip_position(&inner.to_string())));
                    Err(e)
                }
                _ => Err(ApiError::bad_request("invalid_json").with_detail(inner.to_string())),
            }
        }
    }
}

/// serde's messages end with " at line 1 column 42", which means nothing to a form's user.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// 415 unless the request says it is JSON (for handlers that read the raw body themselves).
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    if is_json(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"))
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !is_json(ct) {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw body, with our answer (413) when it is over the limit.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(body_rejection)
    }
}

/// Query parameters; a wrong value is 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if query.len() > 8 * 1024 {
            return Err(ApiError::bad_request("invalid_query").with_detail("query string too long"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de).map(ApiQuery).map_err(|err| {
            let path = err.path().to_string();
            let mut e = ApiError::bad_request("invalid_query");
            e.raw_fields.push((path, err.into_inner().to_string()));
            e
        })
    }
}

/// One UUID path segment; anything else is 404 (an id that cannot exist does not exist).
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::not_found())?;
        Uuid::parse_str(&raw).map(IdPath).map_err(|_| ApiError::not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        roles: Vec<Role>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Role {
        role: String,
        scope_id: Uuid,
    }

    #[test]
    fn syntax_errors_are_400() {
        let err = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, "invalid_json");
    }

    #[test]
    fn shape_errors_are_422_with_the_path() {
        let err = parse_json::<Body>(br#"{"name":"x","roles":[{"role":"a","scope_id":"nope"}]}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.raw_fields[0].0, "roles[0].scope_id");
        let missing = parse_json::<Body>(br#"{"roles":[]}"#).unwrap_err();
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing.raw_fields[0].1.contains("name"), "{:?}", missing.raw_fields);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/geo+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}
