//! The HTTP layer of wuwei: a thin axum application over the store and the domain.
//!
//! [`router`] builds the whole application (API, OpenAPI, Swagger UI, the embedded web UI) for
//! a given [`AppState`]; [`serve`] runs it until SIGTERM/SIGINT, letting requests in flight
//! finish.

pub mod alarms;
pub mod auth;
pub mod batch;
pub mod calls;
pub mod caseflow;
pub mod demo;
mod demo_intake;
mod demo_mediation;
mod demo_points;
pub mod dto;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod jobs;
pub mod layers;
pub mod locator;
pub mod metrics;
pub mod mqtt;
pub mod openapi;
pub mod pii;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::routes::figures;
use crate::routes::{attachments, audit, cases, households, inbox, ops, points, regions, tokens, users};
pub use crate::state::{AppState, Clock, FakeClock, ServerConfig, SystemClock};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API routes and the OpenAPI document, collected together so they cannot drift apart.
fn api(import_max_body_bytes: usize) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let import = OpenApiRouter::new()
        .routes(routes!(regions::import_regions))
        .routes(routes!(routes::land_layers::list_layers, routes::land_layers::create_layer))
        .routes(routes!(routes::land_layers::update_layer, routes::land_layers::delete_layer))
        .layer(DefaultBodyLimit::max(import_max_body_bytes));
    let rulebook_import = OpenApiRouter::new()
        .routes(routes!(points::export_rulebook, points::import_rulebook))
        .layer(DefaultBodyLimit::max(points::MAX_RULEBOOK_XLSX_BYTES));
    let alarm_webhook = OpenApiRouter::new()
        .routes(routes!(routes::cameras::receive_alarm))
        .layer(DefaultBodyLimit::max(routes::cameras::WEBHOOK_BODY_LIMIT));
    let upload = OpenApiRouter::new()
        .routes(routes!(attachments::upload))
        .routes(routes!(routes::one_click::voice))
        .routes(routes!(points::upload_evidence))
        .routes(routes!(routes::mediation::upload_photo))
        .layer(DefaultBodyLimit::max(attachments::UPLOAD_BODY_LIMIT));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(routes::cards::card_login))
        .routes(routes!(routes::cards::get_card, routes::cards::issue_card, routes::cards::revoke_card))
        .routes(routes!(routes::cards::issue_sheet))
        .routes(routes!(routes::one_click::press))
        .routes(routes!(routes::one_click::get_current))
        .routes(routes!(routes::one_click::stream))
        .routes(routes!(routes::cameras::list_cameras, routes::cameras::create_camera))
        .routes(routes!(routes::cameras::get_camera, routes::cameras::update_camera))
        .routes(routes!(routes::cameras::rotate_secret))
        .routes(routes!(routes::cameras::cameras_geojson))
        .routes(routes!(routes::cameras::get_alarm_settings, routes::cameras::put_alarm_settings))
        .routes(routes!(routes::cameras::list_alarms))
        .routes(routes!(routes::cameras::get_alarm))
        .routes(routes!(routes::cameras::alarm_snapshot))
        .routes(routes!(routes::cameras::judge_alarm))
        .routes(routes!(routes::cameras::open_case))
        .routes(routes!(routes::land_layers::layer_geojson))
        .merge(alarm_webhook)
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(regions::roles))
        .routes(routes!(regions::towns))
        .routes(routes!(regions::region_tree))
        .routes(routes!(regions::regions_geojson))
        .routes(routes!(regions::list_regions, regions::create_region))
        .routes(routes!(regions::get_region, regions::update_region))
        .routes(routes!(regions::locate))
        .merge(import)
        .merge(rulebook_import)
        .routes(routes!(households::list_households))
        .routes(routes!(routes::devices::list_devices, routes::devices::create_device))
        .routes(routes!(routes::devices::dead_letters))
        .routes(routes!(routes::devices::get_device, routes::devices::update_device))
        .routes(routes!(households::get_household))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::set_password))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(cases::list_cases, cases::create_case))
        .routes(routes!(cases::counts))
        .routes(routes!(cases::stream))
        .routes(routes!(cases::get_case))
        .routes(routes!(cases::act))
        .routes(routes!(cases::supervise))
        .routes(routes!(cases::map))
        .routes(routes!(cases::categories, cases::create_category))
        .routes(routes!(cases::update_category))
        .routes(routes!(cases::units))
        .routes(routes!(figures::case_figures))
        .routes(routes!(figures::case_figures_xlsx))
        .routes(routes!(routes::points_figures::points_figures))
        .routes(routes!(routes::points_figures::points_figures_xlsx))
        .routes(routes!(routes::points_shop::list_stores))
        .routes(routes!(routes::points_shop::list_goods, routes::points_shop::create_goods))
        .routes(routes!(routes::points_shop::update_goods))
        .routes(routes!(routes::points_shop::restock))
        .routes(routes!(routes::points_shop::goods_movements))
        .routes(routes!(routes::points_shop::lookup))
        .routes(routes!(routes::points_shop::redeem))
        .routes(routes!(routes::points_shop::list_redemptions))
        .routes(routes!(routes::points_shop::get_redemption))
        .routes(routes!(routes::points_shop::return_redemption))
        .merge(upload)
        .routes(routes!(attachments::content))
        .routes(routes!(attachments::thumbnail))
        .routes(routes!(points::get_settings, points::put_settings))
        .routes(routes!(points::get_rulebook))
        .routes(routes!(points::put_rule_item, points::delete_rule_item))
        .routes(routes!(points::evidence_content))
        .routes(routes!(points::evidence_thumbnail))
        .routes(routes!(points::propose, points::list_awards))
        .routes(routes!(points::batch_act))
        .routes(routes!(points::get_award))
        .routes(routes!(points::act))
        .routes(routes!(points::object))
        .routes(routes!(points::notice))
        .routes(routes!(points::ranking))
        .routes(routes!(points::mine))
        .routes(routes!(points::get_household_points))
        .routes(routes!(points::household_history))
        .routes(routes!(points::test_clock))
        .routes(routes!(routes::mediation::list_stations))
        .routes(routes!(routes::mediation::get_station, routes::mediation::update_station))
        .routes(routes!(routes::mediation::add_member))
        .routes(routes!(routes::mediation::update_member))
        .routes(routes!(routes::mediation::list_activities, routes::mediation::add_activity))
        .routes(routes!(routes::mediation::photo_content))
        .routes(routes!(routes::mediation::photo_thumbnail))
        .routes(routes!(routes::mediation::list_disputes, routes::mediation::register_dispute))
        .routes(routes!(routes::mediation::get_dispute))
        .routes(routes!(routes::mediation::act))
        .routes(routes!(routes::mediation::reveal))
        .routes(routes!(routes::mediation::get_agreement))
        .routes(routes!(routes::mediation::board))
        .routes(routes!(routes::mediation::get_settings, routes::mediation::put_settings))
        .routes(routes!(routes::mediation::figures))
        .routes(routes!(routes::mediation::figures_xlsx))
        .routes(routes!(inbox::list))
        .routes(routes!(inbox::read))
        .routes(routes!(inbox::read_all))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::verify_audit))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::instance))
        .split_for_parts()
}

