//! `zsc emulator` as a process: it starts, prints its base URL on stdout, and serves with the
//! switches its `--quirk` flags name.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TOKEN, TOKEN_ENV};

/// A running `zsc emulator`, killed when dropped.
struct Served {
    child: Child,
    base_url: String,
    /// Kept open, so the emulator never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zsc"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--token-env",
            TOKEN_ENV,
        ])
        .args(args)
        .env(TOKEN_ENV, TOKEN)
        .env("NO_COLOR", "1")
        .env_remove("ZSC_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zsc emulator starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the base URL");
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    Served {
        child,
        base_url: line.trim().to_owned(),
        _stdout: stdout,
    }
}

/// Send `body` (if any) with the token; the status and the JSON answer (`Null` when empty).
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn quirk_flags_switch_the_served_behaviour_on() {
    let served = serve(&["--quirk", "strict-schemas", "--quirk", "no-patch"]);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", served.base_url);

    let (status, spc) = call(&client, Method::GET, url("/ServiceProviderConfig"), None).await;
    assert_eq!((status, &spc["patch"]["supported"]), (200, &json!(false)));

    let schemas = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
    let outside = json!({"schemas": schemas, "userName": "a@example.com", "department": "Ops"});
    let (status, refused) = call(&client, Method::POST, url("/Users"), Some(outside)).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["detail"],
        "Extra inputs are not permitted: department"
    );

    let user = json!({"schemas": schemas, "userName": "a@example.com"});
    let (status, created) = call(&client, Method::POST, url("/Users"), Some(user)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id");
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "A"}]});
    let (status, _) = call(
        &client,
        Method::PATCH,
        url(&format!("/Users/{id}")),
        Some(patch),
    )
    .await;
    assert_eq!(status, 501);
}
