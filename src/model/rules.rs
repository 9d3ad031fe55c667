//! The vocabulary of access beyond lists: when access ends ([`Until`]), why a member is one
//! ([`Why`]), and the rules of `members_from:` ([`Rule`]).
//!
//! Pure data and pure predicates. Validation expands rules and nesting once, over every user
//! (`config::validate`); the plan-time functions (what expired, why a change happens) are in
//! [`crate::access`].

use std::fmt;

use super::{folded, UserAttrs, USER_FIELDS};

/// When access ends (`until:`), in UTC. A date means the end of that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Until {
    /// The first moment access no longer holds.
    pub at: jiff::Timestamp,
    /// Written as a date: shown as that date.
    pub date: bool,
}

impl Until {
    /// `2027-03-31` (the end of that day, UTC) or an RFC 3339 time (`2027-03-31T12:00:00Z`).
    pub fn parse(text: &str) -> Result<Until, String> {
        let text = text.trim();
        if let Ok(date) = text.parse::<jiff::civil::Date>() {
            let at = date
                .tomorrow()
                .and_then(|next| {
                    jiff::tz::Offset::UTC
                        .to_timestamp(next.to_datetime(jiff::civil::Time::midnight()))
                })
                .map_err(|e| format!("`{text}` is no date zsc can use: {e}"))?;
            return Ok(Until { at, date: true });
        }
        let looks_like_date = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if looks_like_date {
            if let Err(e) = text.parse::<jiff::civil::Date>() {
                return Err(format!("`{text}` is no date: {e}"));
            }
        }
        text.parse::<jiff::Timestamp>()
            .map(|at| Until { at, date: false })
            .map_err(|_| {
                format!(
                    "`{text}` is neither a date (`2027-03-31`) nor an RFC 3339 time \
                     (`2027-03-31T17:00:00Z`)"
                )
            })
    }

    /// Whether access has ended at `now`.
    pub fn passed(&self, now: jiff::Timestamp) -> bool {
        self.at <= now
    }

    /// The later of two ends; `None` (no end) outlasts any.
    pub fn outlast(a: Option<Until>, b: Option<Until>) -> Option<Until> {
        Some(a?.max(b?))
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.date {
            let last = self.at - jiff::SignedDuration::from_secs(1);
            write!(f, "{}", jiff::tz::Offset::UTC.to_datetime(last).date())
        } else {
            write!(f, "{}", self.at)
        }
    }
}

/// Why a member of a group is one. Several reasons may hold at once: `bits` holds each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Why {
    pub bits: u8,
    /// The first rule of the group's `members_from:` that matched (with [`Why::RULE`]).
    pub rule: u16,
    /// The entry of the group's `include_groups:` it came through (with [`Why::INCLUDED`]).
    pub via: u16,
}

impl Why {
    /// Listed in the group's `members:`.
    pub const LISTED: u8 = 1;
    /// Listed in the user's `groups:`.
    pub const USER_LISTED: u8 = 2;
    /// Matched by a rule of the group's `members_from:`.
    pub const RULE: u8 = 4;
    /// A member of a group the group includes (`include_groups:`), directly or further down.
    pub const INCLUDED: u8 = 8;

    pub const fn listed() -> Why {
        Why {
            bits: Why::LISTED,
            rule: 0,
            via: 0,
        }
    }

    /// Both reasons; where each names a rule or an include, the first one's.
    pub fn and(self, other: Why) -> Why {
        Why {
            bits: self.bits | other.bits,
            rule: if self.bits & Why::RULE != 0 {
                self.rule
            } else {
                other.rule
            },
            via: if self.bits & Why::INCLUDED != 0 {
                self.via
            } else {
                other.via
            },
        }
    }

    pub fn has(self, bit: u8) -> bool {
        self.bits & bit != 0
    }
}

/// One rule of `members_from:`: a user matches when every condition holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub conditions: Vec<Condition>,
}

/// One attribute of a rule and the values any of which it accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// `user_name`, `active`, `tenants` or a user attribute's name.
    pub attribute: String,
    /// Compared exactly but for `*`, which matches any run of characters; `user_name` compares
    /// case-insensitively, as names do. `active` holds `true`/`false`.
    pub values: Vec<String>,
}

/// What a rule looks at of a user: its declaration, whichever tenant it is planned for.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub user_name: &'a str,
    pub attrs: &'a UserAttrs,
    pub active: bool,
}

