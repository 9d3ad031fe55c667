//! A fake forge API on 127.0.0.1: the GitHub and GitLab REST endpoints the examples call to
//! post a plan comment (list a pull request's comments or a merge request's notes, create one,
//! update one), recording every call. It answers as the real ones do where the examples'
//! scripts could trip: GitHub pretty-prints, GitLab escapes `<`, `>` and `&` as `\u003c`...,
//! lists are paged (`per_page`, `page`), comments carry nested objects with ids of their own,
//! and a wrong token is a 401.
//!
//! GitLab's managed Terraform state lives under the same API
//! (`/api/v4/projects/:id/terraform/state/:name`): requests there are passed on to the HTTP
//! backend server the backend tests use (`tests/backends/http_server.rs`, on GitLab's rules)
//! and its answers passed back, so that the example's addresses, built from `CI_API_V4_URL`,
//! reach it. They are not among the recorded calls; that server keeps its own log.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    GitHub,
    GitLab,
}

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// Path and query, e.g. `/repos/acme/people/issues/7/comments?per_page=100&page=1`.
    pub target: String,
    pub status: u16,
}

/// A comment (GitHub) or note (GitLab).
#[derive(Clone, Debug)]
pub struct Note {
    pub id: u64,
    pub author: String,
    pub body: String,
}

struct State {
    flavor: Flavor,
    token: String,
    /// The pull request's (merge request's) comments, oldest first.
    notes: Vec<Note>,
    next_id: u64,
    calls: Vec<Call>,
}

pub struct Forge {
    _rt: tokio::runtime::Runtime,
    /// `http://127.0.0.1:PORT` (GitHub's `GITHUB_API_URL`) or `http://127.0.0.1:PORT/api/v4`
    /// (GitLab's `CI_API_V4_URL`).
    pub api_url: String,
    state: Arc<Mutex<State>>,
}

/// The pull request / merge request every example run is about, and its repository.
pub const OWNER_REPO: &str = "acme/people";
pub const PROJECT_ID: &str = "42";
pub const NUMBER: u64 = 7;
/// The identity the forge gives the token the examples post with.
pub const BOT: &str = "zsc-bot";

impl Forge {
    /// A forge that accepts `token`, with `notes` already on the pull request; GitLab's
    /// Terraform state requests go to the server at `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(
        flavor: Flavor,
        token: &str,
        notes: Vec<(String, String)>,
        upstream: Option<String>,
    ) -> Forge {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let notes: Vec<Note> = notes
            .into_iter()
            .enumerate()
            .map(|(i, (author, body))| Note {
                id: 1_000_000 + i as u64,
                author,
                body,
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            flavor,
            token: token.to_owned(),
            next_id: 2_000_000 + notes.len() as u64,
            notes,
            calls: Vec::new(),
        }));
        let app_state = state.clone();
        let upstream = upstream.map(|base| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            (base, client)
        });
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = app_state.clone();
                let upstream = upstream.clone();
                async move {
                    let prefix = format!("/api/v4/projects/{PROJECT_ID}/terraform/state/");
                    match upstream {
                        Some((base, client)) if uri.path().starts_with(&prefix) => {
                            pass_on(&client, &base, method, &uri, &headers, body).await
                        }
                        _ => handle(&state, method, uri, headers, body),
                    }
                }
            },
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move { axum::serve(listener, app).await });
        let api_url = match flavor {
            Flavor::GitHub => format!("http://127.0.0.1:{port}"),
            Flavor::GitLab => format!("http://127.0.0.1:{port}/api/v4"),
        };
        Forge {
            _rt: rt,
            api_url,
            state,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Calls as `METHOD /path?query`, the host left out.
    pub fn call_lines(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| format!("{} {} {}", c.method, c.target, c.status))
            .collect()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub fn notes(&self) -> Vec<Note> {
        self.state.lock().unwrap().notes.clone()
    }

    /// The notes the examples' token wrote.
    pub fn bot_notes(&self) -> Vec<Note> {
        self.notes()
            .into_iter()
            .filter(|n| n.author == BOT)
            .collect()
    }
}

/// A Terraform state request, passed on to the state server as it came (method, path, query,
/// authorization, body) and its answer passed back.
async fn pass_on(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let mut request = client.request(method, format!("{base}{target}")).body(body);
    for name in ["authorization", "content-type", "content-md5"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let body = answer.bytes().await.unwrap_or_default();
            (status, body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("state server: {e}")).into_response(),
    }
}

