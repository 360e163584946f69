//! Files and directories written whole or not at all, and durable once written.
//!
//! Everything is written into a temporary beside its destination, synced to disk, renamed into
//! place, and then the folder holding it is synced too, so that the rename itself survives a
//! power cut. A failed or killed write leaves the earlier file or directory as it was.
//! Temporaries are hidden (`.NAME.tmp.PID.N`); the next write to the same destination removes
//! those of processes that no longer run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file or directory could not be written; `path` is the destination, never the temporary.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// What was being written.
    pub path: PathBuf,
    /// Why it failed.
    #[source]
    pub source: std::io::Error,
}

impl WriteError {
    /// Writing `path` failed with `source`.
    pub fn new(path: &Path, source: std::io::Error) -> Self {
        WriteError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether `relative` names a place inside a folder: not empty, and plain names joined by
/// `/` only (no `..`, `.`, root, drive, backslash or NUL), so that joining it to the folder
/// cannot leave it.
///
/// ```
/// use affinity_core::files::is_confined;
/// assert!(is_confined("encoder/model.safetensors"));
/// assert!(!is_confined("../etc/passwd") && !is_confined("/etc/passwd") && !is_confined("a//b"));
/// ```
pub fn is_confined(relative: &str) -> bool {
    !relative.is_empty()
        && !relative.contains(['\\', '\0'])
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains(':'))
}

/// What [`open_regular_in`] refuses, as an `io::Error` of kind `InvalidData` saying why (the
/// caller names the path).
fn refused(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned())
}

/// Opens `root/relative` for reading, only if `relative` is confined ([`is_confined`]) and
/// every step below `root` is a real directory and the last a regular file: no symbolic link
/// is followed below `root`, and a FIFO or device is refused before it is opened (so a read
/// never blocks on one). The file is opened without following a link and checked again once
/// open, in case it was swapped meanwhile. A missing file is `NotFound`; anything refused is
/// `InvalidData` saying why, without the path (the caller names it).
pub fn open_regular_in(root: &Path, relative: &str) -> std::io::Result<std::fs::File> {
    if !is_confined(relative) {
        return Err(refused(
            "not a path inside the folder (absolute, or with `..`)",
        ));
    }
    let parts: Vec<&str> = relative.split('/').collect();
    let mut path = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let kind = std::fs::symlink_metadata(&path)?.file_type();
        let last = i + 1 == parts.len();
        if kind.is_symlink() {
            return Err(refused("a symbolic link, which is not followed"));
        }
        if !last && !kind.is_dir() {
            return Err(refused("not a directory"));
        }
        if last && !kind.is_file() {
            return Err(refused("not a regular file"));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(&path)?;
    if !file.metadata()?.is_file() {
        return Err(refused("not a regular file"));
    }
    Ok(file)
}

/// Writes `bytes` to `path` through a synced temporary and a rename.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_file(path, |out| {
        out.write_all(bytes).map_err(|e| WriteError::new(path, e))
    })
}

