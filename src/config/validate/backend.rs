//! The `backend:` section, with `--backend-config` and `ZSC_BACKEND_<KEY>` overrides merged in:
//! its kind, the keys that kind takes, URLs under the transport rule, and a password that only
//! names where it comes from.
//!
//! A problem in the file points at its `file:line:column`; a problem in an override names the
//! flag or variable that gave it (and, having no line, points at the main file as a whole).

use std::path::Path;

use super::super::backend::{
    BackendConfig, BackendOverride, HttpBackendConfig, OverrideValue, S3BackendConfig, HTTP_KEYS,
    LOCAL_KEYS, S3_KEYS,
};
use super::super::check::Ctx;
use super::super::raw::{At, Node, Spot};
use super::super::TokenSource;
use super::tenants::valid_env_name;
use super::Validator;

/// One key's value, from the file or from an override.
enum Given {
    /// The key's spot and the value.
    File(Spot, At<Node>),
    Override(BackendOverride),
}

/// The section's keys in the order given, overrides merged in.
struct Entries {
    items: Vec<(String, Given)>,
    /// Where `backend:` is written (line 0 when only overrides give it).
    at: Spot,
}

impl Entries {
    fn take(&mut self, key: &str) -> Option<Given> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        Some(self.items.remove(i).1)
    }
}

impl Validator {
    /// Check `backend:` (absent: `local`, unless overrides say otherwise).
    pub(super) fn backend(&mut self, cx: &mut Ctx, section: Option<(Spot, At<Node>)>) {
        let mut entries = Entries {
            items: Vec::new(),
            at: section.as_ref().map_or(Spot::default(), |(at, _)| *at),
        };
        if let Some((_, node)) = section {
            match node.value {
                Node::Map(map) => {
                    for (key, value) in map {
                        match key.value {
                            Node::Str(name) => {
                                entries.items.push((name, Given::File(key.at, value)));
                            }
                            other => cx.error(
                                key.at,
                                format!("a backend key must be a string, found {}", other.kind()),
                            ),
                        }
                    }
                }
                Node::Null => {}
                other => {
                    cx.error(
                        node.at,
                        format!(
                            "`backend` must be a map with a `kind` (`local`, `http` or `s3`), found {}",
                            other.kind()
                        ),
                    );
                    self.backend_ok = false;
                    return;
                }
            }
        }
        for o in self.overrides.clone() {
            entries.items.retain(|(k, _)| *k != o.key);
            entries.items.push((o.key.clone(), Given::Override(o)));
        }
        if entries.items.is_empty() {
            self.backend = BackendConfig::Local;
            return;
        }
        let kind = match entries.take("kind") {
            Some(given) => {
                match self.text(cx, "kind", given) {
                    Some((kind, given)) => match kind.as_str() {
                        "local" | "http" | "s3" => Some(kind),
                        other => {
                            report(
                            cx,
                            &given,
                            format!("unknown backend kind `{other}` (expected `local`, `http` or `s3`)"),
                        );
                            None
                        }
                    },
                    None => None,
                }
            }
            None => {
                cx.error(
                    entries.at,
                    "`backend` has no `kind` (`local`, `http` or `s3`)",
                );
                None
            }
        };
        let Some(kind) = kind else {
            self.backend_ok = false;
            return;
        };
        let allowed = match kind.as_str() {
            "http" => HTTP_KEYS,
            "s3" => S3_KEYS,
            _ => LOCAL_KEYS,
        };
        let mut ok = true;
        for (key, given) in &entries.items {
            if !allowed.contains(&key.as_str()) {
                let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
                let message = format!(
                    "unknown key `{key}` in backend `{kind}` (expected one of {})",
                    list.join(", ")
                );
                match given {
                    Given::File(key_at, _) => cx.error(*key_at, message),
                    Given::Override(_) => report(cx, given, message),
                }
                ok = false;
            }
        }
        let config = match kind.as_str() {
            "http" => self.http_backend(cx, &mut entries).map(BackendConfig::Http),
            "s3" => self.s3_backend(cx, &mut entries).map(BackendConfig::S3),
            _ => Some(BackendConfig::Local),
        };
        match config {
            Some(config) if ok => self.backend = config,
            _ => self.backend_ok = false,
        }
    }

