//! The state store's rules, against files in a temporary directory.

use super::*;
use crate::model::UserAttrs;
use crate::state::{ManagedGroup, ManagedUser, StateOp};

const V1: &str = include_str!("../../../testdata/state/v1.json");
const V1_JOURNAL: &str = include_str!("../../../testdata/state/v1.journal");
const V1_LINEAGE: &str = "6f1c1f0e-8d5e-4a34-9d0e-2b7f3c1a9e42";

fn store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path().join(".zsc/state.json"));
    (dir, store)
}

/// A store whose `state.json` (and journal, if given) hold these bytes.
fn store_with(state: Option<&str>, journal: Option<&str>) -> (tempfile::TempDir, StateStore) {
    let (dir, store) = store();
    fs::create_dir_all(store.path().parent().unwrap()).unwrap();
    if let Some(text) = state {
        fs::write(store.path(), text).unwrap();
    }
    if let Some(text) = journal {
        fs::write(store.journal_path(), text).unwrap();
    }
    (dir, store)
}

fn user(id: &str, user_name: &str) -> ManagedUser {
    ManagedUser {
        id: id.into(),
        user_name: user_name.into(),
        active: true,
        attrs: UserAttrs {
            display_name: Some(format!("User {id}")),
            ..UserAttrs::default()
        },
        protect: false,
        wrote: None,
    }
}

fn sample_state() -> State {
    let mut state = State::new();
    state.apply(
        "demo",
        &StateOp::PutUser {
            user: user("u-1", "a@example.com"),
        },
    );
    state.apply(
        "demo",
        &StateOp::PutGroup {
            group: ManagedGroup {
                id: "g-1".into(),
                name: "Staff".into(),
                members: vec!["u-1".into()],
                protect: false,
                wrote: None,
            },
        },
    );
    state.serial = 1;
    state
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn save_then_load_round_trips() {
    let (_dir, store) = store();
    let state = sample_state();
    store.save(&state).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.state, state);
    assert!(loaded.existed);
    assert_eq!(loaded.replayed, 0);
    assert!(fs::read_to_string(store.path()).unwrap().ends_with("}\n"));
}

#[test]
fn the_v1_format_is_stable_byte_for_byte() {
    let (_dir, store) = store_with(Some(V1), None);
    let loaded = store.load().unwrap();
    assert_eq!(loaded.state.lineage, V1_LINEAGE);
    assert_eq!(loaded.state.serial, 7);
    let tenant = loaded.state.tenant("zia-prod").unwrap();
    assert_eq!(
        tenant.users["jsmith@example.com"].user_name,
        "JSmith@example.com"
    );
    assert!(tenant.groups["accounting"].protect);
    store.save(&loaded.state).unwrap();
    assert_eq!(fs::read_to_string(store.path()).unwrap(), V1);
}

#[cfg(unix)]
#[test]
fn every_file_is_private() {
    let (_dir, store) = store();
    store.save(&sample_state()).unwrap();
    store.save(&sample_state()).unwrap();
    let journal = store.open_journal(&sample_state()).unwrap();
    let lock = store.lock("apply").unwrap();
    assert_eq!(mode(store.path().parent().unwrap()), 0o700);
    for path in [
        store.path(),
        &store.backup_path(),
        journal.path(),
        lock.path(),
    ] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
}

#[cfg(unix)]
#[test]
fn a_world_readable_state_from_a_checkout_becomes_private_with_its_backup() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, store) = store_with(Some(V1), None);
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
    store.save(&store.load().unwrap().state).unwrap();
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&store.backup_path()), 0o600);
}

#[test]
fn backup_holds_the_previous_version() {
    let (_dir, store) = store();
    let first = sample_state();
    store.save(&first).unwrap();
    assert!(
        !store.backup_path().exists(),
        "nothing to back up on the first save"
    );
    let first_text = fs::read_to_string(store.path()).unwrap();

    let mut second = first.clone();
    second.apply(
        "demo",
        &StateOp::RemoveGroup {
            name: "staff".into(),
        },
    );
    second.serial += 1;
    store.save(&second).unwrap();
    assert_eq!(fs::read_to_string(store.backup_path()).unwrap(), first_text);

    let mut third = second.clone();
    third.serial += 1;
    store.save(&third).unwrap();
    let backup: State = serde_json::from_slice(&fs::read(store.backup_path()).unwrap()).unwrap();
    assert_eq!(backup, second, "exactly one previous version is kept");
    assert_eq!(store.load().unwrap().state, third);
    let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}