fn handle(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    let target = uri
        .path_and_query()
        .map_or(uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let (status, answer) = answer(&mut state, &method, &uri, &headers, &body);
    state.calls.push(Call {
        method: method.to_string(),
        target,
        status: status.as_u16(),
    });
    let text = match state.flavor {
        Flavor::GitHub => serde_json::to_string_pretty(&answer).unwrap(),
        // Rails escapes these in JSON.
        Flavor::GitLab => serde_json::to_string(&answer)
            .unwrap()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    };
    (status, [("content-type", "application/json")], text).into_response()
}

fn answer(
    state: &mut State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, Value) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorized = match state.flavor {
        Flavor::GitHub => header("authorization") == Some(&format!("Bearer {}", state.token)),
        Flavor::GitLab => header("private-token") == Some(state.token.as_str()),
    };
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    }
    let (list, one) = match state.flavor {
        Flavor::GitHub => (
            format!("/repos/{OWNER_REPO}/issues/{NUMBER}/comments"),
            format!("/repos/{OWNER_REPO}/issues/comments/"),
        ),
        Flavor::GitLab => {
            let list = format!("/api/v4/projects/{PROJECT_ID}/merge_requests/{NUMBER}/notes");
            let one = format!("{list}/");
            (list, one)
        }
    };
    let path = uri.path();
    let update = match state.flavor {
        Flavor::GitHub => Method::PATCH,
        Flavor::GitLab => Method::PUT,
    };
    if path == list && method == Method::GET {
        let query = parse_query(uri.query().unwrap_or(""));
        let per_page: usize = query_value(&query, "per_page").unwrap_or(30).min(100);
        let page: usize = query_value(&query, "page").unwrap_or(1).max(1);
        let items: Vec<Value> = state
            .notes
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|n| render(state.flavor, n))
            .collect();
        return (StatusCode::OK, Value::Array(items));
    }
    let new_body = || -> Result<String, (StatusCode, Value)> {
        let parsed: Value = serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                json!({"message": format!("Problems parsing JSON: {e}")}),
            )
        })?;
        parsed["body"].as_str().map(str::to_owned).ok_or((
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "body is missing"}),
        ))
    };
    if path == list && method == Method::POST {
        return match new_body() {
            Ok(text) => {
                let note = Note {
                    id: state.next_id,
                    author: BOT.to_owned(),
                    body: text,
                };
                state.next_id += 1;
                let rendered = render(state.flavor, &note);
                state.notes.push(note);
                (StatusCode::CREATED, rendered)
            }
            Err(e) => e,
        };
    }
    if let Some(id) = path.strip_prefix(one.as_str()) {
        if *method == update {
            let Ok(id) = id.parse::<u64>() else {
                return (StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
            };
            let text = match new_body() {
                Ok(text) => text,
                Err(e) => return e,
            };
            let flavor = state.flavor;
            return match state.notes.iter_mut().find(|n| n.id == id) {
                Some(note) if note.author == BOT => {
                    note.body = text;
                    (StatusCode::OK, render(flavor, note))
                }
                Some(_) => (
                    StatusCode::FORBIDDEN,
                    json!({"message": "not your comment"}),
                ),
                None => (StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
            };
        }
    }
    (StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

fn render(flavor: Flavor, note: &Note) -> Value {
    match flavor {
        Flavor::GitHub => json!({
            "url": format!("https://api.github.com/repos/{OWNER_REPO}/issues/comments/{}", note.id),
            "html_url": format!("https://github.com/{OWNER_REPO}/pull/{NUMBER}#issuecomment-{}", note.id),
            "issue_url": format!("https://api.github.com/repos/{OWNER_REPO}/issues/{NUMBER}"),
            "id": note.id,
            "node_id": "IC_kwDOAbCdEf5xYz",
            "user": {
                "login": note.author,
                "id": 41898282,
                "type": if note.author == BOT { "Bot" } else { "User" },
                "site_admin": false
            },
            "created_at": "2026-11-30T12:00:00Z",
            "updated_at": "2026-11-30T12:00:00Z",
            "author_association": "NONE",
            "body": note.body,
            "reactions": {"url": "https://api.github.com/x", "total_count": 0, "+1": 0},
            "performed_via_github_app": null
        }),
        Flavor::GitLab => json!({
            "id": note.id,
            "type": null,
            "body": note.body,
            "attachment": null,
            "author": {"id": 77, "username": note.author, "name": note.author, "state": "active"},
            "created_at": "2026-11-30T12:00:00.000Z",
            "updated_at": "2026-11-30T12:00:00.000Z",
            "system": false,
            "noteable_id": 9001,
            "noteable_type": "MergeRequest",
            "project_id": 42,
            "resolvable": false,
            "noteable_iid": NUMBER
        }),
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn query_value(query: &[(String, String)], name: &str) -> Option<usize> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// Comments already on the pull request, written to trip a careless parser: JSON-looking text
/// with ids and the word zsc-plan inside bodies, escaped quotes, a body ending in a backslash,
/// braces, non-ASCII text, and a second page of chatter.
pub fn noisy_thread(extra: usize) -> Vec<(String, String)> {
    let mut notes = vec![
        (
            "alice".to_owned(),
            "Looks good. The plan said {\"id\": 999, \"body\": \"zsc-plan\"} when I ran it \
             with \\\"quotes\\\" and [brackets]."
                .to_owned(),
        ),
        ("bob".to_owned(), "Path is C:\\".to_owned()),
        (
            "carol".to_owned(),
            "Ünïcödé 👍 }]} \"id\": 12345".to_owned(),
        ),
    ];
    for i in 0..extra {
        notes.push(("dave".to_owned(), format!("comment {i}")));
    }
    notes
}