/// Writes `path` through `write`, which gets a buffered temporary file beside it; once `write`
/// returns `Ok` the file is flushed, synced and renamed over `path`, and the folder is synced.
/// When `write` fails nothing is renamed and the temporary is removed.
///
/// A `path` that exists and is not a regular file (`/dev/null`, a pipe) is written in place:
/// renaming over it would replace it. On Linux the temporary has no name at all until it is
/// complete (`O_TMPFILE`), so even a `kill -9` leaves nothing behind.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("rules.csv");
/// affinity_core::files::write_file(&path, |out| {
///     writeln!(out, "antecedent,consequent").map_err(|e| affinity_core::WriteError::new(&path, e))
/// })?;
/// assert_eq!(std::fs::read_to_string(&path)?, "antecedent,consequent\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_file<E: From<WriteError>>(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), E>,
) -> Result<(), E> {
    let failed = |e: std::io::Error| E::from(WriteError::new(path, e));
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(failed)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        return out.flush().map_err(failed);
    }
    let dir = parent(path);
    let tmp = temporary(path, "tmp").map_err(failed)?;
    remove_stale(path);

    #[cfg(target_os = "linux")]
    if let Some(file) = unnamed::create(dir) {
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().map_err(failed)?;
        out.get_ref().sync_all().map_err(failed)?;
        // Named only now that it is complete. Where the link is refused (no /proc), the
        // content is copied to a named temporary instead.
        if unnamed::link(out.get_ref(), &tmp).is_err() {
            let mut file = out.into_inner().map_err(|e| failed(e.into_error()))?;
            copy_to(&mut file, &tmp).map_err(failed)?;
        }
        return put_in_place(&tmp, path).map_err(failed);
    }

    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(failed)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().map_err(failed)?;
        out.get_ref().sync_all().map_err(failed)?;
        Ok(())
    })();
    match result {
        Ok(()) => put_in_place(&tmp, path).map_err(failed),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// [`write_file`] for writers that want a path rather than a stream (libtorch's tensor
/// files): `write` writes the temporary path it is given, which is then synced and renamed
/// over `path`.
pub fn write_file_at<E: From<WriteError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let failed = |e: std::io::Error| E::from(WriteError::new(path, e));
    let tmp = temporary(path, "tmp").map_err(failed)?;
    remove_stale(path);
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(failed)
    });
    match result {
        Ok(()) => put_in_place(&tmp, path).map_err(failed),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Syncs a folder, so that the names created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A directory built in a hidden sibling of its destination and swapped in whole by
/// [`StagedDir::commit`]: until then the destination keeps what it had, and a staged
/// directory dropped without a commit is removed. Every file in it is synced before the swap.
///
/// ```
/// let root = tempfile::tempdir()?;
/// let target = root.path().join("bundle");
/// let staged = affinity_core::files::StagedDir::new(&target)?;
/// std::fs::write(staged.path().join("manifest.json"), "{}")?;
/// assert!(!target.exists());
/// staged.commit()?;
/// assert_eq!(std::fs::read_to_string(target.join("manifest.json"))?, "{}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Starts a directory that will appear at `target`, after cleaning up what killed runs
    /// left beside it.
    pub fn new(target: &Path) -> Result<Self, WriteError> {
        let failed = |e| WriteError::new(target, e);
        let staging = temporary(target, "tmp").map_err(failed)?;
        remove_stale(target);
        std::fs::create_dir_all(&staging).map_err(failed)?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where the directory's content goes until it is committed.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Where the directory appears.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs every file and folder staged, then puts the directory in place of the target:
    /// in one atomic exchange where the system has one (Linux), else by moving the old one
    /// aside first (a kill between the two renames is undone by the next write).
    pub fn commit(mut self) -> Result<(), WriteError> {
        let failed = |e| WriteError::new(&self.target, e);
        sync_tree(&self.staging).map_err(failed)?;
        if std::fs::symlink_metadata(&self.target).is_ok() {
            if exchange(&self.staging, &self.target).is_ok() {
                // The staging path now holds the old directory.
                let _ = std::fs::remove_dir_all(&self.staging);
            } else {
                let old = temporary(&self.target, "old").map_err(failed)?;
                std::fs::rename(&self.target, &old).map_err(failed)?;
                std::fs::rename(&self.staging, &self.target).map_err(failed)?;
                let _ = std::fs::remove_dir_all(&old);
            }
        } else {
            std::fs::rename(&self.staging, &self.target).map_err(failed)?;
        }
        self.committed = true;
        sync_dir(parent(&self.target)).map_err(failed)
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// The folder `path` is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A fresh hidden name beside `path`: `.NAME.TAG.PID.N`, unique in this process.
fn temporary(path: &Path, tag: &str) -> std::io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no final name",
        )
    })?;
    Ok(parent(path).join(format!(
        ".{}.{tag}.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Renames the complete `tmp` over `path` and syncs the folder; `tmp` is removed on failure.
fn put_in_place(tmp: &Path, path: &Path) -> std::io::Result<()> {
    if let Err(e) = std::fs::rename(tmp, path) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    sync_dir(parent(path))
}

/// Removes the temporaries that processes no longer running left beside `path`, and puts back
/// a directory one of them had moved aside and not replaced. Where process ids cannot be
/// checked (no `/proc`), nothing is touched.
fn remove_stale(path: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.split('.');
        let (Some(tag), Some(pid), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if n.parse::<u64>().is_err()
            || pid == std::process::id()
            || Path::new("/proc").join(pid.to_string()).exists()
        {
            continue;
        }
        match tag {
            // Killed between moving the old directory aside and moving the new one in.
            "old" if std::fs::symlink_metadata(path).is_err() => {
                let _ = std::fs::rename(entry.path(), path);
            }
            "tmp" | "old" => remove_any(&entry.path()),
            _ => {}
        }
    }
}

fn remove_any(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Syncs every regular file and folder under `dir`, `dir` last.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Swaps two paths in one step (Linux's `renameat2` with `RENAME_EXCHANGE`); an error where the
/// system or the file system has no such call.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let done = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Copies the whole of `file` (read from its start) into a new synced file at `to`.
#[cfg(target_os = "linux")]
fn copy_to(file: &mut std::fs::File, to: &Path) -> std::io::Result<()> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let result = (|| {
        let mut named = std::fs::File::create(to)?;
        std::io::copy(file, &mut named)?;
        named.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

#[cfg(target_os = "linux")]
mod unnamed {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;

    /// An unnamed regular file in `dir`, or `None` where the file system cannot make one.
    pub fn create(dir: &Path) -> Option<std::fs::File> {
        // Readable too, so that it can be copied where it cannot be linked.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o666)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .ok()
    }

    /// Gives the unnamed `file` the name `to` (std has no `linkat` with a flag).
    #[allow(unsafe_code)]
    pub fn link(file: &std::fs::File, to: &Path) -> std::io::Result<()> {
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let to = std::ffi::CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn only_regular_files_inside_the_folder_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bundle");
        std::fs::create_dir_all(root.join("encoder")).unwrap();
        std::fs::write(root.join("encoder/config.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        let kind = |relative: &str| {
            open_regular_in(&root, relative)
                .map(|_| ())
                .unwrap_err()
                .kind()
        };
        assert!(open_regular_in(&root, "encoder/config.json").is_ok());
        for outside in [
            "../secret",
            "/etc/passwd",
            "encoder/../../secret",
            "",
            "./encoder/config.json",
        ] {
            assert_eq!(kind(outside), std::io::ErrorKind::InvalidData, "{outside}");
        }
        assert_eq!(kind("encoder/missing.json"), std::io::ErrorKind::NotFound);
        // A directory where a file belongs, and a file where a directory belongs.
        assert_eq!(kind("encoder"), std::io::ErrorKind::InvalidData);
        assert_eq!(
            kind("encoder/config.json/x"),
            std::io::ErrorKind::InvalidData
        );
        #[cfg(unix)]
        {
            // Links are not followed, at the end or on the way.
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
            std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
            assert_eq!(kind("link"), std::io::ErrorKind::InvalidData);
            assert_eq!(kind("up/secret"), std::io::ErrorKind::InvalidData);
            // A FIFO is refused at once instead of blocking until a writer comes.
            let made = std::process::Command::new("mkfifo")
                .arg(root.join("fifo"))
                .status()
                .unwrap();
            assert!(made.success());
            assert_eq!(kind("fifo"), std::io::ErrorKind::InvalidData);
        }
    }

    /// A temporary name as a process `pid` would have made it.
    fn left_by(path: &Path, tag: &str, pid: u32) -> PathBuf {
        let name = path.file_name().unwrap().to_string_lossy();
        path.with_file_name(format!(".{name}.{tag}.{pid}.0"))
    }

    /// Where an unnamed file cannot be linked, its content is copied out whole.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unnamed_file_can_be_copied_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = unnamed::create(dir.path()).expect("O_TMPFILE on the test file system");
        file.write_all(b"complete output").unwrap();
        assert!(
            names(dir.path()).is_empty(),
            "an unnamed file shows no name"
        );
        let to = dir.path().join("copy");
        copy_to(&mut file, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"complete output");
    }

    #[test]
    fn writes_replace_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "earlier").unwrap();
        // A stale temporary of a dead process goes; one of a live process stays.
        let stale = left_by(&path, "tmp", 999_999_999);
        let live = left_by(&path, "tmp", std::os::unix::process::parent_id());
        std::fs::write(&stale, "half").unwrap();
        std::fs::write(&live, "busy").unwrap();
        write_bytes(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!stale.exists());
        assert!(live.exists());
        std::fs::remove_file(&live).unwrap();
        // A failing writer keeps the earlier file and leaves nothing else.
        let failed: Result<(), WriteError> = write_file(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(WriteError::new(&path, std::io::Error::other("stopped")))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[test]
    fn a_path_writer_replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.bin");
        write_file_at(&path, |tmp| {
            std::fs::write(tmp, b"v1").map_err(|e| WriteError::new(&path, e))
        })
        .unwrap();
        let failed = write_file_at(&path, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            Err(WriteError::new(&path, std::io::Error::other("disk full")))
        });
        assert_eq!(
            failed.unwrap_err().to_string(),
            format!("cannot write {}: disk full", path.display())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"v1");
        assert_eq!(names(dir.path()), ["weights.bin"]);
    }

    #[test]
    fn special_files_are_written_in_place() {
        write_bytes(Path::new("/dev/null"), b"gone").unwrap();
        assert!(Path::new("/dev/null").exists());
    }

    #[test]
    fn a_staged_directory_replaces_the_old_one_whole() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("bundle");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("a"), "old").unwrap();
        std::fs::write(target.join("only-old"), "old").unwrap();
        let staged = StagedDir::new(&target).unwrap();
        std::fs::create_dir(staged.path().join("sub")).unwrap();
        std::fs::write(staged.path().join("sub/b"), "new").unwrap();
        std::fs::write(staged.path().join("a"), "new").unwrap();
        assert_eq!(std::fs::read_to_string(target.join("a")).unwrap(), "old");
        staged.commit().unwrap();
        assert_eq!(names(&target), ["a", "sub"]);
        assert_eq!(
            std::fs::read_to_string(target.join("sub/b")).unwrap(),
            "new"
        );
        assert_eq!(names(root.path()), ["bundle"]);
    }

    #[test]
    fn a_dropped_staged_directory_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let staged = StagedDir::new(&target).unwrap();
        std::fs::write(staged.path().join("x"), "half").unwrap();
        drop(staged);
        assert!(names(root.path()).is_empty());
    }

    #[test]
    fn a_directory_moved_aside_by_a_killed_run_is_put_back() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("bundle");
        // Killed between the two renames: the old bundle aside, the new one staged.
        let aside = left_by(&target, "old", 999_999_998);
        let staged = left_by(&target, "tmp", 999_999_998);
        std::fs::create_dir(&aside).unwrap();
        std::fs::write(aside.join("manifest.json"), "old").unwrap();
        std::fs::create_dir(&staged).unwrap();
        let next = StagedDir::new(&target).unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("manifest.json")).unwrap(),
            "old"
        );
        assert!(!staged.exists() && !aside.exists());
        drop(next);
        assert_eq!(names(root.path()), ["bundle"]);
    }
}
