//! Key changes made through the admin API, written back to the agent's keyring file so
//! that a restart (say, in the middle of a rotation) comes back with the keys in use.
//!
//! The node holds its keys but shows only their fingerprints, so the agent keeps its own
//! copy of the keyring read at start ([`KeyringFile`]), applies each change to the node
//! and then to the copy under one lock, checks that both list the same keys in the same
//! order, and replaces the file with the copy in the keyring format
//! ([`Keyring::to_file_contents`]: a comment line, then one base64 key per line, the
//! primary first; comments of the old file are not kept). The file is replaced
//! atomically: a temporary file in the same directory, fsync'd, renamed over the file,
//! then the directory fsync'd; it keeps the file's permissions (a new one gets `0600`).
//! A symbolic link is followed: the file it points to is replaced.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use leviathan_gossip::keyring::{Fingerprint, KeyRef, Keyring, SecretKey};
use leviathan_gossip::{Error as GossipError, Gossip};
use tokio::sync::Mutex;

/// The agent's keyring file and its copy of the keys in it. Clones share the copy.
#[derive(Debug, Clone)]
pub struct KeyringFile {
    path: PathBuf,
    keys: Arc<Mutex<Keyring>>,
}

/// A change to a node's keys.
#[derive(Debug, Clone)]
pub enum KeyChange {
    /// [`Gossip::install_key`].
    Install(SecretKey),
    /// [`Gossip::use_key`].
    Use(KeyRef),
    /// [`Gossip::remove_key`].
    Remove(Fingerprint),
}

/// Why [`KeyringFile::change`] failed.
#[derive(Debug)]
pub enum ChangeError {
    /// The node refused the change: nothing changed, in memory or on disk.
    Refused(GossipError),
    /// The change was applied in memory but the file was not replaced: a restart would
    /// bring back the keys the file holds.
    NotSaved(String),
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeError::Refused(error) => write!(f, "{error}"),
            ChangeError::NotSaved(problem) => write!(f, "{problem}"),
        }
    }
}

impl std::error::Error for ChangeError {}

impl KeyChange {
    /// Applies the change to `node`; whether it changed anything.
    pub fn apply(&self, node: &Gossip) -> Result<bool, GossipError> {
        match self {
            KeyChange::Install(key) => Ok(node.install_key(key.clone())),
            KeyChange::Use(key) => {
                let before = node.encryption().keys.first().copied();
                node.use_key(key.clone())?;
                Ok(before != Some(key.fingerprint()))
            }
            KeyChange::Remove(fingerprint) => {
                node.remove_key(*fingerprint)?;
                Ok(true)
            }
        }
    }

    /// Applies the change to the agent's copy (a refusal there is caught by comparing the
    /// copy with the node).
    fn apply_to_copy(&self, keyring: &mut Keyring) {
        let _same_outcome_as_the_node = match self {
            KeyChange::Install(key) => Ok(keyring.install(key.clone()).then_some(())),
            KeyChange::Use(key) => keyring.use_key(key.clone()).map(Some),
            KeyChange::Remove(fingerprint) => keyring.remove(*fingerprint).map(Some),
        };
    }
}

impl KeyringFile {
    /// The keyring file at `path`, which holds `keyring` (as read at start).
    pub fn new(path: PathBuf, keyring: Keyring) -> Self {
        KeyringFile {
            path,
            keys: Arc::new(Mutex::new(keyring)),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `change` to `node`, then writes the keyring back to the file; whether the
    /// change changed anything. Changes are serialized. A change that changes nothing is
    /// saved too, so that repeating one whose save failed saves it.
    ///
    /// # Errors
    ///
    /// [`ChangeError::Refused`] if the node refused it (nothing changed);
    /// [`ChangeError::NotSaved`] if it was applied in memory but the file could not be
    /// replaced.
    pub async fn change(&self, node: &Gossip, change: KeyChange) -> Result<bool, ChangeError> {
        let mut copy = self.keys.lock().await;
        let changed = change.apply(node).map_err(ChangeError::Refused)?;
        change.apply_to_copy(&mut copy);
        let in_copy: Vec<Fingerprint> = copy.keys().map(|(key, _)| key.fingerprint()).collect();
        if node.encryption().keys != in_copy {
            return Err(ChangeError::NotSaved(
                "the agent's copy of the keyring differs from the node's keys (were they \
                 changed another way?)"
                    .into(),
            ));
        }
        let contents = copy.to_file_contents();
        let path = self.path.clone();
        let written =
            tokio::task::spawn_blocking(move || write_atomically(&path, contents.as_bytes())).await;
        match written {
            Ok(Ok(())) => Ok(changed),
            Ok(Err(error)) => Err(ChangeError::NotSaved(format!(
                "cannot write {}: {error}",
                self.path.display()
            ))),
            Err(error) => Err(ChangeError::NotSaved(format!(
                "the write of {} failed: {error}",
                self.path.display()
            ))),
        }
    }
}

/// Replaces the file at `path` with `contents` atomically (see the module doc).
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = directory.join(temporary);
    let permissions = std::fs::metadata(&path).map(|m| m.permissions()).ok();
    // A leftover of a crash mid-write.
    let _ = std::fs::remove_file(&temporary);
    let replaced = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &path)
    })();
    if replaced.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    replaced?;
    #[cfg(unix)]
    std::fs::File::open(&directory)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_is_replaced_whole_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let directory = std::env::temp_dir().join(format!(
            "leviathan-gossip-keyring-file-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("keyring");
        std::fs::write(&path, "old contents, longer than the new\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(std::fs::read_dir(&directory).unwrap().count(), 1);
        let missing = directory.join("no-such-directory").join("keyring");
        assert!(write_atomically(&missing, b"x").is_err());
        let _ = std::fs::remove_dir_all(directory);
    }
}
