//! The one mapping from failures to HTTP. Every error answer has the body
//! `{"code", "message", "fields": [{"field", "message"}]}`; the message is in the request's
//! language. Server-side failures are logged here, once, and the client sees only "internal".

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wuwei_domain::validate::{FieldIssue, Issues, Rule};
use wuwei_store::StoreError;

use crate::i18n::{self, LANG, Lang};

/// One field's problem, as sent to clients.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `roles[1].scope_id`.
    pub field: String,
    pub message: String,
}

/// The error body of every 4xx and 5xx answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// For people, in zh-CN or English per `Accept-Language`.
    pub message: String,
    pub fields: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// Overrides the catalogue message (e.g. to quote a limit).
    pub detail: Option<String>,
    pub fields: Vec<FieldIssue>,
    /// Raw field messages (already human text, e.g. from a JSON parser).
    pub raw_fields: Vec<(String, String)>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> ApiError {
        ApiError { status, code, detail: None, fields: Vec::new(), raw_fields: Vec::new(), retry_after_secs: None }
    }

    pub fn bad_request(code: &'static str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code)
    }
    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated")
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden")
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found")
    }
    pub fn conflict(code: &'static str) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code)
    }
    pub fn internal() -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }

    /// 422 with the given problems.
    pub fn invalid(issues: Issues) -> ApiError {
        ApiError { fields: issues.0, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed") }
    }

    pub fn field(field: impl Into<String>, rule: Rule) -> ApiError {
        ApiError::invalid(Issues(vec![FieldIssue::new(field, rule)]))
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_field(mut self, field: impl Into<String>, rule: Rule) -> ApiError {
        self.fields.push(FieldIssue::new(field, rule));
        self
    }

    pub fn body(&self, lang: Lang) -> ErrorBody {
        let mut fields: Vec<FieldError> = self
            .fields
            .iter()
            .map(|f| FieldError { field: f.field.clone(), message: i18n::rule_message(&f.rule, lang) })
            .collect();
        fields.extend(self.raw_fields.iter().map(|(f, m)| FieldError { field: f.clone(), message: m.clone() }));
        let base = i18n::message(self.code, lang);
        let message = match &self.detail {
            Some(d) => format!("{base}: {d}"),
            None => base.to_string(),
        };
        ErrorBody { code: self.code.to_string(), message, fields }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let lang = Lang::current();
        let body = self.body(lang);
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<Issues> for ApiError {
    fn from(issues: Issues) -> ApiError {
        ApiError::invalid(issues)
    }
}

impl From<FieldIssue> for ApiError {
    fn from(issue: FieldIssue) -> ApiError {
        ApiError::invalid(Issues(vec![issue]))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Duplicate(what) => {
                let field = if what.contains("username") { "username" } else { "code" };
                ApiError::new(StatusCode::CONFLICT, "duplicate").with_field(field, Rule::Duplicate)
            }
            StoreError::VersionConflict { current } => {
                ApiError::conflict("version_conflict").with_detail(format!("version {current}"))
            }
            StoreError::Unavailable(msg) => {
                tracing::error!(error = %msg, "database unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            other => {
                // The one place server-side failures are logged.
                tracing::error!(error = ?other, "storage error");
                ApiError::internal()
            }
        }
    }
}

/// Sets the request's language for error messages (a task-local read by `into_response`).
pub async fn localize(req: Request, next: Next) -> Response {
    let lang = Lang::negotiate(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    LANG.scope(lang, next.run(req)).await
}

pub type ApiResult<T> = Result<T, ApiError>;
