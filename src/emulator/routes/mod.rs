//! The HTTP surface: routes under the dialect's base path, the middleware that counts requests,
//! injects faults and checks the bearer token, and the handlers that turn requests into store
//! calls and answers.
//!
//! Handlers hold the store's mutex only while reading or writing it, never across an `.await`;
//! a write is saved (when there is a data file) before its answer is sent. Nothing here logs
//! headers: the token must never reach a log.
//!
//! Layout: this file holds the router, discovery and `/_emulator` handlers; `middleware.rs` the
//! logging, fault/stats and token layers; `request.rs` query parameters, bodies and pages;
//! `users.rs` and `groups.rs` the resource handlers.

mod groups;
mod middleware;
mod request;
mod users;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;

use super::discovery;
use super::error::{ApiError, SCIM_CONTENT_TYPE};
use super::faults::Faults;
use super::{base_path, Shared};

use groups::{create_group, delete_group, get_group, list_groups, patch_group, replace_group};
use middleware::{guard, log_request, require_token, require_token_for_discovery, Guard};
use request::id_from;
use users::{create_user, delete_user, get_user, list_users, patch_user, replace_user};

pub(super) type App = Arc<Shared>;
pub(super) type QueryParams = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Large enough for a group created with 100,000 members inline.
pub(super) const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) fn router(shared: App) -> Router {
    let users = Router::new()
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route_layer(from_fn_with_state(Arc::clone(&shared), require_token))
        .route_layer(from_fn_with_state(Guard::new(&shared, "Users"), guard));
    let groups = Router::new()
        .route("/Groups", get(list_groups).post(create_group))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route_layer(from_fn_with_state(Arc::clone(&shared), require_token))
        .route_layer(from_fn_with_state(Guard::new(&shared, "Groups"), guard));
    let discovery = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route_layer(from_fn_with_state(
            Arc::clone(&shared),
            require_token_for_discovery,
        ));
    let scim = users.merge(groups).merge(discovery);
    Router::new()
        .nest(base_path(shared.dialect), scim)
        .route("/_emulator/stats", get(get_stats))
        .route("/_emulator/stats/reset", post(reset_stats))
        .route("/_emulator/faults", put(put_faults).get(get_faults))
        .route("/_emulator/log", get(get_log))
        .route("/_emulator/log/reset", post(reset_log))
        .fallback(no_such_endpoint)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(log_request))
        .with_state(shared)
}

/// A SCIM JSON answer.
pub(crate) fn scim_json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(SCIM_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {e}"),
        )
            .into_response(),
    }
}

pub(super) fn created(body: &impl Serialize, location: String) -> Response {
    let mut response = scim_json(StatusCode::CREATED, body);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

// ---- discovery ----

async fn service_provider_config(State(app): State<App>) -> Result<Response, ApiError> {
    let (mode, cap, patch) = {
        let faults = app.faults();
        let f = faults.faults();
        (f.discovery.clone(), f.page_size_cap, !f.no_patch)
    };
    match mode {
        crate::emulator::faults::Discovery::Standard => Ok(scim_json(
            StatusCode::OK,
            &discovery::service_provider_config(app.dialect.spec(), &app.base_url, cap, patch),
        )),
        crate::emulator::faults::Discovery::Missing => Err(ApiError::not_found(
            "no such endpoint: GET /ServiceProviderConfig".to_owned(),
        )),
        crate::emulator::faults::Discovery::Custom(doc) => Ok(scim_json(StatusCode::OK, &doc)),
    }
}

async fn schemas(State(app): State<App>) -> Response {
    scim_json(StatusCode::OK, &discovery::schemas(&app.base_url))
}

async fn schema(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let body = discovery::schema(&id, &app.base_url)
        .ok_or_else(|| ApiError::not_found(format!("no schema `{id}`")))?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn resource_types(State(app): State<App>) -> Response {
    scim_json(StatusCode::OK, &discovery::resource_types(&app.base_url))
}

async fn resource_type(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = id_from(path)?;
    let body = discovery::resource_type(&name, &app.base_url)
        .ok_or_else(|| ApiError::not_found(format!("no resource type `{name}`")))?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn no_such_endpoint(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}

// ---- /_emulator ----

async fn get_stats(State(app): State<App>) -> Response {
    Json(app.stats().clone()).into_response()
}

async fn reset_stats(State(app): State<App>) -> StatusCode {
    *app.stats() = super::Stats::default();
    StatusCode::NO_CONTENT
}

async fn get_log(State(app): State<App>) -> Response {
    Json(app.request_log().entries()).into_response()
}

async fn reset_log(State(app): State<App>) -> StatusCode {
    app.request_log().clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(app): State<App>) -> Response {
    Json(app.faults().faults().clone()).into_response()
}

async fn put_faults(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let faults: Faults = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid_syntax(format!("the body is not a valid Faults object: {e}"))
    })?;
    app.set_faults(faults.clone());
    Ok(Json(faults).into_response())
}
