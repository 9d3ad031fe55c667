//! In-process servers of Terraform's HTTP backend protocol, on 127.0.0.1, for the HTTP
//! backend's tests: one that follows GitLab's documented rules for its managed Terraform
//! state, and one that answers like Terraform's reference servers.
//!
//! GitLab (`Flavour::GitLab`): Basic auth (`gitlab-ci-token` and the job token); `GET` answers
//! 204 when there is no state; `POST .../lock` requires all seven lock fields (`ID`,
//! `Operation`, `Info`, `Who`, `Version`, `Created`, `Path`: 400 without one) and answers 409
//! with the holder's lock info when the lock is held; `DELETE .../lock` releases it (409 for
//! another id); a write while locked must carry `?ID=` of the holder (409 otherwise); every
//! version is kept by serial.
//!
//! Terraform's reference servers (`Flavour::Reference`): `LOCK` and `UNLOCK` on the state's
//! own address, 423 with the holder's lock info when held, 404 when there is no state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

use crate::harness::Env;

pub const JOB_TOKEN: &str = "glcbt-64_job-token-3f9a7c21";
pub const JOB_TOKEN_ENV: &str = "CI_JOB_TOKEN";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    GitLab,
    Reference,
}

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// What the server holds.
#[derive(Default)]
pub struct Held {
    pub state: Option<Vec<u8>>,
    /// GitLab keeps every version, by serial.
    pub versions: BTreeMap<u64, Vec<u8>>,
    pub lock: Option<Value>,
    pub log: Vec<Logged>,
}

pub struct StateServer {
    pub base: String,
    pub flavour: Flavour,
    pub held: Arc<Mutex<Held>>,
}

impl StateServer {
    pub fn start(env: &Env, flavour: Flavour) -> StateServer {
        let held = Arc::new(Mutex::new(Held::default()));
        let app = Router::new()
            .fallback(handle)
            .with_state((flavour, Arc::clone(&held)));
        let base = env.rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            format!("http://{addr}")
        });
        StateServer {
            base,
            flavour,
            held,
        }
    }

    pub fn address(&self) -> String {
        format!("{}/api/v4/projects/42/terraform/state/zsc", self.base)
    }

    /// The `backend:` section zsc needs for this server.
    pub fn backend_yaml(&self) -> String {
        match self.flavour {
            Flavour::GitLab => format!(
                "backend:\n  kind: http\n  address: {a}\n  lock_address: {a}/lock\n  unlock_address: {a}/lock\n  lock_method: POST\n  unlock_method: DELETE\n  username: gitlab-ci-token\n  password: {{ env: {JOB_TOKEN_ENV} }}\n",
                a = self.address()
            ),
            Flavour::Reference => format!(
                "backend:\n  kind: http\n  address: {a}\n  lock_address: {a}\n",
                a = self.address()
            ),
        }
    }

    pub fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap()
    }

    /// The stored state as JSON.
    pub fn state(&self) -> Option<Value> {
        self.held()
            .state
            .as_ref()
            .map(|b| serde_json::from_slice(b).expect("stored state is JSON"))
    }

    pub fn serial(&self) -> Option<u64> {
        self.state().and_then(|s| s["serial"].as_u64())
    }

    /// Hold the lock as another run would.
    pub fn lock_as(&self, holder: Value) {
        self.held().lock = Some(holder);
    }

    /// Requests with this method to a path ending in `suffix`.
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        self.held()
            .log
            .iter()
            .filter(|l| l.method == method && l.path.ends_with(suffix))
            .count()
    }
}

const LOCK_FIELDS: [&str; 7] = [
    "ID",
    "Operation",
    "Info",
    "Who",
    "Version",
    "Created",
    "Path",
];

async fn handle(
    State((flavour, held)): State<(Flavour, Arc<Mutex<Held>>)>,
    request: Request,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request.headers().clone();
    let body = to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let response = answer(flavour, &held, &method, &path, &query, &headers, body);
    held.lock().unwrap().log.push(Logged {
        at: Instant::now(),
        method,
        path,
        status: response.0.as_u16(),
    });
    let (status, body) = response;
    (status, Body::from(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    use base64_like::encode;
    let expected = format!("Basic {}", encode(&format!("gitlab-ci-token:{JOB_TOKEN}")));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn id_param(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "ID")
        .map(|(_, v)| v.into_owned())
}

fn holder_body(lock: &Value) -> Vec<u8> {
    serde_json::to_vec(lock).unwrap()
}

fn answer(
    flavour: Flavour,
    held: &Mutex<Held>,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    if flavour == Flavour::GitLab && !authorized(headers) {
        return (
            StatusCode::UNAUTHORIZED,
            b"{\"message\":\"401 Unauthorized\"}".to_vec(),
        );
    }
    let mut held = held.lock().unwrap();
    let is_lock = path.ends_with("/lock");
    let locked_status = match flavour {
        Flavour::GitLab => StatusCode::CONFLICT,
        Flavour::Reference => StatusCode::LOCKED,
    };
    match (flavour, method, is_lock) {
        (_, "GET", false) => match &held.state {
            Some(state) => (StatusCode::OK, state.clone()),
            None if flavour == Flavour::GitLab => (StatusCode::NO_CONTENT, Vec::new()),
            None => (StatusCode::NOT_FOUND, Vec::new()),
        },
        (_, "POST", false) => {
            if let Some(lock) = &held.lock {
                let holder = lock["ID"].as_str().unwrap_or_default();
                if id_param(query).as_deref() != Some(holder) {
                    return (locked_status, holder_body(lock));
                }
            }
            let Ok(state) = serde_json::from_slice::<Value>(&body) else {
                return (StatusCode::BAD_REQUEST, b"not JSON".to_vec());
            };
            let serial = state["serial"].as_u64().unwrap_or(0);
            held.versions.insert(serial, body.clone());
            held.state = Some(body);
            (StatusCode::OK, Vec::new())
        }
        (Flavour::GitLab, "POST", true) | (Flavour::Reference, "LOCK", false) => {
            let Ok(info) = serde_json::from_slice::<Value>(&body) else {
                return (StatusCode::BAD_REQUEST, b"lock info is not JSON".to_vec());
            };
            if flavour == Flavour::GitLab {
                if let Some(missing) = LOCK_FIELDS.iter().find(|f| info.get(**f).is_none()) {
                    return (
                        StatusCode::BAD_REQUEST,
                        format!("{{\"error\":\"{missing} is missing\"}}").into_bytes(),
                    );
                }
            }
            if let Some(lock) = &held.lock {
                return (locked_status, holder_body(lock));
            }
            held.lock = Some(info);
            (StatusCode::OK, Vec::new())
        }
        (Flavour::GitLab, "DELETE", true) | (Flavour::Reference, "UNLOCK", false) => {
            let given = id_param(query).or_else(|| {
                serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["ID"].as_str().map(str::to_owned))
            });
            match &held.lock {
                None => (StatusCode::OK, Vec::new()),
                Some(lock) if given.is_some() && lock["ID"].as_str() != given.as_deref() => {
                    (locked_status, holder_body(lock))
                }
                Some(_) => {
                    held.lock = None;
                    (StatusCode::OK, Vec::new())
                }
            }
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, Vec::new()),
    }
}

/// Base64 for the Basic auth header, so the test needs no crate for it.
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn encodes_like_rfc_4648() {
        assert_eq!(encode("Man"), "TWFu");
        assert_eq!(encode("Ma"), "TWE=");
        assert_eq!(encode("M"), "TQ==");
    }
}
