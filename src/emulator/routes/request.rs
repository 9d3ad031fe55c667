//! Reading requests: ids from the path, query parameters (names compared case-insensitively),
//! the page a list asks for after the caps, JSON bodies in the accepted content types, and the
//! list envelope.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::scim::wire::{ListResponse, LIST_SCHEMA};

use crate::emulator::error::ApiError;
use crate::emulator::filter::{parse_eq, EqFilter};
use crate::emulator::quirks::quirks;
use crate::emulator::schema::ResourceKind;
use crate::emulator::store::{Extras, Key};
use crate::emulator::strict::check_declared_schemas;
use crate::emulator::view::{Projection, View};

use super::App;

pub(super) fn id_from(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|e| {
        ApiError::invalid_value(format!("the resource id in the URL is not valid: {e}"))
    })
}

/// Query parameters of a request, names compared case-insensitively.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub(super) fn from(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    ) -> Result<Self, ApiError> {
        query
            .map(|Query(pairs)| Params(pairs))
            .map_err(|e| ApiError::invalid_value(format!("the query string is not valid: {e}")))
    }

    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `attributes` and `excludedAttributes` (or ZPA's spelling `excludeAttributes`).
    pub(super) fn projection(&self) -> Projection {
        let excluded = self
            .get("excludedAttributes")
            .or_else(|| self.get("excludeAttributes"));
        Projection::new(self.get("attributes"), excluded)
    }

    pub(super) fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|value| {
                value.trim().parse::<i64>().map_err(|_| {
                    ApiError::invalid_value(format!(
                        "`{name}` must be a whole number, not `{value}`"
                    ))
                })
            })
            .transpose()
    }
}

/// The page a list request asks for, after the dialect's and the faults' caps.
pub(super) struct PageRequest {
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub filter: Option<EqFilter>,
}

/// The listing faults, applied to one page's keys: unfiltered pages leave out what
/// `omit_from_lists` hides, filtered ones what lookups miss (see
/// [`Hiding`](crate::emulator::faults::Hiding)).
pub(super) fn list_faults(app: &App, page: &PageRequest, keys: &mut Vec<Key>) {
    let hiding = app.faults().faults().hiding();
    match &page.filter {
        None => keys.retain(|key| !hiding.omitted_from_lists(*key)),
        Some(_) => keys.retain(|key| !hiding.missed_by_lookups(*key)),
    }
}

/// Whether a GET by id misses the resource at `key`: then it answers 404.
pub(super) fn missed_by_get(app: &App, key: Key) -> bool {
    app.faults().faults().hiding().missed_by_lookups(key)
}

/// Refuse a PATCH with 501 under the `no_patch` fault (RFC 7644 §3.12: "Service provider does
/// not support the request operation").
pub(super) fn check_patch_supported(app: &App) -> Result<(), ApiError> {
    if app.faults().faults().no_patch {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            None,
            "PATCH is not supported by this service provider; replace the resource with PUT",
        ));
    }
    Ok(())
}

pub(super) fn page_request(app: &App, params: &Params) -> Result<PageRequest, ApiError> {
    let spec = app.dialect.spec();
    if app.faults().faults().refuse_projection && params.projection().is_some() {
        return Err(ApiError::invalid_value(
            "this server does not support `attributes` or `excludedAttributes`",
        ));
    }
    let cap = match app.faults().faults().page_size_cap {
        Some(cap) => cap.min(spec.max_page_size),
        None => spec.max_page_size,
    };
    let mut start_index = params.number("startIndex")?.unwrap_or(1).max(1);
    let count = params
        .number("count")?
        .map_or(spec.default_page_size as i64, |c| c.max(0));
    let filter = params
        .get("filter")
        .map(parse_eq)
        .transpose()
        .map_err(ApiError::invalid_filter)?;
    if let (None, Some(shift)) = (&filter, app.faults().faults().shift_pages) {
        if start_index > 1 {
            // Objects "inserted at the front" since the first page push later pages back.
            start_index = (start_index - i64::try_from(shift).unwrap_or(i64::MAX)).max(1);
        }
    }
    Ok(PageRequest {
        start_index: usize::try_from(start_index).unwrap_or(usize::MAX),
        count: usize::try_from(count).unwrap_or(usize::MAX).min(cap),
        filter,
    })
}

pub(super) fn list_body<T>(
    app: &App,
    page: &PageRequest,
    total: usize,
    resources: Vec<T>,
) -> ListResponse<T> {
    let items = if quirks(app.dialect).items_per_page_is_page_size {
        page.count
    } else {
        resources.len()
    };
    ListResponse {
        schemas: vec![LIST_SCHEMA.to_owned()],
        total_results: Some(total as u64),
        start_index: Some(page.start_index as u64),
        items_per_page: Some(items as u64),
        resources,
    }
}

/// A JSON request body as `T` (see [`check_content_type`]).
pub(super) fn parse_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    check_content_type(headers)?;
    serde_json::from_slice(body).map_err(body_error)
}

/// A User or Group body of a POST or PUT: the typed resource, and the attributes the store
/// keeps beside it. Under `strict_schemas`, first checked against the schemas it declares.
pub(super) fn parse_resource<T: DeserializeOwned>(
    app: &App,
    kind: ResourceKind,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(T, Option<Extras>), ApiError> {
    let resource = parse_body(headers, body)?;
    if app.faults().faults().strict_schemas {
        let value = serde_json::from_slice(body).map_err(body_error)?;
        check_declared_schemas(kind, app.dialect, &value)?;
    }
    let extras = Extras::scan(kind, body).map_err(body_error)?;
    Ok((resource, extras))
}

/// SCIM, plain or JSON-patch content types (ZIA's curl example sends
/// `application/json-patch+json`), or none.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        format!("content type `{mime}` is not supported; send application/scim+json"),
    ))
}

/// 400 `invalidSyntax`, saying whether the body is not JSON or not the expected resource.
fn body_error(e: serde_json::Error) -> ApiError {
    let what = match e.classify() {
        serde_json::error::Category::Data => "not a valid resource",
        _ => "not valid JSON",
    };
    ApiError::invalid_syntax(format!("the request body is {what}: {e}"))
}

pub(super) fn view(app: &App, projection: Projection) -> View<'_> {
    View {
        base_url: &app.base_url,
        projection,
        listing: false,
    }
}
