//! The state lock: one writer at a time per state file.
//!
//! `state.json.lock` beside the state carries an OS advisory lock (`flock(2)` through fs4), so a
//! holder that crashes or is killed releases it with its file descriptor; while held, the file
//! records who holds it ([`LockInfo`]) so that the next process can say so. When advisory locks do
//! not release (some network file systems), `zsc state unlock` deletes the file
//! ([`super::StateStore::force_unlock`]).
//!
//! This module only guards; it never reads or writes the state itself.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use super::error::fs::create_private_dir;
use super::error::StateError;
use crate::fsx::private;

/// Who holds (or last held) the state lock. Written as JSON into the lock file while held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A fresh UUID per acquisition.
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// The zsc command that took the lock, as passed to [`super::StateStore::lock`], e.g. `apply`.
    pub command: String,
    /// When the lock was taken, RFC 3339 in UTC, e.g. `2025-01-31T09:15:02Z`.
    pub created: String,
}

impl fmt::Display for LockInfo {
    /// `` `zsc apply` (pid 1234 on ci-runner-7, since 2025-01-31T09:15:02Z, lock id …) ``
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command = self.command.trim();
        let prefix = if command == "zsc" || command.starts_with("zsc ") {
            ""
        } else {
            "zsc "
        };
        write!(
            f,
            "`{prefix}{command}` (pid {} on {}, since {}, lock id {})",
            self.pid, self.host, self.created, self.id
        )
    }
}

/// The held lock. Dropping it clears the holder information and releases the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
    info: LockInfo,
}

impl StateLock {
    /// What this lock recorded about its holder.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock: `acquire` checks that the file it locked
        // is still the one at `path`, so a process that opened the old file just before the
        // removal retries on a fresh one instead of sharing a lock with a third process.
        // After `force_unlock` the file at `path` may belong to a newer holder: leave it alone.
        // Failures are ignored: closing the descriptor below releases the lock regardless, and
        // leftover holder information only makes the next `lock_info` report a past holder.
        if matches!(is_same_file(&self.file, &self.path), Ok(true))
            && fs::remove_file(&self.path).is_err()
        {
            let _ = self.file.set_len(0);
        }
        let _ = FileExt::unlock(&self.file);
    }
}

/// How often `acquire` retries when the lock file was replaced under it.
const REPLACED_RETRIES: usize = 20;

/// Takes the lock at `path` (the lock file) for `command`, without waiting.
pub(crate) fn acquire(
    path: &Path,
    state_path: &Path,
    command: &str,
) -> Result<StateLock, StateError> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    for _ in 0..REPLACED_RETRIES {
        let mut file = private(OpenOptions::new().read(true).write(true).create(true))
            .open(path)
            .map_err(|e| StateError::io("open the lock file", path, e))?;
        let locked = file
            .try_lock_exclusive()
            .map_err(|e| StateError::io("lock", path, e))?;
        if !locked {
            return Err(StateError::Locked {
                state: state_path.to_owned(),
                lock: path.to_owned(),
                holder: read_from(&mut file).ok().flatten().map(Box::new),
            });
        }
        if !is_same_file(&file, path)? {
            continue;
        }
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: hostname(),
            command: command.to_owned(),
            created: rfc3339_utc(SystemTime::now()),
        };
        write_info(&mut file, &info).map_err(|e| StateError::io("write", path, e))?;
        return Ok(StateLock {
            file,
            path: path.to_owned(),
            info,
        });
    }
    Err(StateError::io(
        "lock",
        path,
        io::Error::other("the lock file kept being replaced while locking it"),
    ))
}

/// Whether `file` is still the file at `path` (not unlinked or replaced since it was opened).
fn is_same_file(file: &File, path: &Path) -> Result<bool, StateError> {
    let at_path = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StateError::io("read metadata of", path, e)),
    };
    let held = file
        .metadata()
        .map_err(|e| StateError::io("read metadata of", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(at_path.dev() == held.dev() && at_path.ino() == held.ino())
    }
    #[cfg(not(unix))]
    {
        // Windows cannot delete an open file, so the file at `path` is the one we hold.
        let _ = (at_path, held);
        Ok(true)
    }
}

