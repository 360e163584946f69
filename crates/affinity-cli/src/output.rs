//! Writing output files without ever leaving a half-written one behind (CLI outputs and
//! reports alike), nor a temporary file after a kill.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes through `write` into a temporary file beside `path`, then renames it over `path`:
/// an interrupted or failed run leaves any earlier file intact. A path that exists and is not
/// a regular file (`/dev/null`, a pipe) is written in place: renaming over it would replace it.
///
/// On Linux the temporary file has no name until it is complete (`O_TMPFILE`), so a run
/// killed by any signal leaves nothing behind. Where that is unsupported it is a hidden
/// `.NAME.tmp.PID` file, and the next write to `path` removes those of dead processes.
/// Errors name `path`, not the temporary file.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the output path has no file name")?
        .to_string_lossy()
        .into_owned();
    remove_stale_temps(dir, &name);
    let tmp = temp_name(&dir.join(&name), std::process::id());
    let cannot_write = || format!("cannot write {}", path.display());

    #[cfg(target_os = "linux")]
    if let Some(file) = unnamed::create(dir) {
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().with_context(cannot_write)?;
        out.get_ref().sync_all().with_context(cannot_write)?;
        // Named only now that it is complete, and renamed at once. Where the link is refused
        // (no /proc), the content is copied to the named temporary instead.
        if unnamed::link(out.get_ref(), &tmp).is_err() {
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            copy_to(&mut file, &tmp).with_context(cannot_write)?;
        }
        return std::fs::rename(&tmp, path)
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
            .with_context(cannot_write);
    }

    let result = (|| {
        let file = std::fs::File::create(&tmp).with_context(cannot_write)?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush().with_context(cannot_write)?;
        out.get_ref().sync_all().with_context(cannot_write)?;
        std::fs::rename(&tmp, path).with_context(cannot_write)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies the whole of `file` (read from its start) into a new file at `to`, synced.
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

/// Removes `.NAME.tmp.PID` files in `dir` left by processes that no longer run.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_runs(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true // unknown: keep the file
    }
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

/// The hidden temporary name of process `pid` for `path`.
fn temp_name(path: &Path, pid: u32) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp.{pid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where an unnamed file cannot be linked, its content is copied out whole.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_unnamed_file_can_be_copied_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = unnamed::create(dir.path()).expect("O_TMPFILE on the test file system");
        file.write_all(b"complete output").unwrap();
        let names = || std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names(), 0, "an unnamed file shows no name");
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
        let stale = temp_name(&path, 999_999_999);
        let live = temp_name(&path, std::os::unix::process::parent_id());
        std::fs::write(&stale, "half").unwrap();
        std::fs::write(&live, "busy").unwrap();
        write_atomically(&path, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!stale.exists());
        assert!(live.exists());
        std::fs::remove_file(&live).unwrap();
        // A failing writer keeps the earlier file and leaves nothing else.
        let failed = write_atomically(&path, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("stopped")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.txt"]);
    }
}
