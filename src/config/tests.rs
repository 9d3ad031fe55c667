//! Tests for loading and validation: happy paths on `testdata/config/good`, the broken-config
//! corpus in `testdata/config/bad` (exact rendered errors; `ZSC_BLESS=1` rewrites them), and
//! garbage input that must not panic.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::model::RemoveUserAction;

fn no_tokens() -> LoadOptions {
    LoadOptions {
        check_tokens: false,
        ..LoadOptions::default()
    }
}

/// A scratch directory under the target dir, emptied first.
pub(super) fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("config-tests")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dir");
    }
    fs::write(&path, text).expect("write file");
    path
}

fn load_str(name: &str, text: &str) -> Result<Config, ConfigError> {
    let dir = scratch(name);
    let path = write(&dir, "zsc.yaml", text);
    load_with(&path, &no_tokens())
}

fn user_names(config: &Config, tenant: &str) -> Vec<String> {
    config.desired[tenant]
        .users
        .iter()
        .map(|u| u.user_name.clone())
        .collect()
}

fn members(config: &Config, tenant: &str, group: &str) -> Vec<String> {
    config.desired[tenant]
        .groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.members.clone())
        .unwrap_or_default()
}

#[test]
fn full_example_loads() {
    let config = load_with(
        Path::new("testdata/config/good/full/zsc.yaml"),
        &no_tokens(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.dir, Path::new("testdata/config/good/full"));
    assert_eq!(
        config.files,
        vec![
            PathBuf::from("testdata/config/good/full/zsc.yaml"),
            PathBuf::from("testdata/config/good/full/groups/finance.yaml"),
            PathBuf::from("testdata/config/good/full/people/engineering.yaml"),
            PathBuf::from("testdata/config/good/full/people/finance.yaml"),
        ]
    );
    let zia = &config.tenants["zia-prod"];
    assert_eq!(zia.kind, TenantKind::Zia);
    assert_eq!(zia.dialect, Dialect::Zia);
    assert_eq!(zia.rate_limit, Some(5.0));
    assert_eq!(zia.parallelism, Some(4));
    assert_eq!(zia.page_size, Some(500));
    assert_eq!(zia.allowed_domains, vec!["example.com".to_owned()]);
    assert_eq!(
        zia.token,
        Some(TokenSource::Env("ZSC_ZIA_PROD_TOKEN".to_owned()))
    );
    assert_eq!(zia.origin.file, "testdata/config/good/full/zsc.yaml");
    assert_eq!((zia.origin.line, zia.origin.column), (3, 3));
    let zpa = &config.tenants["zpa-prod"];
    assert_eq!(
        zpa.token,
        Some(TokenSource::File(PathBuf::from(
            "testdata/config/good/full/secrets/zpa-token"
        )))
    );
    let demo = &config.tenants["demo"];
    assert_eq!(
        (demo.kind, demo.dialect),
        (TenantKind::Emulator, Dialect::Zia)
    );
    assert_eq!((demo.url.as_deref(), demo.token.as_ref()), (None, None));

    assert_eq!(config.defaults.remove_user_action, RemoveUserAction::Delete);
    assert_eq!(config.defaults.max_destroy, 50);
    assert_eq!(config.defaults.max_destroy_percent, 10.0);

    // Scoping: the ZPA tenant has only the engineers; users are sorted case-insensitively.
    assert_eq!(
        user_names(&config, "zia-prod"),
        ["alice@example.com", "Bob@example.com", "jsmith@example.com"]
    );
    assert_eq!(
        user_names(&config, "zpa-prod"),
        ["alice@example.com", "Bob@example.com"]
    );
    // Memberships from both sides, deduplicated, in name order (as users are).
    assert_eq!(
        members(&config, "zia-prod", "Accounting"),
        ["alice@example.com", "jsmith@example.com"]
    );
    // Bob is in Engineering on both tenants; jsmith is not in zpa-prod, so not a member there.
    assert_eq!(
        members(&config, "zpa-prod", "Engineering"),
        ["alice@example.com", "Bob@example.com"]
    );
    assert_eq!(
        members(&config, "zia-prod", "Engineering"),
        ["alice@example.com", "Bob@example.com", "jsmith@example.com"]
    );
    let ops = config.desired["zia-prod"]
        .groups
        .iter()
        .find(|g| g.name == "Finance Ops")
        .expect("Finance Ops");
    assert_eq!(ops.renamed_from.as_deref(), Some("Finance"));
    assert!(config.desired["zpa-prod"]
        .groups
        .iter()
        .all(|g| g.name != "Accounting"));

    let jsmith = &config.desired["zia-prod"].users[2];
    assert_eq!(jsmith.attrs.display_name.as_deref(), Some("Janet Smith"));
    assert_eq!(jsmith.attrs.external_id.as_deref(), Some("E123"));
    assert!(jsmith.active && jsmith.protect);
    assert_eq!(
        jsmith.origin.file,
        "testdata/config/good/full/people/finance.yaml"
    );
    assert_eq!((jsmith.origin.line, jsmith.origin.column), (2, 5));
}

#[test]
fn minimal_emulator_config_gets_defaults() {
    let config =
        load(Path::new("testdata/config/good/minimal/zsc.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.defaults, Defaults::default());
    assert_eq!(config.defaults.max_destroy, 20);
    assert_eq!(config.defaults.max_destroy_percent, 25.0);
    assert_eq!(config.tenants["demo"].dialect, Dialect::Scim);
    let user = &config.desired["demo"].users[0];
    assert!(user.active && !user.protect);
    assert_eq!(user.attrs, crate::model::UserAttrs::default());
    // An empty configuration beyond the tenant still gives the tenant an entry.
    let config = load_str("empty-desired", "tenants:\n  a:\n    kind: emulator\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.desired["a"], crate::model::DesiredTenant::default());
    assert_eq!(
        config.dir.file_name().and_then(|n| n.to_str()),
        Some("empty-desired")
    );
}

#[test]
fn every_good_config_loads() {
    for entry in fs::read_dir("testdata/config/good").expect("good dir") {
        let path = entry.expect("entry").path().join("zsc.yaml");
        if let Err(e) = load_with(&path, &no_tokens()) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn missing_main_file_is_a_read_error() {
    match load(Path::new("surely-missing-zsc.yaml")) {
        Err(ConfigError::Read { path, .. }) => {
            assert_eq!(path, Path::new("surely-missing-zsc.yaml"))
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn fingerprint_ignores_comments_and_layout_but_not_values() {
    let base = "tenants:\n  demo:\n    kind: emulator\nusers:\n  - user_name: a@example.com\n    display_name: A\ngroups:\n  - name: G\n    members: [a@example.com]\n";
    let commented = "# people\ntenants:\n  demo: { kind: emulator }   # the demo\n\nusers:\n  - display_name: A\n    user_name: a@example.com\ngroups:\n  - members:\n      - a@example.com\n    name: G\n";
    let changed = base.replace("display_name: A", "display_name: B");
    let one = load_str("fp-1", base).expect("base").fingerprint();
    let two = load_str("fp-2", commented)
        .expect("commented")
        .fingerprint();
    let three = load_str("fp-3", &changed).expect("changed").fingerprint();
    assert_eq!(one.len(), 64);
    assert_eq!(one, two);
    assert_ne!(one, three);
    // Membership declared from the user's side instead is the same desired state.
    let user_side = "tenants:\n  demo:\n    kind: emulator\nusers:\n  - user_name: a@example.com\n    display_name: A\n    groups: [G]\ngroups:\n  - name: G\n";
    assert_eq!(
        one,
        load_str("fp-4", user_side)
            .expect("user side")
            .fingerprint()
    );
    let defaults = format!("{base}defaults:\n  max_destroy: 21\n");
    assert_ne!(
        one,
        load_str("fp-5", &defaults).expect("defaults").fingerprint()
    );
}

#[test]
fn token_resolves_from_env_and_file() {
    // PATH is set in every test environment; setting variables would race other tests.
    let from_env = TokenSource::Env("PATH".to_owned()).resolve().expect("PATH");
    assert_eq!(
        Some(from_env.expose()),
        std::env::var("PATH").ok().as_deref().map(str::trim_end)
    );

    let dir = scratch("token-file");
    let path = write(&dir, "token", "s3cret-value \n\n");
    let secret = TokenSource::File(path).resolve().expect("file token");
    assert_eq!(secret.expose(), "s3cret-value");

    let missing = TokenSource::Env("ZSC_TEST_SURELY_UNSET_TOKEN".to_owned())
        .resolve()
        .expect_err("unset");
    assert_eq!(
        missing,
        "environment variable `ZSC_TEST_SURELY_UNSET_TOKEN` is not set"
    );
    let empty = write(&dir, "empty", " \n");
    let err = TokenSource::File(empty.clone())
        .resolve()
        .expect_err("empty");
    assert_eq!(err, format!("token file `{}` is empty", empty.display()));
    let err = TokenSource::File(dir.join("nope"))
        .resolve()
        .expect_err("missing");
    assert!(err.starts_with("cannot read token file `"), "{err}");
}

#[test]
fn token_files_are_resolved_against_the_config_dir() {
    let dir = scratch("token-relative");
    write(&dir, "secrets/zia", "abc\n");
    let path = write(
        &dir,
        "zsc.yaml",
        "tenants:\n  z:\n    kind: zia\n    url: https://scim.zscaler.net/1/2/scim\n    token: { file: secrets/zia }\n",
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let token = config.tenants["z"].token.as_ref().expect("token");
    assert_eq!(token, &TokenSource::File(dir.join("secrets/zia")));
    assert_eq!(token.resolve().expect("resolve").expose(), "abc");
}

#[test]
fn included_pattern_may_match_the_main_file_and_overlap() {
    let dir = scratch("include-overlap");
    write(&dir, "a.yaml", "users:\n  - user_name: a@example.com\n");
    let path = write(
        &dir,
        "zsc.yaml",
        "tenants:\n  demo:\n    kind: emulator\ninclude: ['*.yaml', a.yaml]\n",
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.files.len(), 2);
    assert_eq!(user_names(&config, "demo"), ["a@example.com"]);
}

#[test]
fn url_rules() {
    use super::validate::check_url;
    for ok in [
        "https://scim.zscaler.net/8651360/48097/scim",
        "http://127.0.0.1:8080/scim/v2",
        "http://127.1.2.3/scim",
        "http://localhost:1234",
        "http://LOCALHOST/x",
        "http://[::1]:8080/x",
    ] {
        assert_eq!(check_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://scim.example.com",
        "http://10.0.0.1/scim",
        "http://[::2]/x",
        "http://localhost.example.com/x",
        "scim.example.com/scim",
        "ftp://example.com",
        "https://user:pw@example.com",
        "https://",
        "",
    ] {
        let err = check_url(bad).expect_err(bad);
        assert!(!bad.contains("pw") || !err.contains("pw"), "{err}");
    }
}

/// Run every case in `testdata/config/bad` and compare the rendered error with
/// `expected.txt`; `ZSC_BLESS=1` rewrites the expected files instead.
#[test]
fn broken_config_corpus() {
    let bless = std::env::var_os("ZSC_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir("testdata/config/bad")
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "only {} corpus cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let path = case.join("zsc.yaml");
        let rendered = match load(&path) {
            Ok(_) => "(loaded without error)\n".to_owned(),
            Err(e @ ConfigError::Invalid(_)) => format!("{e}\n"),
            Err(e) => format!("(not a validation error) {e}\n"),
        };
        assert!(
            !rendered.contains("SECRET") && !rendered.contains("hunter2"),
            "{} leaks a secret:\n{rendered}",
            case.display()
        );
        let expected_path = case.join("expected.txt");
        if bless {
            fs::write(&expected_path, &rendered).expect("write expected");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != rendered {
            failures.push(format!(
                "--- {}\n{}",
                expected_path.display(),
                similar::TextDiff::from_lines(&expected, &rendered)
                    .unified_diff()
                    .header("expected", "actual")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus cases differ (ZSC_BLESS=1 to accept):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Random bytes and every truncation of a real configuration: errors, never panics.
#[test]
fn garbage_never_panics() {
    let dir = scratch("garbage");
    let path = dir.join("zsc.yaml");
    let good = fs::read_to_string("testdata/config/good/full/zsc.yaml").expect("good config");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ab:- \n\t[]{}&*!|>'\"#,?%@`~0123.\xff\xc3";
    for round in 0..300u32 {
        let bytes: Vec<u8> = if round % 3 == 0 {
            let cut = (next() as usize) % (good.len() + 1);
            good.as_bytes()[..cut].to_vec()
        } else {
            let len = (next() % 200) as usize;
            (0..len)
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect()
        };
        fs::write(&path, &bytes).expect("write");
        match load_with(&path, &no_tokens()) {
            Ok(_) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let deep = format!("tenants: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = load_str("deep", &deep).expect_err("deep");
    assert!(err.to_string().contains("invalid YAML"), "{err}");
}

/// `cargo test --lib config -- --ignored --nocapture`: load time of 100,000 users, 10,000
/// groups and 300,000 memberships, in one file and split over ten included files.
#[test]
#[ignore]
fn large_config_loads_quickly() {
    use std::fmt::Write;
    let user = |text: &mut String, i: usize| {
        let _ = write!(
            text,
            "  - user_name: user{i}@example.com\n    display_name: User Number {i}\n    given_name: User\n    family_name: Number{i}\n    email: user{i}@example.com\n    department: Department {}\n    external_id: \"E{i}\"\n    groups: [Group {}, Group {}]\n",
            i % 50,
            i % 10_000,
            (i * 7) % 10_000
        );
    };
    let mut groups = String::from("groups:\n");
    for g in 0..10_000 {
        let _ = writeln!(
            groups,
            "  - name: Group {g}\n    members: [user{g}@example.com]"
        );
    }
    let header = "tenants:\n  demo:\n    kind: emulator\n";

    let one = scratch("large-one");
    let mut text = format!("{header}{groups}users:\n");
    (0..100_000).for_each(|i| user(&mut text, i));
    let single = write(&one, "zsc.yaml", &text);

    let split = scratch("large-split");
    let main = write(
        &split,
        "zsc.yaml",
        &format!("{header}include: [people/*.yaml]\n{groups}"),
    );
    for part in 0..10 {
        let mut text = String::from("users:\n");
        (part * 10_000..(part + 1) * 10_000).for_each(|i| user(&mut text, i));
        write(&split, &format!("people/{part}.yaml"), &text);
    }

    for (what, path) in [("one file", single), ("eleven files", main)] {
        let start = std::time::Instant::now();
        let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let elapsed = start.elapsed();
        let fp = std::time::Instant::now();
        let _ = config.fingerprint();
        println!(
            "{what}: {} bytes, {} users: load {elapsed:?}, fingerprint {:?}",
            text.len(),
            config.desired["demo"].users.len(),
            fp.elapsed()
        );
    }
}

#[test]
fn json_includes_load_like_yaml() {
    let dir = scratch("json-include");
    write(
        &dir,
        "people/a.json",
        r#"{"users": [{"user_name": "a@example.com", "display_name": "A", "groups": ["Team"]},
  {"user_name": "b@example.com", "active": false}],
 "groups": [{"name": "Team", "members": ["b@example.com"]}]}"#,
    );
    write(
        &dir,
        "people/c.yaml",
        "users:\n  - user_name: c@example.com\n",
    );
    let path = write(
        &dir,
        "zsc.yaml",
        "tenants:\n  demo:\n    kind: emulator\ninclude: [people/*.json, people/*.yaml]\n",
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        user_names(&config, "demo"),
        ["a@example.com", "b@example.com", "c@example.com"]
    );
    assert_eq!(
        members(&config, "demo", "Team"),
        ["a@example.com", "b@example.com"]
    );
    let a = &config.desired["demo"].users[0];
    assert_eq!(a.origin.line, 1, "{:?}", a.origin);
    assert_eq!(a.origin.column, 12, "{:?}", a.origin);
    assert!(a.origin.file.ends_with("a.json"), "{:?}", a.origin);
    let b = &config.desired["demo"].users[1];
    assert_eq!((b.origin.line, b.origin.column), (2, 3));
    assert!(!b.active);

    // The same JSON, differently laid out, is the same configuration.
    let compact = scratch("json-include-compact");
    write(
        &compact,
        "people/a.json",
        r#"{"groups":[{"name":"Team","members":["b@example.com"]}],"users":[{"user_name":"a@example.com","display_name":"A","groups":["Team"]},{"user_name":"b@example.com","active":false}]}"#,
    );
    write(
        &compact,
        "people/c.yaml",
        "users:\n  - user_name: c@example.com\n",
    );
    let again = write(
        &compact,
        "zsc.yaml",
        "tenants:\n  demo:\n    kind: emulator\ninclude: [people/*.json, people/*.yaml]\n",
    );
    let again = load(&again).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.fingerprint(), again.fingerprint());
}

#[test]
fn json_include_problems_point_at_file_line_and_column() {
    let dir = scratch("json-include-bad");
    write(
        &dir,
        "people/a.json",
        "{\"users\": [\n  {\"user_name\": \"a@example.com\", \"dispaly_name\": \"A\"},\n  {\"user_name\": 7}\n]}\n",
    );
    write(
        &dir,
        "people/b.json",
        "{\"users\": [\n  {\"user_name\": \"b@x\",}\n]}\n",
    );
    let path = write(
        &dir,
        "zsc.yaml",
        "tenants:\n  demo:\n    kind: emulator\ninclude: [people/*.json]\n",
    );
    let err = load(&path).expect_err("invalid").to_string();
    assert!(
        err.contains("unknown key `dispaly_name`") && err.contains("a.json:2:34"),
        "{err}"
    );
    assert!(err.contains("a.json:3:17"), "{err}");
    assert!(err.contains("b.json:2:23"), "{err}");
    assert!(err.contains("invalid JSON"), "{err}");
}