fn write_info(file: &mut File, info: &LockInfo) -> io::Result<()> {
    #[cfg(unix)]
    {
        // The file may predate us with a looser mode (created by another tool or by hand).
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    let mut text = serde_json::to_string_pretty(info).map_err(io::Error::other)?;
    text.push('\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

/// The holder information in the lock file at `path`; `None` if there is no lock file or it is
/// empty (nobody holds the lock, or its holder has not written yet).
pub(crate) fn read_info(path: &Path) -> Result<Option<LockInfo>, StateError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::io("open the lock file", path, e)),
    };
    read_from(&mut file).map_err(|e| StateError::LockInfoCorrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn read_from(file: &mut File) -> io::Result<Option<LockInfo>> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(io::Error::other)
}

/// Deletes the lock file whoever holds it, returning what it recorded. For `zsc state unlock`
/// after a holder died on a file system where its advisory lock did not go with it.
pub(crate) fn force_unlock(path: &Path) -> Result<Option<LockInfo>, StateError> {
    // Unreadable holder information must not stop the unlock that clears it.
    let info = read_info(path).unwrap_or(None);
    match fs::remove_file(path) {
        Ok(()) => Ok(info),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(info),
        Err(e) => Err(StateError::io("remove", path, e)),
    }
}

/// This machine's name, for telling people where a lock's holder runs.
pub(crate) fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

/// Formats `time` as RFC 3339 in UTC with whole seconds: `2025-01-31T09:15:02Z`.
pub(crate) fn rfc3339_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::StateStore;

    fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join(".zsc/state.json"));
        (dir, store)
    }

    #[test]
    fn rfc3339_formats_utc_dates() {
        let at = |secs| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_738_314_902), "2025-01-31T09:15:02Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn lock_records_its_holder_in_a_private_file() {
        let (_dir, store) = store();
        let lock = store.lock("apply").unwrap();
        let path = lock.path().to_owned();
        assert_eq!(path, store.path().with_file_name("state.json.lock"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let info = store.lock_info().unwrap().unwrap();
        assert_eq!(&info, lock.info());
        assert_eq!(info.pid, std::process::id());
        assert_eq!(info.command, "apply");
        assert!(!info.host.is_empty());
        assert!(info.created.ends_with('Z'), "{}", info.created);
    }

    #[test]
    fn second_lock_fails_naming_the_holder() {
        let (_dir, store) = store();
        let held = store.lock("apply").unwrap();
        let err = store.lock("plan").unwrap_err();
        let StateError::Locked { holder, .. } = &err else {
            panic!("expected Locked, got {err:?}");
        };
        assert_eq!(holder.as_deref(), Some(held.info()));
        let message = err.to_string();
        let expected = format!(
            "state `{}` is locked by `zsc apply` (pid {} on {}, since {}, lock id {}); wait for \
             it to finish, or if that process is gone run `zsc state unlock`",
            store.path().display(),
            std::process::id(),
            held.info().host,
            held.info().created,
            held.info().id,
        );
        assert_eq!(message, expected);
    }

    #[test]
    fn lock_is_released_on_drop() {
        let (_dir, store) = store();
        let first = store.lock("apply").unwrap();
        drop(first);
        assert_eq!(store.lock_info().unwrap(), None);
        let second = store.lock("apply").unwrap();
        assert_eq!(store.lock_info().unwrap().as_ref(), Some(second.info()));
    }

    #[test]
    fn lock_held_by_another_thread_until_it_drops_the_guard() {
        let (_dir, store) = store();
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let path = store.path().to_owned();
        let holder = std::thread::spawn(move || {
            let lock = StateStore::new(path).lock("apply").unwrap();
            taken_tx.send(lock.info().id.clone()).unwrap();
            release_rx.recv().unwrap();
        });
        let id = taken_rx.recv().unwrap();
        match store.lock("plan") {
            Err(StateError::Locked {
                holder: Some(info), ..
            }) => assert_eq!(info.id, id),
            other => panic!("expected Locked, got {other:?}"),
        }
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let lock = store.lock("plan").unwrap();
        assert_ne!(lock.info().id, id);
    }

    /// A holder killed with SIGKILL never runs its drop; the OS releases its advisory lock and
    /// the next `lock` takes over, replacing the stale holder information.
    #[cfg(target_os = "linux")]
    #[test]
    fn lock_is_released_when_the_holder_process_dies() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};

        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("skipped: needs flock(1)");
            return;
        }
        let (_dir, store) = store();
        let lock_path = store.path().with_file_name("state.json.lock");
        fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
        let stale = LockInfo {
            id: "dead-beef".into(),
            pid: 1,
            host: "gone".into(),
            command: "apply".into(),
            created: "2025-01-31T09:15:02Z".into(),
        };
        fs::write(&lock_path, serde_json::to_string(&stale).unwrap()).unwrap();
        // The shell opens the lock file, flock(1) locks that open file, and `sleep` inherits it.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec 9<"$1"; flock -x 9; echo locked; exec sleep 30"#)
            .arg("sh")
            .arg(&lock_path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");

        let err = store.lock("apply").unwrap_err();
        assert!(err.to_string().contains("lock id dead-beef"), "{err}");

        child.kill().unwrap();
        child.wait().unwrap();
        let lock = store.lock("apply").unwrap();
        assert_eq!(store.lock_info().unwrap().as_ref(), Some(lock.info()));
    }

    #[test]
    fn force_unlock_removes_the_file_and_returns_its_holder() {
        let (_dir, store) = store();
        assert_eq!(store.force_unlock().unwrap(), None);
        let held = store.lock("apply").unwrap();
        let info = held.info().clone();
        assert_eq!(store.force_unlock().unwrap(), Some(info));
        assert!(!held.path().exists());
        assert_eq!(store.lock_info().unwrap(), None);
        // With the file gone a new lock works even though the old guard was never dropped, as
        // after a holder died on a file system that kept its advisory lock.
        let again = store.lock("apply").unwrap();
        drop(held);
        // The old guard's drop must not remove the new holder's file.
        assert_eq!(store.lock_info().unwrap().as_ref(), Some(again.info()));
    }

    #[test]
    fn unreadable_lock_info_is_an_error_naming_the_file() {
        let (_dir, store) = store();
        let path = store.path().with_file_name("state.json.lock");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "{not json").unwrap();
        let err = store.lock_info().unwrap_err().to_string();
        assert!(err.contains(&format!("`{}`", path.display())), "{err}");
        assert!(store.force_unlock().unwrap().is_none());
        assert!(!path.exists());
    }
}