/// The OpenAPI document (also served at `/api/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api(ServerConfig::default().import_max_body_bytes).1
}

/// The whole application for `state`.
pub fn router(state: AppState) -> Router {
    let (api_routes, doc) = api(state.config().import_max_body_bytes);
    let timeout = Duration::from_secs(state.config().request_timeout_secs.clamp(1, 3600));
    let max_body = state.config().max_body_bytes;
    let doc = Arc::new(doc);
    let app = api_routes
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", (*doc).clone()))
        .merge(routes::open311::router())
        .fallback(web::fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").into_response()
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(move |req: Request, next: Next| request_timeout(timeout, req, next)))
        .layer(middleware::from_fn(error::localize))
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state);
    app.layer(
        ServiceBuilder::new()
            .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                ApiError::internal().into_response()
            }))
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(CompressionLayer::new()),
    )
}

async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout").into_response(),
    }
}

/// One log line and one metrics observation per request.
async fn access_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let path = req.uri().path().to_string();
    let request_id =
        req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("").to_string();
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    let route_label = route.as_deref().unwrap_or(if path.starts_with("/api") { "unmatched" } else { "web" });
    state.0.metrics.observe(route_label, method.as_str(), status, elapsed.as_secs_f64());
    let latency_ms = (elapsed.as_secs_f64() * 100_000.0).round() / 100.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(%method, %path, status, latency_ms, request_id, "request");
    }
    resp
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] wuwei_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Open the database, bring the schema up to date, and build the state.
pub async fn open(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<AppState, ServeError> {
    let url = config.database_url();
    let store = wuwei_store::Store::connect(&url, &config.store_options()).await?;
    store.migrate().await?;
    tracing::info!(database = %wuwei_store::redact_url(&url), backend = store.backend().name(), "database ready");
    Ok(AppState::new(store, config, clock))
}

/// Serve until `shutdown` resolves; requests in flight finish first.
pub async fn serve_with(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(state.clone());
    let jobs = state.config().background_jobs.then(|| tokio::spawn(jobs::run_periodic(state.clone())));
    let device_tasks = mqtt::spawn(&state);
    let signal_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        // Live streams end now; ordinary requests in flight still finish.
        let _ = signal_state.0.shutdown.send(true);
    };
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    // Jobs work in transactions, so stopping one between them loses nothing.
    if let Some(jobs) = jobs {
        jobs.abort();
    }
    for task in device_tasks {
        task.abort();
    }
    served?;
    state.store().clone().close().await?;
    Ok(())
}

/// Bind the configured address and serve until SIGTERM or SIGINT.
pub async fn serve(state: AppState) -> Result<(), ServeError> {
    let addr = state.config().listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%addr, "listening");
    serve_with(state, listener, shutdown_signal()).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
