//! Base URLs: the one transport rule every tenant URL obeys (https, or http only to loopback,
//! a host, no credentials), checked by validation and by the client alike, and the shapes per
//! dialect (which hosts and paths a tenant's `url` may have).
//!
//! Pure string checks. Messages never repeat the URL: it is the user's own, and may carry a
//! query they did not mean to show. A loopback host (the emulator, tests) passes every shape
//! check: it is never a real Zscaler cloud.

use super::Dialect;

/// The transport rule: `https://` anywhere, `http://` only to this machine (a bearer token
/// must not travel unencrypted); a host is required and credentials are not allowed.
pub fn check_transport(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`url` is not a valid URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("`url` has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`url` must not contain credentials; use `token`".to_owned());
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err("`url` uses `http://`, which is only allowed to this machine (`localhost`, `127.0.0.0/8`, `[::1]`); use `https://`".to_owned()),
        other => Err(format!("`url` must start with `https://`, found `{other}://`")),
    }
}

/// What a dialect's base URL must look like.
#[derive(Debug)]
pub enum UrlRule {
    /// Any host and path (generic SCIM).
    Any,
    /// `https://scim.<cloud>/<orgId>/<idpId>/scim`: the host's first label is `scim`; hosts
    /// not in `known_hosts` draw a warning.
    Zia {
        known_hosts: &'static [&'static str],
    },
    /// `https://<host>/scim/<userdb>/<idpId>/v2`; hosts outside `known_domains` draw a warning.
    Zpa {
        known_domains: &'static [&'static str],
    },
}

/// The outcome of checking a base URL against its dialect's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlVerdict {
    Ok,
    /// Usable, but probably not what was meant (an unknown cloud).
    Warn(String),
    /// Not the dialect's shape; the message shows the expected one.
    Err(String),
}

/// Check `url` against the shape `dialect` expects. Messages never repeat the URL (it is the
/// user's own, and may carry a query they did not mean to show).
pub fn check_base_url_shape(dialect: Dialect, url: &url::Url) -> UrlVerdict {
    let spec = dialect.spec();
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    if is_loopback(url) {
        return UrlVerdict::Ok;
    }
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let expected = |problem: &str, example: &str| {
        UrlVerdict::Err(format!(
            "{problem}; a `{}` url looks like `{}` (for example `{example}`)",
            spec.name, spec.url_shape
        ))
    };
    let resource_hint = segments
        .last()
        .filter(|last| matches!(last.to_ascii_lowercase().as_str(), "users" | "groups"))
        .map(|last| format!("the path ends in `/{last}`; give the base URL without it"));
    match &spec.url_rule {
        UrlRule::Any => UrlVerdict::Ok,
        UrlRule::Zia { known_hosts } => {
            let example = "https://scim.zscaler.net/8651360/48097/scim";
            let labels: Vec<&str> = host.split('.').collect();
            if labels.len() < 2 || labels[0] != "scim" {
                return expected(&format!("host `{host}` is not a ZIA SCIM host"), example);
            }
            let shape_ok = segments.len() == 3
                && numeric(segments[0])
                && numeric(segments[1])
                && segments[2].eq_ignore_ascii_case("scim");
            if !shape_ok {
                let problem = resource_hint
                    .unwrap_or_else(|| "the path is not `/<orgId>/<idpId>/scim`".to_owned());
                return expected(&problem, example);
            }
            if !known_hosts.contains(&host.as_str()) {
                return UrlVerdict::Warn(format!(
                    "`{host}` is not a ZIA cloud zsc knows ({}); check the URL against the ZIA admin portal",
                    known_hosts.join(", ")
                ));
            }
            UrlVerdict::Ok
        }
        UrlRule::Zpa { known_domains } => {
            let example = "https://scim1.private.zscaler.com/scim/1/72058300560048147/v2";
            let shape_ok = segments.len() == 4
                && segments[0].eq_ignore_ascii_case("scim")
                && numeric(segments[1])
                && numeric(segments[2])
                && segments[3].eq_ignore_ascii_case("v2");
            if !shape_ok {
                let problem = resource_hint
                    .unwrap_or_else(|| "the path is not `/scim/<userdb>/<idpId>/v2`".to_owned());
                return expected(&problem, example);
            }
            let known = known_domains
                .iter()
                .any(|d| host.ends_with(&format!(".{d}")));
            if !known {
                return UrlVerdict::Warn(format!(
                    "`{host}` is not in a ZPA cloud zsc knows ({}); check the URL against the IdP's SCIM settings in the ZPA admin portal",
                    known_domains.join(", ")
                ));
            }
            UrlVerdict::Ok
        }
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(dialect: Dialect, text: &str) -> UrlVerdict {
        check_base_url_shape(dialect, &url::Url::parse(text).unwrap())
    }

    #[test]
    fn zia_accepts_documented_and_other_clouds() {
        for ok in [
            "https://scim.zscaler.net/8651360/48097/scim",
            "https://scim.zscalertwo.net/1/2/scim/",
            "https://SCIM.ZSCALERGOV.NET/1/2/scim",
        ] {
            assert_eq!(verdict(Dialect::Zia, ok), UrlVerdict::Ok, "{ok}");
        }
        for warn in [
            "https://scim.newcloud.net/1/2/scim",
            "https://scim.zscaler/1/2/scim",
        ] {
            assert!(
                matches!(verdict(Dialect::Zia, warn), UrlVerdict::Warn(_)),
                "{warn}"
            );
        }
    }

    #[test]
    fn zia_refuses_other_shapes_and_shows_the_expected_one() {
        for (bad, says) in [
            ("https://zscaler.net/1/2/scim", "is not a ZIA SCIM host"),
            ("https://scim.zscaler.net/1/scim", "`/<orgId>/<idpId>/scim`"),
            (
                "https://scim.zscaler.net/a/2/scim",
                "`/<orgId>/<idpId>/scim`",
            ),
            (
                "https://scim.zscaler.net/1/2/scim/Users",
                "ends in `/Users`",
            ),
        ] {
            match verdict(Dialect::Zia, bad) {
                UrlVerdict::Err(m) => {
                    assert!(m.contains(says), "{bad}: {m}");
                    assert!(
                        m.contains("https://scim.<cloud>.net/<orgId>/<idpId>/scim"),
                        "{m}"
                    );
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn zpa_accepts_its_clouds_and_refuses_other_paths() {
        for ok in [
            "https://scim1.private.zscaler.com/scim/1/72058300560048147/v2",
            "https://scim1.zpatwo.net/scim/1/144118148382065427/v2",
            "https://scim1.zpagov.us/scim/2/3/v2",
        ] {
            assert_eq!(verdict(Dialect::Zpa, ok), UrlVerdict::Ok, "{ok}");
        }
        assert!(matches!(
            verdict(Dialect::Zpa, "https://scim.example.com/scim/1/2/v2"),
            UrlVerdict::Warn(_)
        ));
        match verdict(Dialect::Zpa, "https://scim1.private.zscaler.com/scim/v2") {
            UrlVerdict::Err(m) => assert!(m.contains("/scim/<userdb>/<idpId>/v2"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loopback_passes_for_every_dialect_and_generic_scim_takes_anything() {
        for d in [Dialect::Scim, Dialect::Zia, Dialect::Zpa] {
            assert_eq!(verdict(d, "http://127.0.0.1:9/whatever"), UrlVerdict::Ok);
            assert_eq!(verdict(d, "http://localhost:9/x"), UrlVerdict::Ok);
        }
        assert_eq!(
            verdict(Dialect::Scim, "https://idp.example.com/any/path"),
            UrlVerdict::Ok
        );
    }
}
