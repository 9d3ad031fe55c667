use serde_json::json;

use super::{Tenant, TOKEN};
use crate::dialect::Dialect;
use crate::emulator::{serve, EmulatorData, EmulatorError, EmulatorOptions};

fn options(path: &std::path::Path) -> EmulatorOptions {
    EmulatorOptions {
        data_file: Some(path.to_owned()),
        ..EmulatorOptions::new(Dialect::Zia, TOKEN)
    }
}

/// What the data file and its log hold: what a restarted emulator would serve.
fn read(path: &std::path::Path) -> EmulatorData {
    crate::emulator::read_data_file(path).unwrap().unwrap()
}

#[tokio::test]
async fn data_survives_a_restart_and_each_write_is_saved_before_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let t = Tenant::with(options(&path)).await;
    let ann = t.user("ann@example.com").await;
    // Saved before the 201 was sent: readable now, without a shutdown.
    assert_eq!(read(&path).users.len(), 1);
    let group = t.group("G", &[&ann]).await;
    t.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "replace", "path": "displayName", "value": "Renamed"}]),
    )
    .await;
    let on_disk = read(&path);
    assert_eq!(on_disk.groups[0].display_name, "Renamed");
    assert_eq!(on_disk.groups[0].members.as_ref().unwrap()[0].value, ann);
    let before = t.handle.snapshot();
    assert_eq!(read(&path), before);
    t.handle.shutdown().await.unwrap();
    // At shutdown the log is folded into the data file, which alone holds everything.
    // Compared as JSON: members' `display` is written for readers but never parsed back.
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file.as_object_mut().unwrap().remove("version");
    assert_eq!(serde_json::to_value(&before).unwrap(), file);

    let t = Tenant::with(options(&path)).await;
    assert_eq!(t.handle.snapshot(), before);
    assert_eq!(t.members(&group).await, vec![ann.clone()]);
    // New ids do not collide with loaded ones.
    let bob = t.user("bob@example.com").await;
    assert_ne!(bob, ann);
    assert_ne!(bob, group);
    t.handle.shutdown().await.unwrap();
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("tenant.json")]);
}

#[tokio::test]
async fn a_corrupt_data_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"users\": [").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = match serve(listener, options(&path)).await {
        Err(err) => err,
        Ok(_) => panic!("a corrupt file must not be served"),
    };
    assert!(matches!(err, EmulatorError::CorruptData { .. }));
    assert!(err.to_string().contains("broken.json"), "{err}");

    std::fs::write(
        &path,
        r#"{"users": [{"id": "1", "userName": "a@x"}, {"id": "1", "userName": "b@x"}]}"#,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(listener, options(&path)).await.err().unwrap();
    assert!(matches!(err, EmulatorError::InvalidData { .. }), "{err}");
}

#[tokio::test]
async fn replace_data_seeds_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seeded.json");
    let t = Tenant::with(options(&path)).await;
    t.handle.replace_data(super::many_users(3));
    assert_eq!(read(&path).users.len(), 3);
    assert_eq!(t.get("/Users").await.body["totalResults"], 3);
    assert!(t.handle.snapshot().users.iter().all(|u| u.id.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_all_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.json");
    let t = std::sync::Arc::new(Tenant::with(options(&path)).await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let t = std::sync::Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            t.post("/Users", json!({"userName": format!("u{i}@example.com")}))
                .await
                .status
        }));
    }
    // Two racing creates of one name: exactly one wins.
    for _ in 0..2 {
        let t = std::sync::Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            t.post("/Users", json!({"userName": "same@example.com"}))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        21,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 1);
    assert_eq!(read(&path).users.len(), 21);
}

#[tokio::test]
async fn an_unwritable_data_file_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // Missing directories are created; a file where a directory should be cannot be.
    std::fs::write(dir.path().join("not-a-dir"), b"").unwrap();
    let path = dir.path().join("not-a-dir").join("tenant.json");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(listener, options(&path)).await.err().unwrap();
    assert!(
        matches!(
            err,
            EmulatorError::WriteData { .. } | EmulatorError::ReadData { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tenant.json"));
}

#[tokio::test]
async fn a_crash_loses_no_answered_change_and_a_cut_off_line_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let t = Tenant::with(options(&path)).await;
    let ann = t.user("ann@example.com").await;
    let bob = t.user("bob@example.com").await;
    let group = t.group("G", &[&ann]).await;
    t.patch(
        &format!("/Groups/{group}"),
        json!([{"op": "add", "path": "members", "value": [{"value": bob}]},
               {"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
    )
    .await;
    t.patch(
        &format!("/Users/{bob}"),
        json!([{"op": "replace", "path": "displayName", "value": "Bob B"}]),
    )
    .await;
    assert_eq!(t.delete(&format!("/Users/{ann}")).await.status, 204);
    let before = t.handle.snapshot();
    // Killed: no shutdown, so no final save. Every answered change is in the log.
    drop(t);
    let log = crate::emulator::persist::log_path(&path);
    assert!(std::fs::metadata(&log).unwrap().len() > 0);
    // A write cut off mid-line by the crash (never answered).
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, br#"{"seq":999,"delete_user":"#).unwrap();
    drop(f);
    assert_eq!(read(&path), before);

    let t = Tenant::with(options(&path)).await;
    assert_eq!(t.handle.snapshot(), before);
    assert_eq!(t.members(&group).await, vec![bob.clone()]);
    // The log was folded into the snapshot at start; new changes follow it.
    let cy = t.user("cy@example.com").await;
    drop(t);
    let after = read(&path);
    assert_eq!(after.users.len(), 2);
    assert!(after
        .users
        .iter()
        .any(|u| u.id.as_deref() == Some(cy.as_str())));
}

#[tokio::test]
async fn log_lines_a_snapshot_already_holds_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let t = Tenant::with(options(&path)).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[&ann]).await;
    let log = crate::emulator::persist::log_path(&path);
    let lines = std::fs::read(&log).unwrap();
    t.handle.replace_data(t.handle.snapshot());
    // A crash after the snapshot was rewritten but before the log was emptied: the old lines
    // come back, and must not apply twice (the group is not created again).
    std::fs::write(&log, &lines).unwrap();
    drop(t);
    let data = read(&path);
    assert_eq!(data.users.len(), 1);
    assert_eq!(data.groups.len(), 1);
    assert_eq!(data.groups[0].id.as_deref(), Some(group.as_str()));
}
