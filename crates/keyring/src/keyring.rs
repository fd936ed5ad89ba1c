//! The keyring: installed keys, one of them primary, changed at runtime; its file format.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::key::{Fingerprint, KeyError, Place, SecretKey};

/// An ordered set of [`SecretKey`]s, one of which is the *primary*.
///
/// [`Keyring::seal`] encrypts with the primary; [`Keyring::open`] tries the primary, then
/// every other installed key, most recently primary first. A running cluster rotates its
/// key with [`Keyring::install`], [`Keyring::use_key`] and [`Keyring::remove`] (the crate
/// docs give the procedure).
///
/// Keys are named in [`Keyring::use_key`], [`Keyring::remove`] and
/// [`Keyring::contains`] by a [`KeyRef`]: the key itself or its [`Fingerprint`]. An admin
/// API that lists keys shows fingerprints only, and then accepts either form: the operator
/// who holds the key may paste it (as Serf's `keys -use <key>` does), one who does not may
/// name it by the fingerprint from the listing. A fingerprint is public, so removing a key
/// by fingerprint needs no secret; who may call the admin API is the runtime's concern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// The primary: seals, and is tried first when opening.
    primary: SecretKey,
    /// The other installed keys, in the order `open` tries them.
    others: Vec<SecretKey>,
}

/// Names an installed key: by the key itself, or by its public [`Fingerprint`].
///
/// Parsed from text by [`KeyRef::from_str`]: 16 hex digits are a fingerprint, anything
/// else must be a base64 key. `Debug` of a key shows only its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// The key itself; matches exactly that key.
    Key(SecretKey),
    /// A key's fingerprint; matches the installed key that has it.
    Fingerprint(Fingerprint),
}

impl KeyRef {
    /// The fingerprint of the named key.
    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            KeyRef::Key(key) => key.fingerprint(),
            KeyRef::Fingerprint(fingerprint) => *fingerprint,
        }
    }

    /// Whether `key` is the named key.
    fn matches(&self, key: &SecretKey) -> bool {
        match self {
            KeyRef::Key(named) => named == key,
            KeyRef::Fingerprint(fingerprint) => key.fingerprint() == *fingerprint,
        }
    }
}

impl FromStr for KeyRef {
    type Err = KeyError;

    /// 16 hex digits (either case) are a [`Fingerprint`]; any other text is read with
    /// [`SecretKey::from_base64`], whose errors it returns. The two cannot be confused:
    /// a base64 key is 44 characters long.
    fn from_str(text: &str) -> Result<KeyRef, KeyError> {
        match text.parse::<Fingerprint>() {
            Ok(fingerprint) => Ok(KeyRef::Fingerprint(fingerprint)),
            Err(_) => SecretKey::from_base64(text).map(KeyRef::Key),
        }
    }
}

impl From<SecretKey> for KeyRef {
    fn from(key: SecretKey) -> KeyRef {
        KeyRef::Key(key)
    }
}

impl From<&SecretKey> for KeyRef {
    fn from(key: &SecretKey) -> KeyRef {
        KeyRef::Key(key.clone())
    }
}

impl From<Fingerprint> for KeyRef {
    fn from(fingerprint: Fingerprint) -> KeyRef {
        KeyRef::Fingerprint(fingerprint)
    }
}

impl From<&Fingerprint> for KeyRef {
    fn from(fingerprint: &Fingerprint) -> KeyRef {
        KeyRef::Fingerprint(*fingerprint)
    }
}

/// Why [`Keyring::use_key`] or [`Keyring::remove`] refused. Both leave the keyring
/// unchanged when they fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No installed key is the one named. Install it first (for `use`), or it is already
    /// gone (for `remove`).
    #[error("no installed key matches {key}; the keyring is unchanged")]
    NotInstalled {
        /// Fingerprint of the named key.
        key: Fingerprint,
    },
    /// The named key is the primary, which cannot be removed: make another key primary
    /// first with [`Keyring::use_key`].
    #[error(
        "key {key} is the primary and cannot be removed (use another key first); the keyring is unchanged"
    )]
    RemovePrimary {
        /// Fingerprint of the primary.
        key: Fingerprint,
    },
}

impl Keyring {
    /// A keyring holding only `primary`.
    pub fn new(primary: SecretKey) -> Keyring {
        Keyring {
            primary,
            others: Vec::new(),
        }
    }

    /// Installs `key` for opening, after the keys already installed; the primary does not
    /// change. Returns `false`, changing nothing, if the key is already installed.
    pub fn install(&mut self, key: SecretKey) -> bool {
        if self.primary == key || self.others.contains(&key) {
            return false;
        }
        self.others.push(key);
        true
    }

    /// Makes the named key the primary: it seals from now on. The previous primary stays
    /// installed and becomes the first key tried after the new primary. Using the current
    /// primary is a success that changes nothing.
    ///
    /// # Errors
    ///
    /// [`KeyringError::NotInstalled`] if no installed key matches; the keyring is unchanged.
    pub fn use_key(&mut self, key: impl Into<KeyRef>) -> Result<(), KeyringError> {
        let key = key.into();
        if key.matches(&self.primary) {
            return Ok(());
        }
        let position = self
            .others
            .iter()
            .position(|installed| key.matches(installed))
            .ok_or(KeyringError::NotInstalled {
                key: key.fingerprint(),
            })?;
        let new_primary = self.others.remove(position);
        let old_primary = std::mem::replace(&mut self.primary, new_primary);
        self.others.insert(0, old_primary);
        Ok(())
    }

