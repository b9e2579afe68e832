//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wuwei",
        description = "五微 township operations platform. Errors are `{code, message, fields[]}`; messages follow `Accept-Language` (zh-CN default, en).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    tags(
        (name = "auth", description = "Sign-in and the current user"),
        (name = "regions", description = "Towns, the region tree, boundaries and locate"),
        (name = "people", description = "Accounts, roles and the household register"),
        (name = "api_tokens", description = "Tokens for devices and integrations"),
        (name = "devices", description = "Call buttons and other devices over MQTT, and dropped messages"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "ops", description = "Health, readiness and metrics"),
        (name = "points", description = "Household points: rulebook, awards, public notice, ledger, stores"),
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldError)),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token from login, or an API token (wwt_…)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "wuwei_session",
                "The browser session; writes also need the X-CSRF-Token header",
            ))),
        );
    }
}