#[test]
fn corrupt_state_is_an_error_naming_file_line_and_column() {
    let (_dir, store) = store_with(
        Some(include_str!("../../../testdata/state/corrupt.json")),
        None,
    );
    let err = store.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "`{}`:11:11: invalid state file: expected `,` or `}}`",
            store.path().display()
        )
    );
    // It is left exactly as it was.
    assert_eq!(
        fs::read_to_string(store.path()).unwrap(),
        include_str!("../../../testdata/state/corrupt.json")
    );
}

#[test]
fn corrupt_state_error_points_at_the_backup_when_there_is_one() {
    let (_dir, store) = store_with(Some("{\"format_version\": 1,"), None);
    fs::write(store.backup_path(), V1).unwrap();
    let err = store.load().unwrap_err().to_string();
    assert!(
        err.ends_with(&format!(
            "; the state before its last save is in `{}`",
            store.backup_path().display()
        )),
        "{err}"
    );
}

#[test]
fn empty_state_file_is_an_error() {
    let (_dir, store) = store_with(Some("\n"), None);
    let err = store.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!("`{}` is empty, not a state file", store.path().display())
    );
}

#[test]
fn newer_format_is_refused() {
    let text = include_str!("../../../testdata/state/newer-format.json");
    let (_dir, store) = store_with(Some(text), None);
    let err = store.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "`{}` was written by a newer zsc (format 2); this zsc reads format 1",
            store.path().display()
        )
    );
    // Also when the newer file happens to parse as this format.
    let (_dir, store) = store_with(
        Some(&V1.replace("\"format_version\": 1", "\"format_version\": 9")),
        None,
    );
    assert!(matches!(
        store.load(),
        Err(StateError::NewerFormat { found: 9, .. })
    ));
}

#[test]
fn missing_or_empty_lineage_is_refused() {
    let without: String = V1.lines().filter(|l| !l.contains("lineage")).collect();
    let (_dir, store) = store_with(Some(&without), None);
    assert!(matches!(
        store.load(),
        Err(StateError::MissingLineage { .. })
    ));
    let empty = V1.replace(V1_LINEAGE, " ");
    let (_dir, store) = store_with(Some(&empty), None);
    let err = store.load().unwrap_err().to_string();
    assert!(err.contains("has no lineage"), "{err}");
    let mut state = State::new();
    state.lineage.clear();
    assert!(matches!(
        store.save(&state),
        Err(StateError::MissingLineage { .. })
    ));
}

#[test]
fn missing_state_is_a_new_empty_state_and_creates_nothing() {
    let (dir, store) = store();
    let loaded = store.load().unwrap();
    assert!(!loaded.existed);
    assert_eq!(loaded.replayed, 0);
    assert_eq!(loaded.state.serial, 0);
    assert!(loaded.state.tenants.is_empty());
    assert!(!loaded.state.lineage.is_empty());
    assert_ne!(store.load().unwrap().state.lineage, loaded.state.lineage);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn journal_replay_applies_complete_entries_and_raises_the_serial() {
    let (_dir, store) = store_with(Some(V1), Some(V1_JOURNAL));
    let loaded = store.load().unwrap();
    assert_eq!(loaded.replayed, 2);
    assert_eq!(loaded.state.serial, 8);
    let tenant = loaded.state.tenant("zia-prod").unwrap();
    assert_eq!(tenant.users["new@example.com"].id, "u-3");
    assert_eq!(tenant.groups["accounting"].members, ["u-1", "u-3"]);
    // The torn last line (remove jdoe) was never acknowledged, so it is not applied.
    assert!(tenant.users.contains_key("jdoe@example.com"));
    // Loading again replays again: the journal stays until a save folds it in.
    assert_eq!(store.load().unwrap().state, loaded.state);
}

#[test]
fn the_torn_fixture_line_really_is_torn() {
    assert!(
        !V1_JOURNAL.ends_with('\n'),
        "an editor added a newline to v1.journal"
    );
}

#[test]
fn save_folds_the_journal_in_and_removes_it() {
    let (_dir, store) = store_with(Some(V1), Some(V1_JOURNAL));
    let loaded = store.load().unwrap();
    store.save(&loaded.state).unwrap();
    assert!(!store.journal_path().exists());
    let again = store.load().unwrap();
    assert_eq!(again.replayed, 0);
    assert_eq!(again.state, loaded.state);
}

#[test]
fn recorded_changes_survive_a_crash_before_the_save() {
    let (_dir, store) = store();
    let state = sample_state();
    store.save(&state).unwrap();
    let mut journal = store.open_journal(&state).unwrap();
    journal
        .record(
            "demo",
            &[StateOp::PutUser {
                user: user("u-2", "b@example.com"),
            }],
        )
        .unwrap();
    journal.record("demo", &[]).unwrap();
    journal
        .record(
            "demo",
            &[StateOp::AddMembers {
                group: "Staff".into(),
                ids: vec!["u-2".into()],
                at: None,
            }],
        )
        .unwrap();
    drop(journal); // the process dies here

    let loaded = store.load().unwrap();
    assert_eq!(loaded.replayed, 2);
    assert_eq!(loaded.state.serial, state.serial + 1);
    let tenant = loaded.state.tenant("demo").unwrap();
    assert!(tenant.users.contains_key("b@example.com"));
    assert_eq!(tenant.groups["staff"].members, ["u-1", "u-2"]);
}

#[test]
fn a_journal_with_nothing_recorded_changes_nothing() {
    let (_dir, store) = store();
    let state = sample_state();
    store.save(&state).unwrap();
    drop(store.open_journal(&state).unwrap());
    let loaded = store.load().unwrap();
    assert_eq!((loaded.replayed, loaded.state.serial), (0, state.serial));
}

#[test]
fn opening_a_second_journal_is_refused() {
    let (_dir, store) = store();
    let state = sample_state();
    let _first = store.open_journal(&state).unwrap();
    let err = store.open_journal(&state).unwrap_err();
    assert!(matches!(err, StateError::JournalExists { .. }), "{err:?}");
}

#[test]
fn recording_after_a_save_removed_the_journal_is_an_error() {
    let (_dir, store) = store();
    let state = sample_state();
    let mut journal = store.open_journal(&state).unwrap();
    store.save(&state).unwrap();
    let err = journal
        .record(
            "demo",
            &[StateOp::RemoveUser {
                user_name: "a@example.com".into(),
            }],
        )
        .unwrap_err();
    assert!(matches!(err, StateError::JournalRemoved { .. }), "{err:?}");
}

#[test]
fn journal_of_another_lineage_is_refused_and_kept() {
    let other = V1_JOURNAL.replace(V1_LINEAGE, "11111111-2222-3333-4444-555555555555");
    let (_dir, store) = store_with(Some(V1), Some(&other));
    let err = store.load().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "journal `{}` belongs to state lineage 11111111-2222-3333-4444-555555555555, but \
                 `{}` has lineage {V1_LINEAGE}",
            store.journal_path().display(),
            store.path().display()
        )),
        "{err}"
    );
    assert!(store.journal_path().exists());
}

