//! Writing desired state as YAML: the users and groups `zsc import` declares, in the same shape
//! `load` reads (see `raw.rs`), with every string quoted exactly when YAML needs it.
//!
//! Pure: builds a string; the caller writes the file. Deterministic: the same declarations
//! give the same bytes (no timestamps), so re-importing an unchanged tenant changes nothing.

use std::fmt::Write as _;

use crate::model::{UserAttrs, USER_FIELDS};

/// A user to declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredUser {
    pub user_name: String,
    pub attrs: UserAttrs,
    pub active: bool,
    /// None: every tenant.
    pub tenants: Option<Vec<String>>,
}

/// A group to declare; members are userNames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredGroup {
    pub name: String,
    pub members: Vec<String>,
    /// None: every tenant.
    pub tenants: Option<Vec<String>>,
}

/// An included file holding `users:` and `groups:`, after a comment `header` (each line gets
/// `# `). Declarations are written in the order given.
pub fn declarations_yaml(header: &str, users: &[DeclaredUser], groups: &[DeclaredGroup]) -> String {
    let mut out = String::new();
    for line in header.lines() {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    if users.is_empty() {
        out.push_str("users: []\n");
    } else {
        out.push_str("users:\n");
    }
    for u in users {
        let _ = writeln!(out, "  - user_name: {}", scalar(&u.user_name));
        for field in USER_FIELDS {
            if let Some(value) = (field.get)(&u.attrs) {
                let _ = writeln!(out, "    {}: {}", field.name, scalar(value));
            }
        }
        if !u.active {
            out.push_str("    active: false\n");
        }
        if let Some(tenants) = &u.tenants {
            let _ = writeln!(out, "    tenants: {}", flow_list(tenants));
        }
    }
    if groups.is_empty() {
        out.push_str("groups: []\n");
    } else {
        out.push_str("groups:\n");
    }
    for g in groups {
        let _ = writeln!(out, "  - name: {}", scalar(&g.name));
        if g.members.is_empty() {
            out.push_str("    members: []\n");
        } else {
            out.push_str("    members:\n");
            for m in &g.members {
                let _ = writeln!(out, "      - {}", scalar(m));
            }
        }
        if let Some(tenants) = &g.tenants {
            let _ = writeln!(out, "    tenants: {}", flow_list(tenants));
        }
    }
    out
}

fn flow_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A YAML scalar that reads back as exactly `text`, as a string: plain when that is
/// unambiguous (`jsmith@example.com`, `Finance Ops`), double-quoted otherwise.
pub fn scalar(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

/// Words that some YAML reader turns into something other than a string (YAML 1.1 booleans,
/// null).
const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nil", "none",
];

fn is_plain_safe(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && !text.ends_with(' ')
        && !text.contains("  ")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " @._+-/".contains(c))
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(text))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEIRD: &[&str] = &[
        "plain@example.com",
        "Finance Ops",
        "O'Brien",
        "say \"hi\"",
        "key: value",
        "a #comment",
        "  leading spaces",
        "trailing ",
        "yes",
        "No",
        "null",
        "~",
        "",
        "123",
        "0x1F",
        "1e3",
        "-dash",
        "[list]",
        "{map}",
        "*alias",
        "&anchor",
        "!tag",
        "%percent",
        "@at",
        "`tick`",
        "Zoë Müller-Łukasz 日本",
        "tab\there",
        "new\nline",
        "back\\slash",
        "bell\u{7}",
        "line\u{2028}sep",
        "bom\u{feff}",
        "émoji 🎉",
        ".inf",
        "true",
    ];

    #[test]
    fn every_scalar_reads_back_as_the_same_string() {
        for text in WEIRD {
            let yaml = format!("value: {}\n", scalar(text));
            #[derive(serde::Deserialize)]
            struct Doc {
                value: String,
            }
            let doc: Doc = serde_saphyr::from_str(&yaml)
                .unwrap_or_else(|e| panic!("{text:?} as {yaml:?}: {e}"));
            assert_eq!(&doc.value, text, "{yaml}");
        }
    }

    #[test]
    fn plain_only_when_unambiguous() {
        assert_eq!(scalar("jsmith@example.com"), "jsmith@example.com");
        assert_eq!(scalar("Finance Ops"), "Finance Ops");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
    }

    #[test]
    fn weird_names_round_trip_through_validation() {
        let dir = tempfile::tempdir().unwrap();
        // Names validation accepts (no padding, not empty, nothing invisible); attributes take
        // anything but white space alone.
        let names: Vec<&str> = WEIRD
            .iter()
            .copied()
            .filter(|n| {
                !n.is_empty() && n.trim() == *n && crate::model::invisible_char(n).is_none()
            })
            .collect();
        let users: Vec<DeclaredUser> = names
            .iter()
            .enumerate()
            .map(|(i, n)| DeclaredUser {
                user_name: format!("{n}{i}"),
                attrs: UserAttrs {
                    display_name: Some(WEIRD[i % WEIRD.len()].to_owned()),
                    department: Some((*n).to_owned()),
                    ..UserAttrs::default()
                },
                active: i % 2 == 0,
                tenants: Some(vec!["t".to_owned()]),
            })
            .collect();
        let groups = vec![DeclaredGroup {
            name: "yes: no".to_owned(),
            members: users.iter().map(|u| u.user_name.clone()).collect(),
            tenants: None,
        }];
        let body = declarations_yaml("header\n\nwith a blank line", &users, &groups);
        std::fs::write(dir.path().join("people.yaml"), &body).unwrap();
        std::fs::write(
            dir.path().join("zsc.yaml"),
            "tenants:\n  t:\n    kind: emulator\ninclude: [people.yaml]\n",
        )
        .unwrap();
        let config = crate::config::load(&dir.path().join("zsc.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        let desired = &config.desired["t"];
        assert_eq!(desired.users.len(), users.len());
        for u in &users {
            let got = desired
                .users
                .iter()
                .find(|d| d.user_name == u.user_name)
                .unwrap_or_else(|| panic!("{:?} lost\n{body}", u.user_name));
            assert_eq!(got.attrs, u.attrs);
            assert_eq!(got.active, u.active);
        }
        assert_eq!(desired.groups[0].name, "yes: no");
        assert_eq!(desired.groups[0].members.len(), users.len());
    }
}