    /// Removes the named key: packets sealed with it no longer open.
    ///
    /// # Errors
    ///
    /// [`KeyringError::RemovePrimary`] if it is the primary, [`KeyringError::NotInstalled`]
    /// if no installed key matches; either way the keyring is unchanged.
    pub fn remove(&mut self, key: impl Into<KeyRef>) -> Result<(), KeyringError> {
        let key = key.into();
        if key.matches(&self.primary) {
            return Err(KeyringError::RemovePrimary {
                key: self.primary.fingerprint(),
            });
        }
        let position = self
            .others
            .iter()
            .position(|installed| key.matches(installed))
            .ok_or(KeyringError::NotInstalled {
                key: key.fingerprint(),
            })?;
        self.others.remove(position);
        Ok(())
    }

    /// Whether the named key is installed (as the primary or not).
    pub fn contains(&self, key: impl Into<KeyRef>) -> bool {
        let key = key.into();
        self.keys().any(|(installed, _)| key.matches(installed))
    }

    /// The primary key: the one that seals.
    pub fn primary(&self) -> &SecretKey {
        &self.primary
    }

    /// Every installed key with `true` for the primary, in the order [`Keyring::open`]
    /// tries them: the primary first, then the others, most recently primary first, then
    /// in the order they were installed.
    pub fn keys(&self) -> impl Iterator<Item = (&SecretKey, bool)> + '_ {
        std::iter::once((&self.primary, true)).chain(self.others.iter().map(|key| (key, false)))
    }

    /// How many keys are installed, the primary included (at least 1).
    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    /// Always `false`: a keyring holds at least its primary.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reads a keyring file: one base64 key per line, the first key the primary, the
    /// others installed in order. Text from a `#` to the end of its line is a comment
    /// (`#` is not a base64 character); blank lines are ignored, and so is whitespace
    /// around a key.
    ///
    /// ```text
    /// # leviathan-gossip keyring: first key is the primary
    /// tJHh4n7ZVapeLWuCYPURpPMTYOb95FFurI4tMI/1T3A=   # new key, primary since the rotation
    /// IfWGV4BAO1ON8GsEk1KBtxxlKGTtahWbRwkkhGgDj90=   # old key, remove once all use the new
    /// ```
    ///
    /// # Errors
    ///
    /// [`KeyError::At`] naming the first line that is not a key, with the reason;
    /// [`KeyError::Duplicate`] for a key that appears twice; [`KeyError::NoKeys`] if there
    /// is no key at all.
    pub fn from_file_contents(contents: &str) -> Result<Keyring, KeyError> {
        let keys = contents.lines().enumerate().filter_map(|(index, line)| {
            let key = line.split('#').next().unwrap_or_default().trim();
            (!key.is_empty()).then_some((Place::Line(index + 1), key))
        });
        Keyring::from_places(keys)
    }

    /// Writes the keyring in the format [`Keyring::from_file_contents`] reads: a comment
    /// line, then one base64 key per line, primary first. The text holds the secret keys.
    pub fn to_file_contents(&self) -> String {
        let mut contents = String::from(
            "# leviathan-gossip keyring: one base64 key per line, the first is the primary\n",
        );
        for (key, _) in self.keys() {
            let _infallible = writeln!(contents, "{}", key.to_base64());
        }
        contents
    }

    /// Reads a keyring from the value of an environment variable: base64 keys separated
    /// by commas or whitespace (or both), the first key the primary. Empty entries are
    /// ignored; there are no comments.
    ///
    /// # Errors
    ///
    /// As [`Keyring::from_file_contents`], with places given as [`Place::Entry`]: the
    /// position of the key in the list, from 1.
    pub fn from_env_value(value: &str) -> Result<Keyring, KeyError> {
        let keys = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|key| !key.is_empty())
            .enumerate()
            .map(|(index, key)| (Place::Entry(index + 1), key));
        Keyring::from_places(keys)
    }

    /// A keyring of the keys read at these places, the first the primary.
    fn from_places<'a>(
        mut keys: impl Iterator<Item = (Place, &'a str)>,
    ) -> Result<Keyring, KeyError> {
        let read = |place: Place, text: &str| {
            SecretKey::from_base64(text).map_err(|error| KeyError::At {
                place,
                error: Box::new(error),
            })
        };
        let (first_place, first) = keys.next().ok_or(KeyError::NoKeys)?;
        let mut keyring = Keyring::new(read(first_place, first)?);
        let mut places = vec![first_place];
        for (place, text) in keys {
            let key = read(place, text)?;
            if let Some(first) = keyring
                .keys()
                .zip(places.iter())
                .find_map(|((installed, _), first)| (*installed == key).then_some(*first))
            {
                return Err(KeyError::Duplicate { place, first });
            }
            keyring.others.push(key);
            places.push(place);
        }
        Ok(keyring)
    }
}