#[test]
fn journal_of_an_unexpected_serial_is_refused() {
    for serial in [6, 7, 10] {
        // (8 against 9 is the stale case.)
        let journal = V1_JOURNAL.replace("\"serial\":7", &format!("\"serial\":{serial}"));
        let state = V1.replace("\"serial\": 7", "\"serial\": 9");
        let (_dir, store) = store_with(Some(&state), Some(&journal));
        match store.load() {
            Err(StateError::JournalSerial {
                found, expected: 9, ..
            }) => {
                assert_eq!(found, serial)
            }
            other => panic!("serial {serial}: expected JournalSerial, got {other:?}"),
        }
    }
}

#[test]
fn stale_journal_already_folded_in_is_deleted() {
    // The save of serial 8 renamed state.json into place but died before removing the
    // journal that continued serial 7.
    let state = V1.replace("\"serial\": 7", "\"serial\": 8");
    let (_dir, store) = store_with(Some(&state), Some(V1_JOURNAL));
    let loaded = store.load().unwrap();
    assert_eq!((loaded.replayed, loaded.state.serial), (0, 8));
    assert!(!loaded
        .state
        .tenant("zia-prod")
        .unwrap()
        .users
        .contains_key("new@example.com"));
    assert!(!store.journal_path().exists());
}

#[test]
fn malformed_journal_line_is_an_error_naming_the_line() {
    let journal = V1_JOURNAL.replacen("\"ops\"", "\"oops\"", 2);
    let (_dir, store) = store_with(Some(V1), Some(&journal));
    let err = store.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "`{}`:2: invalid journal line: missing field `ops`",
            store.journal_path().display()
        )
    );
    let (_dir, store) = store_with(Some(V1), Some("{\"lineage\":7}\n"));
    let err = store.load().unwrap_err().to_string();
    assert!(
        err.contains(":1: invalid journal line: invalid header"),
        "{err}"
    );
}

#[test]
fn journal_without_a_header_recorded_nothing_and_is_deleted() {
    let (_dir, store) = store_with(Some(V1), Some("{\"lineage\":\"6f1c"));
    let loaded = store.load().unwrap();
    assert_eq!((loaded.replayed, loaded.state.serial), (0, 7));
    assert!(!store.journal_path().exists());
}

