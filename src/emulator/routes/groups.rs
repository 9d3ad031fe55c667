//! `/Groups` handlers: as `users.rs`, plus the dialect's group PATCH status and whether lists
//! carry members.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;

use crate::scim::wire::{PatchRequest, WireGroup};

use crate::emulator::error::ApiError;
use crate::emulator::schema::ResourceKind;
use crate::emulator::view::Projection;

use super::request::{
    check_patch_supported, id_from, list_body, list_faults, missed_by_get, page_request,
    parse_body, parse_resource, view, Params,
};
use super::{created, scim_json, App, QueryParams};

pub(super) async fn list_groups(
    State(app): State<App>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let params = Params::from(query)?;
    let page = page_request(&app, &params)?;
    let with_members = app.dialect.spec().group_list_has_members;
    let store = app.store_read();
    let (total, mut keys) =
        store.page_groups(page.filter.as_ref(), page.start_index - 1, page.count)?;
    list_faults(&app, &page, &mut keys);
    let view = view(&app, params.projection());
    let resources = keys
        .iter()
        .filter_map(|key| store.group(*key))
        .map(|rec| view.group(&store, rec, with_members))
        .collect::<Vec<_>>();
    // Serialised here, under the shared lock the borrowed resources need.
    let response = scim_json(StatusCode::OK, &list_body(&app, &page, total, resources));
    Ok(response)
}

/// One group, always with its members unless the projection leaves them out.
fn render_group(
    app: &App,
    store: &crate::emulator::store::Store,
    id: &str,
    projection: Projection,
) -> Result<Box<RawValue>, ApiError> {
    let key = store.group_key(id)?;
    let rec = store
        .group(key)
        .ok_or_else(|| ApiError::not_found(format!("no group has id `{id}`")))?;
    Ok(view(app, projection).render_group(store, rec, true))
}

pub(super) async fn get_group(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let params = Params::from(query)?;
    let body = {
        let store = app.store_read();
        if missed_by_get(&app, store.group_key(&id)?) {
            return Err(ApiError::not_found(format!("no group has id `{id}`")));
        }
        render_group(&app, &store, &id, params.projection())?
    };
    Ok(scim_json(StatusCode::OK, &body))
}

pub(super) async fn create_group(
    State(app): State<App>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let projection = Params::from(query)?.projection();
    let (group, extras): (WireGroup, _) =
        parse_resource(&app, ResourceKind::Group, &headers, &body)?;
    let (body, id, version) = {
        let mut store = app.store();
        let key = store.create_group(group, extras)?;
        let rec = store
            .group(key)
            .ok_or_else(|| ApiError::internal("the new group vanished"))?;
        (
            view(&app, projection).render_group(&store, rec, true),
            rec.id.clone(),
            store.version(),
        )
    };
    app.persist(version).await?;
    Ok(created(&body, format!("{}/Groups/{id}", app.base_url)))
}

pub(super) async fn replace_group(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let projection = Params::from(query)?.projection();
    let (group, extras): (WireGroup, _) =
        parse_resource(&app, ResourceKind::Group, &headers, &body)?;
    let (body, version) = {
        let mut store = app.store();
        store.replace_group(&id, group, extras)?;
        (
            render_group(&app, &store, &id, projection)?,
            store.version(),
        )
    };
    app.persist(version).await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// Answers the dialect's PATCH status: 204 without a body, or 200 with the group when the
/// dialect says so or the request asks for `attributes` (RFC 7644 §3.5.2).
pub(super) async fn patch_group(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_patch_supported(&app)?;
    let id = id_from(path)?;
    let params = Params::from(query)?;
    let patch: PatchRequest = parse_body(&headers, &body)?;
    let with_body = params.has("attributes") || app.dialect.spec().group_patch_status == 200;
    let (body, version) = {
        let mut store = app.store();
        store.patch_group(&id, &patch.operations)?;
        let body = if with_body {
            Some(render_group(&app, &store, &id, params.projection())?)
        } else {
            None
        };
        (body, store.version())
    };
    app.persist(version).await?;
    Ok(match body {
        Some(body) => scim_json(StatusCode::OK, &body),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

pub(super) async fn delete_group(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let version = {
        let mut store = app.store();
        store.delete_group(&id)?;
        store.version()
    };
    app.persist(version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
