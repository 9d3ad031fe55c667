//! Correct on every standards-following SCIM server (issue 14): each behaviour a real server was
//! seen to have, reproduced by an emulator switch, and zsc coping with it through the binary.

use zsc::dialect::Dialect;

use crate::harness::Env;

/// A loopback port nobody listens on: port 1 (tcpmux) is privileged and unused, so no other
/// test's emulator can take it in the meantime, as a port freed after binding could be.
fn closed_port() -> u16 {
    1
}

#[test]
fn an_unreachable_server_is_named_with_the_attempts_and_given_up_on_quickly() {
    let env = Env::new();
    let port = closed_port();
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  t:\n    kind: scim\n    url: http://127.0.0.1:{port}/scim/v2\n    token: {{ env: ZSC_TEST_TOKEN }}\nusers:\n  - user_name: a@example.com\n"
        ),
    );
    let started = std::time::Instant::now();
    env.zsc(&["plan"])
        .code(1)
        .stderr_has(&format!("http://127.0.0.1:{port}/scim/v2/Users"))
        .stderr_has("could not connect")
        .stderr_has("(gave up after 3 attempts)");
    // Not a timing test: a bound far above the few seconds it takes, far below the 15-20 s it
    // used to take, so that a regression to the full backoff shows.
    assert!(started.elapsed().as_secs() < 12, "{:?}", started.elapsed());
}

#[test]
fn a_wrong_base_path_says_there_is_no_scim_endpoint_at_the_url() {
    let env = Env::with_emulator(Dialect::Zia);
    let base = env.base_url();
    let wrong = base.replace("/scim", "/scum");
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  t:\n    kind: scim\n    url: {wrong}\n    token: {{ env: ZSC_TEST_TOKEN }}\nusers:\n  - user_name: a@example.com\n"
        ),
    );
    env.zsc(&["plan"])
        .code(1)
        .stderr_has("404 Not Found: there is no SCIM endpoint at this URL; check the tenant's `url` (scheme, host, port and base path");
}