#[test]
fn first_apply_journal_without_a_state_file_is_replayed() {
    let journal = V1_JOURNAL.replace("\"serial\":7", "\"serial\":0");
    let (_dir, store) = store_with(None, Some(&journal));
    let loaded = store.load().unwrap();
    assert!(!loaded.existed);
    assert_eq!(loaded.replayed, 2);
    assert_eq!(loaded.state.lineage, V1_LINEAGE);
    assert_eq!(loaded.state.serial, 1);
    let tenant = loaded.state.tenant("zia-prod").unwrap();
    assert_eq!(tenant.users.len(), 1);
    // add_members on a group the state never had is a no-op.
    assert!(tenant.groups.is_empty());
}

#[test]
fn journal_continuing_a_missing_state_is_refused() {
    let (_dir, store) = store_with(None, Some(V1_JOURNAL));
    let err = store.load().unwrap_err().to_string();
    assert!(
        err.contains(&format!("but `{}` does not exist", store.path().display())),
        "{err}"
    );
    assert!(store.journal_path().exists());
}

#[test]
fn replay_of_fifty_thousand_members() {
    let (_dir, store) = store();
    let state = sample_state();
    store.save(&state).unwrap();
    let ids: Vec<String> = (0..50_000).map(|i| format!("m-{i}")).collect();
    let mut journal = store.open_journal(&state).unwrap();
    journal
        .record(
            "demo",
            &[StateOp::AddMembers {
                group: "staff".into(),
                ids: ids.clone(),
                at: None,
            }],
        )
        .unwrap();
    journal
        .record(
            "demo",
            &[StateOp::RemoveMembers {
                group: "staff".into(),
                ids: ids[..25_000].to_vec(),
                at: None,
            }],
        )
        .unwrap();
    let loaded = store.load().unwrap();
    let members = &loaded.state.tenant("demo").unwrap().groups["staff"].members;
    assert_eq!(members.len(), 25_001);
    assert_eq!(members[0], "u-1");
    assert_eq!(&members[1..], &ids[25_000..]);
}

#[test]
fn relative_state_path_in_the_current_directory_works() {
    // parent_dir("state.json") must be ".", not "", for the directory fsync.
    assert_eq!(fsx::parent_dir(Path::new("state.json")), Path::new("."));
    assert_eq!(
        sibling(Path::new("a/state.json"), ".lock"),
        Path::new("a/state.json.lock")
    );
}

#[test]
fn commit_raises_the_serial_once_and_only_when_the_content_changed() {
    let (_dir, store) = store();
    let mut state = store.load().unwrap().state;
    assert!(
        !store.commit(&mut state).unwrap(),
        "nothing to manage, no file"
    );
    assert!(!store.path().exists());

    state.apply(
        "demo",
        &StateOp::PutUser {
            user: user("u-1", "a@example.com"),
        },
    );
    assert!(store.commit(&mut state).unwrap());
    assert_eq!(state.serial, 1);
    assert!(!store.commit(&mut state).unwrap(), "the same content again");
    assert_eq!(state.serial, 1);

    // A fresh store (another process) sees the same: no change, no write.
    let other = StateStore::new(store.path());
    let mut loaded = other.load().unwrap().state;
    assert!(!other.commit(&mut loaded).unwrap());
    loaded.apply(
        "demo",
        &StateOp::RemoveUser {
            user_name: "a@example.com".into(),
        },
    );
    assert!(other.commit(&mut loaded).unwrap());
    assert_eq!(loaded.serial, 2);
    assert_eq!(other.load().unwrap().state.serial, 2);
}

#[test]
fn commit_folds_a_replayed_journal_at_the_serial_the_replay_gave() {
    let (_dir, store) = store_with(Some(V1), Some(V1_JOURNAL));
    let loaded = store.load().unwrap();
    assert!(loaded.replayed > 0);
    let mut state = loaded.state;
    let serial = state.serial;
    assert!(store.commit(&mut state).unwrap());
    assert_eq!(state.serial, serial);
    assert!(!store.has_journal());
}

mod empty_journal_tests {
    use super::*;
    use crate::state::StateOp;

    /// Regression: an apply killed after opening its journal but before its first change
    /// left a header-only journal, and the next apply refused to start ("journal exists").
    #[test]
    fn a_header_only_journal_does_not_block_the_next_apply() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("state.json"));
        let state = store.load().unwrap().state;
        store.save(&state).unwrap();
        drop(store.open_journal(&state).unwrap());
        let loaded = store.load().unwrap();
        assert_eq!(loaded.replayed, 0);
        assert!(store.has_journal());
        // What apply does: fold it away, then open its own.
        store.save(&loaded.state).unwrap();
        assert!(!store.has_journal());
        let mut journal = store.open_journal(&loaded.state).unwrap();
        journal
            .record(
                "t",
                &[StateOp::RemoveUser {
                    user_name: "x".into(),
                }],
            )
            .unwrap();
        drop(journal);
        // With an entry in it, the journal is not thrown away.
        assert!(store.open_journal(&loaded.state).is_err());
    }
}
