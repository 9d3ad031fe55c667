use super::*;
use crate::model::{DesiredGroup, DesiredTenant, DesiredUser, Why};

fn user(name: &str, until: Option<&str>) -> DesiredUser {
    DesiredUser {
        until: until.map(|u| Until::parse(u).unwrap()),
        ..DesiredUser::new(name)
    }
}

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

#[test]
fn what_ended_is_no_longer_desired_and_what_ends_soon_is_listed() {
    let desired = DesiredTenant {
        users: vec![
            user("a@example.com", None),
            user("gone@example.com", Some("2027-01-01")),
            user("soon@example.com", Some("2027-01-10")),
        ],
        groups: vec![DesiredGroup {
            name: "G".into(),
            members: vec![
                "a@example.com".into(),
                "gone@example.com".into(),
                "soon@example.com".into(),
            ],
            why: vec![Why::listed(); 3],
            until: vec![(0, Until::parse("2027-01-05").unwrap())],
            ..DesiredGroup::default()
        }],
    };
    let notice = jiff::SignedDuration::from_hours(24 * 14);
    let (now, expired, soon) = as_of("zia", &desired, at("2027-01-02T00:00:00Z"), notice);
    assert_eq!(now.users.len(), 2);
    assert_eq!(now.groups[0].members, ["a@example.com", "soon@example.com"]);
    assert_eq!(now.groups[0].until(0), Until::parse("2027-01-05").ok());
    assert_eq!(now.groups[0].until(1), None);
    assert!(!expired.is_empty());
    let listed: Vec<(&str, Option<&str>, &str)> = soon
        .iter()
        .map(|e| (e.user.as_str(), e.group.as_deref(), e.until.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("a@example.com", Some("G"), "2027-01-05"),
            ("soon@example.com", None, "2027-01-10")
        ]
    );

    let (later, _, _) = as_of("zia", &desired, at("2027-01-06T00:00:00Z"), notice);
    assert_eq!(later.groups[0].members, ["soon@example.com"]);
    assert!(later.groups[0].until.is_empty());
}

#[test]
fn nothing_to_expire_leaves_desired_as_it_is() {
    let desired = DesiredTenant {
        users: vec![user("a@example.com", None)],
        groups: vec![DesiredGroup {
            name: "G".into(),
            members: vec!["a@example.com".into()],
            ..DesiredGroup::default()
        }],
    };
    let (now, expired, soon) = as_of(
        "zia",
        &desired,
        at("2027-01-02T00:00:00Z"),
        jiff::SignedDuration::ZERO,
    );
    assert!(matches!(now, std::borrow::Cow::Borrowed(_)));
    assert!(expired.is_empty() && soon.is_empty());
}
