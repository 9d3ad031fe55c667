//! `/Users` handlers: each reads the request, calls the store under its mutex, renders the
//! answer, releases the mutex, saves, and only then answers.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::scim::wire::{PatchRequest, WireUser};

use crate::emulator::error::ApiError;
use crate::emulator::schema::ResourceKind;
use crate::emulator::store::UserWrite;
use crate::emulator::view::Projection;

use super::request::{
    check_patch_supported, id_from, list_body, list_faults, missed_by_get, page_request,
    parse_body, parse_resource, view, Params,
};
use super::{created, scim_json, App, QueryParams};

pub(super) async fn list_users(
    State(app): State<App>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let params = Params::from(query)?;
    let page = page_request(&app, &params)?;
    let store = app.store_read();
    let (total, mut keys) =
        store.page_users(page.filter.as_ref(), page.start_index - 1, page.count)?;
    list_faults(&app, &page, &mut keys);
    let mut view = view(&app, params.projection());
    view.listing = true;
    let resources = keys
        .iter()
        .filter_map(|key| store.user(*key))
        .map(|rec| view.user(&store, rec))
        .collect::<Vec<_>>();
    // Serialised here, under the shared lock the borrowed resources need.
    let response = scim_json(StatusCode::OK, &list_body(&app, &page, total, resources));
    Ok(response)
}

pub(super) async fn get_user(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let projection = Params::from(query)?.projection();
    let body = {
        let store = app.store_read();
        let key = store.user_key(&id)?;
        let rec = store
            .user(key)
            .filter(|_| !missed_by_get(&app, key))
            .ok_or_else(|| ApiError::not_found(format!("no user has id `{id}`")))?;
        view(&app, projection).render_user(&store, rec)
    };
    Ok(scim_json(StatusCode::OK, &body))
}

pub(super) async fn create_user(
    State(app): State<App>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let projection = Params::from(query)?.projection();
    let (user, extras): (WireUser, _) = parse_resource(&app, ResourceKind::User, &headers, &body)?;
    let (body, id, version) = {
        let mut store = app.store();
        let key = store.create_user(user, extras)?;
        let rec = store
            .user(key)
            .ok_or_else(|| ApiError::internal("the new user vanished"))?;
        (
            view(&app, projection).render_user(&store, rec),
            rec.id().to_owned(),
            store.version(),
        )
    };
    app.persist(version).await?;
    Ok(created(&body, format!("{}/Users/{id}", app.base_url)))
}

pub(super) async fn replace_user(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let projection = Params::from(query)?.projection();
    let (user, extras): (WireUser, _) = parse_resource(&app, ResourceKind::User, &headers, &body)?;
    write_user(&app, projection, |store| {
        store.replace_user(&id, user, extras)
    })
    .await
}

pub(super) async fn patch_user(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_patch_supported(&app)?;
    let id = id_from(path)?;
    let projection = Params::from(query)?.projection();
    let patch: PatchRequest = parse_body(&headers, &body)?;
    write_user(&app, projection, |store| {
        store.patch_user(&id, &patch.operations)
    })
    .await
}

/// Run a user write, save, and answer 200 with the user as written (for a ZPA deactivation,
/// the user as it was when the service deleted it).
async fn write_user(
    app: &App,
    projection: Projection,
    write: impl FnOnce(&mut crate::emulator::store::Store) -> Result<UserWrite, ApiError>,
) -> Result<Response, ApiError> {
    let (body, version) = {
        let mut store = app.store();
        let view = view(app, projection);
        let body = match write(&mut store)? {
            UserWrite::Stored(key) => {
                let rec = store
                    .user(key)
                    .ok_or_else(|| ApiError::internal("the user vanished"))?;
                view.render_user(&store, rec)
            }
            UserWrite::Deleted(rec) => view.render_user(&store, &rec),
        };
        (body, store.version())
    };
    app.persist(version).await?;
    Ok(scim_json(StatusCode::OK, &body))
}

pub(super) async fn delete_user(
    State(app): State<App>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_from(path)?;
    let version = {
        let mut store = app.store();
        store.delete_user(&id)?;
        store.version()
    };
    app.persist(version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