impl Rule {
    /// The attributes a rule may test.
    pub fn attributes() -> Vec<&'static str> {
        let mut names = vec!["user_name", "active", "tenants"];
        names.extend(USER_FIELDS.iter().map(|f| f.name));
        names
    }

    /// Whether `user` matches every condition but `tenants` (see [`Rule::tenants`]).
    pub fn matches(&self, user: Subject<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds(user))
    }

    /// The rule ready to test many users (a group's rules run over every user): each
    /// condition's attribute found and its name patterns folded once, not per user.
    pub fn matcher(&self) -> Matcher {
        Matcher(self.conditions.iter().map(Test::of).collect())
    }

    /// The tenants the rule is limited to, if it names any: it adds members there only.
    pub fn tenants(&self) -> Option<&[String]> {
        self.conditions
            .iter()
            .find(|c| c.attribute == "tenants")
            .map(|c| c.values.as_slice())
    }

    /// Whether the rule applies in `tenant`.
    pub fn applies_in(&self, tenant: &str) -> bool {
        self.tenants()
            .is_none_or(|names| names.iter().any(|n| n == tenant))
    }

    /// The rule as written: `department: [Finance, Accounting], active: true`.
    pub fn text(&self) -> String {
        self.conditions
            .iter()
            .map(|c| match c.values.as_slice() {
                [one] => format!("{}: {one}", c.attribute),
                many => format!("{}: [{}]", c.attribute, many.join(", ")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Condition {
    /// Why `user` fails this condition (``department is `Sales` ``), or `None` when it holds.
    /// `tenants` always holds here: it limits where a rule applies, not whom it matches.
    pub fn mismatch(&self, user: Subject<'_>) -> Option<String> {
        if self.holds(user) {
            return None;
        }
        Some(match self.attribute.as_str() {
            "user_name" => format!("user_name is `{}`", user.user_name),
            "active" => format!("active is {}", user.active),
            attribute => match self.value_of(user).filter(|v| !v.is_empty()) {
                Some(value) => format!("{attribute} is `{value}`"),
                None => format!("{attribute} is not declared"),
            },
        })
    }

    /// Whether `user` meets this condition.
    pub fn holds(&self, user: Subject<'_>) -> bool {
        Test::of(self).passes(user)
    }

    /// The declared value of the user attribute this condition tests (not `user_name`,
    /// `active` or `tenants`).
    fn value_of<'u>(&self, user: Subject<'u>) -> Option<&'u str> {
        let field = USER_FIELDS.iter().find(|f| f.name == self.attribute)?;
        (field.get)(user.attrs).as_deref()
    }

    /// A value matched exactly (no `*`), which an index can look up.
    pub fn is_exact(&self) -> bool {
        !self.values.iter().any(|v| v.contains('*'))
    }
}

/// A [`Rule`] compiled for testing many users: see [`Rule::matcher`].
pub struct Matcher(Vec<Test>);

impl Matcher {
    /// Whether `user` matches every condition but `tenants`.
    pub fn matches(&self, user: Subject<'_>) -> bool {
        self.0.iter().all(|t| t.passes(user))
    }
}

/// One condition, compiled.
enum Test {
    /// `tenants`: where a rule applies, not whom it matches.
    Always,
    /// `user_name` patterns, folded as names compare.
    UserName(Vec<Glob>),
    Active(Vec<Glob>),
    /// A declared user attribute's patterns: a user without the attribute fails.
    Field(fn(&UserAttrs) -> &Option<String>, Vec<Glob>),
    /// An attribute no user has (validation refuses it in a configuration).
    Never,
}

impl Test {
    fn of(c: &Condition) -> Test {
        let globs = c.values.iter().map(|p| Glob::new(p)).collect();
        match c.attribute.as_str() {
            "tenants" => Test::Always,
            "user_name" => Test::UserName(c.values.iter().map(|p| Glob::new(&folded(p))).collect()),
            "active" => Test::Active(globs),
            attribute => match USER_FIELDS.iter().find(|f| f.name == attribute) {
                Some(field) => Test::Field(field.get, globs),
                None => Test::Never,
            },
        }
    }

    fn passes(&self, user: Subject<'_>) -> bool {
        let any = |patterns: &[Glob], value: &str| patterns.iter().any(|p| p.matches(value));
        match self {
            Test::Always => true,
            Test::UserName(patterns) => any(patterns, &folded(user.user_name)),
            Test::Active(patterns) => any(patterns, if user.active { "true" } else { "false" }),
            Test::Field(get, patterns) => get(user.attrs)
                .as_deref()
                .filter(|v| !v.is_empty())
                .is_some_and(|v| any(patterns, v)),
            Test::Never => false,
        }
    }
}

/// Whether `value` matches `pattern`, where `*` matches any run of characters. `fold`: compare
/// as names are compared (see [`folded`]).
pub fn glob(pattern: &str, value: &str, fold: bool) -> bool {
    if fold {
        return Glob::new(&folded(pattern)).matches(&folded(value));
    }
    Glob::new(pattern).matches(value)
}

/// A pattern split at its `*`s once, to test many values (see [`glob`]).
struct Glob {
    /// No `*`: the value must equal it.
    exact: bool,
    first: String,
    /// The parts between `*`s, found in order.
    middle: Vec<String>,
    last: String,
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        let Some((first, rest)) = pattern.split_once('*') else {
            return Glob {
                exact: true,
                first: pattern.to_owned(),
                middle: Vec::new(),
                last: String::new(),
            };
        };
        let (middle, last) = rest.rsplit_once('*').unwrap_or(("", rest));
        Glob {
            exact: false,
            first: first.to_owned(),
            middle: middle
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            last: last.to_owned(),
        }
    }

    fn matches(&self, value: &str) -> bool {
        if self.exact {
            return value == self.first;
        }
        let Some(mut remaining) = value.strip_prefix(self.first.as_str()) else {
            return false;
        };
        for part in &self.middle {
            match remaining.find(part.as_str()) {
                Some(i) => remaining = &remaining[i + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= self.last.len() && remaining.ends_with(self.last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_ends_with_its_day_and_a_time_when_it_says() {
        let date = Until::parse("2027-03-31").unwrap();
        assert_eq!(date.at.to_string(), "2027-04-01T00:00:00Z");
        assert_eq!(date.to_string(), "2027-03-31");
        let time = Until::parse("2027-03-31T12:00:00Z").unwrap();
        assert_eq!(time.to_string(), "2027-03-31T12:00:00Z");
        assert!(!date.passed("2027-03-31T23:59:59Z".parse().unwrap()));
        assert!(date.passed("2027-04-01T00:00:00Z".parse().unwrap()));
        assert!(Until::parse("next tuesday")
            .unwrap_err()
            .contains("neither a date"));
        assert_eq!(Until::outlast(Some(date), None), None);
        assert_eq!(Until::outlast(Some(date), Some(time)), Some(date));
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob(
            "*@contractors.example.com",
            "ann@contractors.example.com",
            true
        ));
        assert!(glob(
            "*@Contractors.example.com",
            "ANN@contractors.EXAMPLE.com",
            true
        ));
        assert!(!glob("*@contractors.example.com", "ann@example.com", true));
        assert!(glob("a*b*c", "axxbyyc", false));
        assert!(!glob("a*b*c", "axxcyyb", false));
        assert!(!glob("ab*b", "ab", false));
        assert!(glob("ab*b", "abb", false));
        assert!(glob("Finance", "Finance", false));
        assert!(!glob("Finance", "finance", false));
        assert!(glob("*", "", false));
        assert!(glob("**", "x", false));
    }

    #[test]
    fn a_rule_matches_when_every_condition_holds_and_says_which_does_not() {
        let rule = Rule {
            conditions: vec![
                Condition {
                    attribute: "department".into(),
                    values: vec!["Finance".into(), "Accounting".into()],
                },
                Condition {
                    attribute: "tenants".into(),
                    values: vec!["zia".into()],
                },
            ],
        };
        let mut attrs = UserAttrs {
            department: Some("Accounting".into()),
            ..UserAttrs::default()
        };
        fn user(attrs: &UserAttrs) -> Subject<'_> {
            Subject {
                user_name: "a@example.com",
                attrs,
                active: true,
            }
        }
        assert!(rule.matches(user(&attrs)));
        assert!(rule.applies_in("zia") && !rule.applies_in("zpa"));
        attrs.department = Some("Sales".into());
        assert!(!rule.matches(user(&attrs)));
        assert_eq!(
            rule.conditions[0].mismatch(user(&attrs)).unwrap(),
            "department is `Sales`"
        );
        assert_eq!(
            rule.text(),
            "department: [Finance, Accounting], tenants: zia"
        );
    }
}
