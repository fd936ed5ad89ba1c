//! Keys and the keyring: base64, fingerprints, install / use / remove, files and
//! environment values.
// Test helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use leviathan_gossip_keyring::{
    Fingerprint, KeyError, KeyRef, Keyring, KeyringError, Place, SecretKey,
};
use rand::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

fn key(seed: u64) -> SecretKey {
    SecretKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

#[test]
fn base64_round_trip_with_whitespace() {
    let k = key(1);
    let text = k.to_base64();
    assert_eq!(text.len(), 44);
    assert_eq!(SecretKey::from_base64(&text).unwrap(), k);
    assert_eq!(SecretKey::from_base64(&format!("  \t{text}\n")).unwrap(), k);
    assert_eq!(text.parse::<SecretKey>().unwrap(), k);
}

#[test]
fn bad_base64_is_refused_without_echoing_the_secret() {
    let text = key(1).to_base64();
    let cases = [
        (text[..40].to_string() + "====", KeyError::NotBase64),
        (text.replace('=', ""), KeyError::NotBase64),
        (
            format!("{}!{}", &text[..10], &text[11..]),
            KeyError::NotBase64,
        ),
        (
            format!("{} {}", &text[..22], &text[22..]),
            KeyError::NotBase64,
        ),
        ("c2hvcnQ=".to_string(), KeyError::WrongLength { len: 5 }),
        (String::new(), KeyError::WrongLength { len: 0 }),
        (base64_of(&[1u8; 33]), KeyError::WrongLength { len: 33 }),
    ];
    for (input, expected) in cases {
        let error = SecretKey::from_base64(&input).unwrap_err();
        assert_eq!(error, expected, "{input:?}");
        let message = error.to_string();
        assert!(!message.contains(&text[..8]), "{message}");
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn debug_shows_only_the_fingerprint() {
    let k = key(1);
    let debug = format!("{k:?}");
    assert_eq!(debug, format!("SecretKey({})", k.fingerprint()));
    assert!(!debug.contains(&k.to_base64()[..8]));
    let keyring_debug = format!("{:?}", Keyring::new(k.clone()));
    assert!(!keyring_debug.contains(&k.to_base64()[..8]));
    assert!(keyring_debug.contains(&k.fingerprint().to_string()));
}

#[test]
fn fingerprint_is_the_documented_keystream_and_parses_back() {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let bytes = [0x11; 32];
    let k = SecretKey::from_bytes(bytes);
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&bytes.into());
    let sealed = cipher
        .encrypt(&(*b"leviathan-gossip/key-fp!").into(), &[0u8; 8][..])
        .unwrap();
    assert_eq!(k.fingerprint().as_bytes(), &sealed[..8]);

    let text = k.fingerprint().to_string();
    assert_eq!(text.len(), 16);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(text.parse::<Fingerprint>().unwrap(), k.fingerprint());
    assert_eq!(
        text.to_uppercase().parse::<Fingerprint>().unwrap(),
        k.fingerprint()
    );
    assert!("0123".parse::<Fingerprint>().is_err());
    assert!("0123456789abcdeg".parse::<Fingerprint>().is_err());
    assert!("ééééééééé".parse::<Fingerprint>().is_err());
    assert_ne!(key(1).fingerprint(), key(2).fingerprint());
}

#[test]
fn key_ref_parses_a_fingerprint_or_a_key() {
    let k = key(1);
    assert_eq!(
        k.fingerprint().to_string().parse::<KeyRef>().unwrap(),
        KeyRef::Fingerprint(k.fingerprint())
    );
    assert_eq!(
        k.to_base64().parse::<KeyRef>().unwrap(),
        KeyRef::Key(k.clone())
    );
    assert_eq!("not a key".parse::<KeyRef>(), Err(KeyError::NotBase64));
}

#[test]
fn install_use_remove() {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut keyring = Keyring::new(a.clone());
    assert_eq!(keyring.len(), 1);
    assert!(!keyring.is_empty());
    assert!(keyring.install(b.clone()));
    assert!(keyring.install(c.clone()));
    assert!(!keyring.install(b.clone()), "already installed");
    assert!(!keyring.install(a.clone()), "the primary is installed");
    assert_eq!(keyring.len(), 3);
    let listed: Vec<_> = keyring.keys().map(|(k, p)| (k.clone(), p)).collect();
    assert_eq!(
        listed,
        vec![(a.clone(), true), (b.clone(), false), (c.clone(), false)]
    );

    // Use by key; the old primary is tried right after the new one.
    keyring.use_key(&c).unwrap();
    assert_eq!(keyring.primary(), &c);
    let order: Vec<_> = keyring.keys().map(|(k, _)| k.clone()).collect();
    assert_eq!(order, vec![c.clone(), a.clone(), b.clone()]);
    // Using the primary again changes nothing.
    keyring.use_key(c.fingerprint()).unwrap();
    assert_eq!(keyring.primary(), &c);

    // Remove by fingerprint, then by parsed text.
    keyring.remove(a.fingerprint()).unwrap();
    assert!(!keyring.contains(&a));
    keyring
        .remove(b.to_base64().parse::<KeyRef>().unwrap())
        .unwrap();
    assert_eq!(keyring.len(), 1);
    assert!(keyring.contains(c.fingerprint()));
}

#[test]
fn use_and_remove_errors_leave_the_keyring_unchanged() {
    let (a, b, stranger) = (key(1), key(2), key(3));
    let mut keyring = Keyring::new(a.clone());
    keyring.install(b.clone());
    let before = keyring.clone();

    let error = keyring.use_key(&stranger).unwrap_err();
    assert_eq!(
        error,
        KeyringError::NotInstalled {
            key: stranger.fingerprint()
        }
    );
    assert!(error.to_string().contains("unchanged"));
    assert!(
        error
            .to_string()
            .contains(&stranger.fingerprint().to_string())
    );
    assert_eq!(keyring, before);

    assert_eq!(
        keyring.remove(stranger.fingerprint()),
        Err(KeyringError::NotInstalled {
            key: stranger.fingerprint()
        })
    );
    assert_eq!(keyring, before);

    let error = keyring.remove(&a).unwrap_err();
    assert_eq!(
        error,
        KeyringError::RemovePrimary {
            key: a.fingerprint()
        }
    );
    assert!(error.to_string().contains("unchanged"));
    assert_eq!(keyring, before);

    // Once removed, a key is unknown.
    keyring.remove(&b).unwrap();
    assert_eq!(
        keyring.remove(&b),
        Err(KeyringError::NotInstalled {
            key: b.fingerprint()
        })
    );
    assert_eq!(
        keyring.use_key(&b),
        Err(KeyringError::NotInstalled {
            key: b.fingerprint()
        })
    );
}

#[test]
fn file_with_comments_and_blank_lines() {
    let (a, b, c) = (key(1), key(2), key(3));
    let file = format!(
        "# leviathan-gossip keyring\n\n  {}  # primary\n#{}\n\t{}\r\n\n# end\n",
        a.to_base64(),
        c.to_base64(),
        b.to_base64()
    );
    let keyring = Keyring::from_file_contents(&file).unwrap();
    assert_eq!(keyring.primary(), &a);
    assert_eq!(keyring.len(), 2);
    assert!(keyring.contains(&b));
    assert!(!keyring.contains(&c), "commented out");
}

#[test]
fn file_round_trip() {
    let mut keyring = Keyring::new(key(1));
    keyring.install(key(2));
    keyring.install(key(3));
    keyring.use_key(key(3)).unwrap();
    let contents = keyring.to_file_contents();
    assert!(contents.starts_with('#'));
    assert_eq!(Keyring::from_file_contents(&contents).unwrap(), keyring);
}

#[test]
fn a_bad_line_is_named_by_number() {
    let a = key(1).to_base64();
    let file = format!("# keys\n{a}\n\n{}\n", &a[..21]);
    let error = Keyring::from_file_contents(&file).unwrap_err();
    assert_eq!(
        error,
        KeyError::At {
            place: Place::Line(4),
            error: Box::new(KeyError::NotBase64)
        }
    );
    let message = error.to_string();
    assert!(message.starts_with("line 4: "), "{message}");
    assert!(!message.contains(&a[..8]), "{message}");

    let file = format!("{a}\nc2hvcnQ=\n");
    assert_eq!(
        Keyring::from_file_contents(&file).unwrap_err().to_string(),
        "line 2: the key decodes to 5 bytes; a key is exactly 32 bytes (44 base64 characters)"
    );
}

#[test]
fn a_repeated_key_names_both_lines() {
    let a = key(1).to_base64();
    let b = key(2).to_base64();
    let file = format!("{a}\n{b}\n# again\n{a}\n");
    assert_eq!(
        Keyring::from_file_contents(&file),
        Err(KeyError::Duplicate {
            place: Place::Line(4),
            first: Place::Line(1)
        })
    );
    assert_eq!(
        Keyring::from_env_value(&format!("{a},{b},{b}"))
            .unwrap_err()
            .to_string(),
        "key 3 of the list: the same key as key 2 of the list"
    );
}

#[test]
fn empty_files_and_values_hold_no_keys() {
    for text in ["", "\n\n", "# only a comment\n   \n"] {
        assert_eq!(Keyring::from_file_contents(text), Err(KeyError::NoKeys));
    }
    for text in ["", " , ,\n"] {
        assert_eq!(Keyring::from_env_value(text), Err(KeyError::NoKeys));
    }
}

#[test]
fn env_value_separated_by_commas_or_whitespace() {
    let (a, b, c) = (key(1), key(2), key(3));
    let value = format!(
        " {}, {}\n\t{} ,",
        a.to_base64(),
        b.to_base64(),
        c.to_base64()
    );
    let keyring = Keyring::from_env_value(&value).unwrap();
    assert_eq!(keyring.primary(), &a);
    let order: Vec<_> = keyring.keys().map(|(k, _)| k.clone()).collect();
    assert_eq!(order, vec![a.clone(), b, c]);

    let error = Keyring::from_env_value(&format!("{},bogus", a.to_base64())).unwrap_err();
    assert_eq!(
        error,
        KeyError::At {
            place: Place::Entry(2),
            error: Box::new(KeyError::NotBase64)
        }
    );
    assert!(error.to_string().starts_with("key 2 of the list: "));
}
