//! File-system primitives with the durability each step needs: the directory lock, atomic
//! replacement of a whole file, and directory fsync.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::OpenError;

/// Takes the exclusive lock on `path` (created if missing) and writes this process's id
/// into it for whoever finds the directory busy. The lock is the OS's (`flock` on Unix):
/// it goes away with the file handle, so a crashed process never leaves it behind.
pub(crate) fn lock(dir: &Path, path: &Path) -> Result<File, OpenError> {
    let io_error = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Only for the message: a holder that has not written its id yet is unknown.
            let _ = file.read_to_string(&mut holder);
            return Err(OpenError::Locked {
                path: dir.to_path_buf(),
                holder: holder.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(source)) => return Err(io_error(source)),
    }
    file.set_len(0).map_err(io_error)?;
    writeln!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(file)
}

/// Creates `dir` and any missing parents, and fsyncs the parent of each directory it
/// created, so the new directory's entry (and with it everything later written inside)
/// survives a crash.
pub(crate) fn create_dir_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !ancestor.exists())
        .collect();
    fs::create_dir_all(dir)?;
    for created in missing {
        match created.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// The whole file, or `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Opens the log for appending.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Why [`replace_atomically`] failed, and whether the new file may already be in place.
#[derive(Debug)]
pub(crate) struct ReplaceError {
    /// The file the failing step touched.
    pub path: PathBuf,
    /// The failure.
    pub source: io::Error,
    /// `false`: the old file is still in place and nothing changed. `true`: the rename
    /// happened but was not made durable, so after a crash either file may be found.
    pub renamed: bool,
}

/// Replaces `dir/name` with `bytes` so that a crash at any moment leaves either the old
/// file or the new one, whole: write `name.tmp`, fsync it, rename it over `name`, fsync the
/// directory (which makes the rename durable).
pub(crate) fn replace_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReplaceError> {
    let target = dir.join(name);
    let temp = temp_path(dir, name);
    let before_rename = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReplaceError {
            path,
            source,
            renamed: false,
        }
    };
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(before_rename(&temp));
    if let Err(error) =
        written.and_then(|()| fs::rename(&temp, &target).map_err(before_rename(&target)))
    {
        // Best effort: a leftover temp file is removed at the next open anyway.
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    sync_dir(dir).map_err(|source| ReplaceError {
        path: dir.to_path_buf(),
        source,
        renamed: true,
    })
}

/// Where [`replace_atomically`] writes before renaming.
pub(crate) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

/// Makes the directory's entries (creations, renames) durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened for fsync; NTFS journals renames itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
