//! End-to-end tests of the emulator over real HTTP on 127.0.0.1, one tenant per test.

mod dialects;
mod faults;
mod groups;
mod persistence;
mod quirks;
mod scale;
mod users;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::{serve, EmulatorData, EmulatorHandle, EmulatorOptions};
use crate::dialect::Dialect;
use crate::scim::wire::{WireGroup, WireMember, WireUser, PATCH_SCHEMA};

pub(super) const TOKEN: &str = "test-token";

/// An answer: status, JSON body (`Null` when empty) and headers.
pub(super) struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn scim_type(&self) -> Option<&str> {
        self.body["scimType"].as_str()
    }
}

/// A running emulator and a client for it.
pub(super) struct Tenant {
    pub handle: EmulatorHandle,
    pub client: reqwest::Client,
}

impl Tenant {
    pub async fn start(dialect: Dialect) -> Tenant {
        Tenant::with(EmulatorOptions::new(dialect, TOKEN)).await
    }

    pub async fn with(options: EmulatorOptions) -> Tenant {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = serve(listener, options).await.unwrap();
        Tenant {
            handle,
            client: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    pub fn root_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr())
    }

    /// Send with the right token and `application/scim+json`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// Create a user and return its id.
    pub async fn user(&self, user_name: &str) -> String {
        let answer = self
            .post("/Users", json!({"userName": user_name, "active": true}))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// Create a group with members and return its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let answer = self
            .post("/Groups", json!({"displayName": name, "members": members}))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// Member ids of a group, from GET by id.
    pub async fn members(&self, group: &str) -> Vec<String> {
        let answer = self.get(&format!("/Groups/{group}")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A plain-HTTP client. reqwest is built without a default TLS provider (zsc installs ring), so
/// one must be installed even though these requests never use TLS.
pub(super) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

pub(super) async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Answer {
        status,
        body,
        headers,
    }
}

/// `n` users named `user{i}@example.com` (ids left for the emulator to assign).
pub(super) fn many_users(n: usize) -> EmulatorData {
    EmulatorData {
        users: (0..n)
            .map(|i| WireUser {
                user_name: format!("user{i}@example.com"),
                active: Some(true),
                ..WireUser::default()
            })
            .collect(),
        groups: Vec::new(),
    }
}

pub(super) fn member(id: &str) -> WireMember {
    WireMember {
        value: id.to_owned(),
        display: None,
        reference: None,
    }
}

pub(super) fn group_data(name: &str, members: &[&str]) -> WireGroup {
    WireGroup {
        display_name: name.to_owned(),
        members: Some(members.iter().map(|m| member(m)).collect()),
        ..WireGroup::default()
    }
}