    fn http_backend(&self, cx: &mut Ctx, entries: &mut Entries) -> Option<HttpBackendConfig> {
        let address = self.url_key(cx, entries, "address", true);
        let lock_address = match entries.take("lock_address") {
            Some(given) => self.url(cx, "lock_address", given),
            None => {
                cx.error(
                    entries.at,
                    "an `http` backend needs `lock_address`: without a lock, two applies could \
                     write the state at once",
                );
                None
            }
        };
        let unlock_address = self.url_key(cx, entries, "unlock_address", false);
        let mut methods = Vec::new();
        for (key, default) in [
            ("update_method", "POST"),
            ("lock_method", "LOCK"),
            ("unlock_method", "UNLOCK"),
        ] {
            let method = match entries.take(key) {
                Some(given) => self.text(cx, key, given).and_then(|(m, given)| {
                    let valid = !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase());
                    if !valid {
                        report(
                            cx,
                            &given,
                            format!("`{key}` must be an HTTP method in capitals, such as `POST`"),
                        );
                    }
                    valid.then_some(m)
                }),
                None => Some(default.to_owned()),
            };
            methods.push(method);
        }
        let username = match entries.take("username") {
            Some(given) => self.text(cx, "username", given).map(|(u, _)| u),
            None => None,
        };
        let password = match entries.take("password") {
            Some(given) => Some(self.password(cx, given)?),
            None => None,
        };
        if password.is_some() && username.is_none() {
            cx.error(
                entries.at,
                "an `http` backend with a `password` needs a `username` too (Basic auth; for \
                 GitLab's CI job token, `gitlab-ci-token`)",
            );
            return None;
        }
        let [update_method, lock_method, unlock_method] =
            <[Option<String>; 3]>::try_from(methods).ok()?;
        let lock_address = lock_address?;
        Some(HttpBackendConfig {
            address: address?,
            update_method: update_method?,
            unlock_address: unlock_address.unwrap_or_else(|| lock_address.clone()),
            lock_address,
            lock_method: lock_method?,
            unlock_method: unlock_method?,
            username,
            password,
        })
    }

    fn s3_backend(&self, cx: &mut Ctx, entries: &mut Entries) -> Option<S3BackendConfig> {
        let bucket = self.required_text(cx, entries, "bucket", "the bucket's name");
        let bucket = bucket.filter(|b| {
            let valid = !b.0.contains('/') && !b.0.trim().is_empty();
            if !valid {
                report(
                    cx,
                    &b.1,
                    "`bucket` must be a bucket's name, without `/`".to_owned(),
                );
            }
            valid
        });
        let key = self.required_text(
            cx,
            entries,
            "key",
            "the state object's key, such as `prod/state.json`",
        );
        let key = key.filter(|k| {
            let valid = !k.0.trim().is_empty() && !k.0.starts_with('/') && !k.0.ends_with('/');
            if !valid {
                report(
                    cx,
                    &k.1,
                    "`key` must be an object key such as `prod/state.json` (no leading or trailing `/`)"
                        .to_owned(),
                );
            }
            valid
        });
        let region = match entries.take("region") {
            Some(given) => self.text(cx, "region", given).map(|(r, _)| r),
            None => None,
        };
        let endpoint = self.url_key(cx, entries, "endpoint", false);
        let use_path_style = match entries.take("use_path_style") {
            Some(Given::File(_, node)) => match node.value {
                Node::Bool(b) => Some(b),
                other => {
                    cx.error(
                        node.at,
                        format!(
                            "`use_path_style` must be `true` or `false`, found {}",
                            other.kind()
                        ),
                    );
                    return None;
                }
            },
            Some(Given::Override(o)) => match &o.value {
                OverrideValue::Text(t) if t == "true" => Some(true),
                OverrideValue::Text(t) if t == "false" => Some(false),
                _ => {
                    report(
                        cx,
                        &Given::Override(o.clone()),
                        "`use_path_style` must be `true` or `false`".to_owned(),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(S3BackendConfig {
            bucket: bucket?.0,
            key: key?.0,
            region,
            endpoint,
            use_path_style,
        })
    }

    /// A string value (an override's text as it is).
    fn text(&self, cx: &mut Ctx, key: &str, given: Given) -> Option<(String, Given)> {
        match &given {
            Given::File(_, node) => match &node.value {
                Node::Str(s) => Some((s.clone(), given)),
                other => {
                    let hint = match other {
                        Node::Int(_) | Node::UInt(_) | Node::Float(_) | Node::Bool(_) => {
                            " (put it in quotes)"
                        }
                        _ => "",
                    };
                    cx.error(
                        node.at,
                        format!("`{key}` must be a string, found {}{hint}", other.kind()),
                    );
                    None
                }
            },
            Given::Override(o) => match &o.value {
                OverrideValue::Text(t) => Some((t.clone(), given)),
                OverrideValue::SecretEnv(_) => {
                    report(cx, &given, format!("`{key}` is not a secret"));
                    None
                }
            },
        }
    }

    fn required_text(
        &self,
        cx: &mut Ctx,
        entries: &mut Entries,
        key: &str,
        what: &str,
    ) -> Option<(String, Given)> {
        match entries.take(key) {
            Some(given) => self.text(cx, key, given),
            None => {
                cx.error(
                    entries.at,
                    format!("an `s3` backend needs `{key}` ({what})"),
                );
                None
            }
        }
    }

    /// A URL key under the transport rule (`https://`, or `http://` to this machine).
    fn url_key(
        &self,
        cx: &mut Ctx,
        entries: &mut Entries,
        key: &str,
        required: bool,
    ) -> Option<String> {
        match entries.take(key) {
            Some(given) => self.url(cx, key, given),
            None => {
                if required {
                    cx.error(
                        entries.at,
                        format!("an `http` backend needs `{key}` (the state's URL)"),
                    );
                }
                None
            }
        }
    }

    fn url(&self, cx: &mut Ctx, key: &str, given: Given) -> Option<String> {
        let (text, given) = self.text(cx, key, given)?;
        match crate::dialect::check_transport(&text) {
            Ok(_) => Some(text.trim().to_owned()),
            Err(message) => {
                let instead = if key == "endpoint" {
                    "; S3 credentials come from the AWS environment (`AWS_ACCESS_KEY_ID`...)"
                } else {
                    "; use `username` and `password`"
                };
                let message = message
                    .replace("`url`", &format!("`{key}`"))
                    .replace("; use `token`", instead);
                if message.contains("credentials") {
                    if let Given::File(_, node) = &given {
                        cx.secret_error(node.at, message);
                        return None;
                    }
                }
                report(cx, &given, message);
                None
            }
        }
    }

    fn password(&self, cx: &mut Ctx, given: Given) -> Option<TokenSource> {
        let source = match given {
            Given::File(_, node) => return self.secret_source(cx, "password", node),
            Given::Override(o) => match &o.value {
                OverrideValue::SecretEnv(var) => TokenSource::Env(var.clone()),
                OverrideValue::Text(t) => match t.split_once(':') {
                    Some(("env", var)) if valid_env_name(var) => TokenSource::Env(var.to_owned()),
                    Some(("file", path)) => {
                        let path = Path::new(path);
                        TokenSource::File(if path.is_absolute() {
                            path.to_owned()
                        } else {
                            self.base.join(path)
                        })
                    }
                    _ => {
                        report(
                            cx,
                            &Given::Override(o.clone()),
                            "`password` must be `env:VAR` or `file:PATH`".to_owned(),
                        );
                        return None;
                    }
                },
            },
        };
        if self.check_tokens {
            if let Err(message) = source.resolve() {
                cx.error(Spot::default(), format!("backend `password`: {message}"));
                return None;
            }
        }
        Some(source)
    }
}

/// Report a problem with a value: at its place in the file, or naming the override.
fn report(cx: &mut Ctx, given: &Given, message: String) {
    match given {
        Given::File(_, node) => cx.error(node.at, message),
        Given::Override(o) => cx.error(Spot::default(), format!("{}: {message}", o.source)),
    }
}

/// A backend described by overrides alone (`zsc state migrate --from-backend-config`): the
/// problems found, as messages, when it is not a valid one.
pub(crate) fn from_overrides(
    overrides: &[BackendOverride],
    base: &Path,
) -> Result<BackendConfig, Vec<String>> {
    let mut validator = Validator::new(base, true, overrides);
    let mut sink = super::super::check::Sink::default();
    let mut cx = Ctx {
        sink: &mut sink,
        file: 0,
    };
    validator.backend(&mut cx, None);
    if sink.problems.is_empty() && validator.backend_ok {
        Ok(validator.backend)
    } else {
        Err(sink.problems.into_iter().map(|p| p.message).collect())
    }
}
