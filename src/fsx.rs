//! The one way zsc writes a file that must never be seen half-written: the state, a saved
//! plan, the emulator's data, `zsc import`'s YAML.
//!
//! [`write_atomic`] writes a temporary file with a fresh name beside the target (so two
//! writers never share one), fsyncs it, renames it over the target and fsyncs the directory,
//! so that a reader sees the old content or the new, and a crash keeps one of them. Files are
//! created with the mode asked for (0600 for anything zsc owns).
//!
//! Only file-system mechanics live here: errors are `io::Error`s, and each caller says in its
//! own words which file it was writing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Who may read a file zsc creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 0600: the state, its journal and lock, plans, the emulator's data.
    Private,
    /// 0644 (less the umask): files a person edits, such as `zsc import`'s YAML.
    Shared,
}

/// Writes `bytes` to `path` atomically (see the module docs). Missing parent directories are
/// created (0700 for [`Mode::Private`]). On failure the target is untouched and no temporary
/// file is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let dir = parent_dir(path);
    match mode {
        Mode::Private => create_private_dir(dir)?,
        Mode::Shared => fs::create_dir_all(dir)?,
    }
    let tmp = unique_sibling(path, "tmp");
    let result = create_new(&tmp, bytes, mode)
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| fsync_dir(path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (it must not exist) holding `bytes`, fsynced; on failure nothing is left.
pub fn create_new(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if mode == Mode::Private {
        private(&mut options);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .inspect_err(|_| {
            let _ = fs::remove_file(path);
        })
}

/// `path` with `suffix` appended to its file name: `state.json` → `state.json.lock`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A fresh name beside `path` for a temporary file: `state.json.<uuid>.<ext>`.
pub fn unique_sibling(path: &Path, ext: &str) -> PathBuf {
    sibling(path, &format!(".{}.{ext}", uuid::Uuid::new_v4().simple()))
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Sets `opts` to create files with mode 0600.
pub fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Sets an existing file's mode to 0600.
pub fn set_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700; an existing directory is left as is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Copies `from` to a new file `to` (mode 0600), fsynced.
pub fn copy_private(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = private(OpenOptions::new().write(true).create_new(true)).open(to)?;
    io::copy(&mut source, &mut target)?;
    target.sync_all()
}

/// Makes renames and removals in the directory holding `path` durable. Where a directory
/// cannot be opened for syncing, they are as durable as the platform makes them.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(parent_dir(path)).and_then(|d| d.sync_all())?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Removes `path`; `Ok(false)` if it was not there.
pub fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_leaves_no_temporary_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/file.json");
        write_atomic(&path, b"one", Mode::Private).unwrap();
        write_atomic(&path, b"two", Mode::Private).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file.json"], "no temporary file is left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        write_atomic(&path, b"old", Mode::Shared).unwrap();
        // A directory where the file should go: the rename fails.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"").unwrap();
        assert!(write_atomic(&blocked, b"new", Mode::Shared).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
