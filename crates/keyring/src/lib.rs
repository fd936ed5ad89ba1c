//! Authenticated encryption of every leviathan-gossip datagram with a **keyring** that a
//! running cluster rotates without losing a member.
//!
//! Without it anyone who can reach a node's UDP port can read the cluster's keys and
//! values and inject state. With it every datagram is sealed with
//! [XChaCha20-Poly1305](https://datatracker.ietf.org/doc/html/draft-irtf-cfrg-xchacha)
//! (RustCrypto's `chacha20poly1305`) under a random 24-byte nonce:
//!
//! * the **primary** key seals, **every installed key** opens ([`Keyring::seal`],
//!   [`Keyring::open`]), so keys are installed, made primary and removed at runtime
//!   ([`Keyring::install`], [`Keyring::use_key`], [`Keyring::remove`]);
//! * a datagram that fails authentication — wrong key, another cluster's, altered,
//!   forged, cut short — is refused with an [`OpenError`] and never parsed further; the
//!   runtime drops and counts it. No input makes [`Keyring::open`] panic, and it allocates
//!   at most the datagram's length;
//! * every sealed datagram carries its send time, authenticated, and the cluster id is
//!   part of what is authenticated (without being sent): a [`ReplayWindow`] refuses a
//!   datagram replayed, or stale, or from too far in the future, and a datagram of another
//!   cluster does not open even under a shared key;
//! * a sealed datagram starts with `LE`, a plaintext one with `LG`, so a cluster moves
//!   from plaintext to encryption online ([`is_sealed`], [`OpenError::NotSealed`]);
//! * keys are read from a file or an environment variable ([`Keyring::from_file_contents`],
//!   [`Keyring::from_env_value`]), never only from a command line, where any local user
//!   can read them in the process list. They are shown only by their public
//!   [`Fingerprint`].
//!
//! This crate is sans-io: it holds keys and turns datagrams into sealed datagrams and back.
//! The caller supplies the clock (`now`, milliseconds since the Unix epoch, to seal and to
//! check freshness), and nonces ([`Keyring::seal`]) or a cryptographic random generator
//! ([`Keyring::seal_with_rng`]). The runtime calls it around its socket.
//!
//! # Using it
//!
//! ```
//! use leviathan_gossip_keyring::{Keyring, OpenError, ReplayError, ReplayWindow, SecretKey, OVERHEAD};
//! # use rand::SeedableRng as _;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A fixed seed for the example only: a node uses `rand::rng()` or the OS's generator.
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! // Keys come from a file (or an environment variable) written by the operator.
//! let key = SecretKey::generate(&mut rng);
//! let file = format!("# cluster key\n{}\n", key.to_base64());
//! let keyring = Keyring::from_file_contents(&file)?;
//! println!("primary key {}", keyring.primary().fingerprint()); // never the key itself
//!
//! // Sealed for the cluster "prod" at the sender's clock (milliseconds since the epoch).
//! let now = 1_700_000_000_000;
//! let packet = b"LG\x03...a protocol datagram...";
//! let sealed = keyring.seal_with_rng(packet, now, b"prod", &mut rng)?;
//! assert_eq!(sealed.len(), packet.len() + OVERHEAD);
//! let opened = keyring.open(&sealed, b"prod")?;
//! assert_eq!(opened.plaintext, packet);
//! assert_eq!(opened.envelope.sent_at, now);
//!
//! // The receiver parses it only if it is fresh, and only once.
//! let mut window = ReplayWindow::default();
//! let envelope = opened.envelope;
//! assert_eq!(window.check(envelope.sent_at, envelope.nonce, now + 3), Ok(()));
//! assert_eq!(window.check(envelope.sent_at, envelope.nonce, now + 9), Err(ReplayError::Replayed));
//!
//! // A node with another key cannot read it, nor can another cluster with the same key,
//! // and a flipped bit is caught.
//! let stranger = Keyring::new(SecretKey::generate(&mut rng));
//! assert_eq!(stranger.open(&sealed, b"prod"), Err(OpenError::Unauthenticated));
//! assert_eq!(keyring.open(&sealed, b"staging"), Err(OpenError::Unauthenticated));
//! let mut altered = sealed.clone();
//! if let Some(byte) = altered.last_mut() {
//!     *byte ^= 1;
//! }
//! assert_eq!(keyring.open(&altered, b"prod"), Err(OpenError::Unauthenticated));
//! // A plaintext datagram is not sealed.
//! assert_eq!(keyring.open(packet, b"prod"), Err(OpenError::NotSealed));
//! # Ok(())
//! # }
//! ```
//!
//! # Sealed datagram (format version 2)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | magic [`MAGIC`], `LE` (`0x4C 0x45`); a plaintext protocol datagram starts with `LG` |
//! | 2 | 1 | format version [`FORMAT_VERSION`], `2` |
//! | 3 | 8 | send timestamp: milliseconds since the Unix epoch by the sender's clock, big-endian `u64` |
//! | 11 | 24 | nonce: random, fresh for every datagram |
//! | 35 | n | ciphertext: the plaintext datagram (n bytes, the protocol's `LG…` packet) encrypted with XChaCha20 |
//! | 35 + n | 16 | Poly1305 tag |
//!
//! The AEAD is XChaCha20-Poly1305 with the primary key, the nonce above, and as
//! associated data, authenticated but neither encrypted nor (the cluster id) sent:
//!
//! | bytes | associated data |
//! |---|---|
//! | 11 | the header: magic, version and timestamp, as sent |
//! | 8 | the cluster id's length in bytes, big-endian `u64` |
//! | c | the cluster id (the wire's `cluster_id`, UTF-8), which both sides know |
//!
//! The ciphertext and tag are the AEAD's output. The length prefix keeps two
//! (header, cluster id) pairs from ever giving the same bytes. A receiver opens a datagram
//! as follows, and the first failure is its [`OpenError`]: no `LE` magic →
//! [`OpenError::NotSealed`]; version other than 2 (version 1, without timestamp and
//! cluster id, included) → [`OpenError::UnsupportedVersion`]; shorter than 51 bytes →
//! [`OpenError::Truncated`]; no installed key authenticates it for the receiver's cluster
//! id → [`OpenError::Unauthenticated`]. Nothing of a refused datagram is parsed further.
//!
//! An opened datagram's [`Envelope`] (timestamp, nonce, key) then goes through the
//! receiver's [`ReplayWindow`], which refuses it ([`ReplayError`]) if its timestamp is
//! more than the window (default [`DEFAULT_REPLAY_WINDOW`], 30 s) from the receiver's clock
//! either way, or if a datagram with the same timestamp and nonce was accepted before.
//! The window remembers at most [`DEFAULT_REPLAY_CAPACITY`] datagrams (65,536, 32 bytes
//! each: 2 MiB at most); when it is full the oldest are forgotten and the window's lower
//! edge moves up past them, so a forgotten datagram is refused, never accepted twice.
//! Members' clocks must therefore agree within the window, which NTP does by far.
//!
//! Why XChaCha20 and random nonces: a 24-byte random nonce repeats with negligible
//! probability however many datagrams a key seals (below 2⁻⁹⁶ after 2⁴⁸ datagrams), so nodes
//! need no nonce counters, no state that survives restarts, and no coordination.
//! ChaCha20 is fast without AES hardware.
//!
//! # Overhead per datagram and the packet budget
//!
//! Sealing adds [`OVERHEAD`] = 51 bytes to every datagram: 11 of header (3 of magic and
//! version, 8 of timestamp), 24 of nonce, 16 of tag. The runtime (crate `leviathan-gossip`)
//! keeps `max_packet_size` as the bound on the protocol's packet and seals it whole, so a
//! sealed datagram is up to 51 bytes longer than `max_packet_size`: 1451 with the default
//! 1400, which with IPv6 and UDP headers (48 bytes) is 1499, still under a 1500-byte MTU.
//! Keeping the protocol's budget unchanged means a value that fits a plaintext cluster
//! still fits once it is encrypted (an upgrade never strands a large value); where the path
//! MTU is smaller, lower `max_packet_size` by 51.
//!
//! Each sealed datagram costs one seal at the sender and one open at the receiver: for a
//! 1400-byte datagram about 2.8 µs each (5.6 µs for both, some 480 MiB/s one way) on one
//! core of a 2-core AMD EPYC virtual machine, measured by this crate's `seal` benchmark
//! (`cargo bench -p leviathan-gossip-keyring`). That is small beside a `sendto`/`recvfrom`
//! round through the kernel. Opening a datagram sealed with a key that is not the
//! primary costs one more authentication check per key tried before it (4.9 µs with the
//! second of two keys), and so does refusing a forged one (4.3 µs with two keys): keep
//! the keyring small, two keys during a rotation and one otherwise.
//!
//! # Rotating the key of a running cluster
//!
//! Every node opens with all its installed keys, so a rotation loses no member if each
//! step is finished on **every** node before the next starts:
//!
//! 1. **install** the new key everywhere ([`Keyring::install`]). Nodes still seal with the
//!    old primary; every node can now open both.
//! 2. **use** the new key everywhere ([`Keyring::use_key`]). A node that switched seals
//!    with the new key, which every node installed in step 1; a node that has not yet
//!    switched seals with the old key, which every node still has.
//! 3. **remove** the old key everywhere ([`Keyring::remove`]), once no node seals with
//!    it: [`Keyring::open`] reports the key that opened each datagram ([`Envelope::key`]), so a runtime
//!    can count datagrams opened by a key other than the primary and show when they stop.
//!
//! Doing a step on one node before the previous step is done on all breaks the cluster in
//! two: a node that uses a key some peer has not installed is unreadable to that peer.
//! Also update the keyring file, or the environment, so that a restarted node comes back
//! with the current keys.
//!
//! # Upgrading a plaintext cluster to encryption online
//!
//! Guidance for the runtime, which offers two settings: `encrypt_outgoing: bool` (seal
//! what it sends) and `accept_plaintext: bool` (accept a received datagram that is not
//! sealed, [`OpenError::NotSealed`]). A sealed datagram is always opened with the keyring,
//! and dropped if it does not open. A cluster moves from plaintext to encrypted in three
//! phases, each done on every node (a rolling restart or a runtime call) before the next:
//!
//! | phase | keyring | `encrypt_outgoing` | `accept_plaintext` | sends | accepts |
//! |---|---|---|---|---|---|
//! | 0 (today) | none | — | — | plaintext | plaintext |
//! | 1 | installed | `false` | `true` | plaintext | both |
//! | 2 | installed | `true` | `true` | sealed | both |
//! | 3 (done) | installed | `true` | `false` | sealed | sealed only |
//!
//! In phase 1 every node learns to open sealed datagrams while still sending plaintext that
//! phase-0 nodes read. In phase 2 nodes send sealed datagrams, which every node can open
//! since phase 1, and still read the plaintext of nodes not yet in phase 2. Phase 3 refuses
//! plaintext: only once no node sends it. The reverse path takes the same phases
//! backwards. A runtime's receive path:
//!
//! ```
//! use leviathan_gossip_keyring::{Keyring, OpenError, ReplayWindow};
//!
//! /// The protocol datagram to parse, or `None` to drop (and count) the datagram.
//! fn receive(
//!     keyring: &Keyring,
//!     window: &mut ReplayWindow,
//!     cluster_id: &str,
//!     accept_plaintext: bool,
//!     datagram: &[u8],
//!     now: u64,
//! ) -> Option<Vec<u8>> {
//!     match keyring.open(datagram, cluster_id.as_bytes()) {
//!         // Stale, from the future, or a replay: dropped too.
//!         Ok(opened) => window
//!             .check(opened.envelope.sent_at, opened.envelope.nonce, now)
//!             .is_ok()
//!             .then_some(opened.plaintext),
//!         Err(OpenError::NotSealed) if accept_plaintext => Some(datagram.to_vec()),
//!         // Plaintext refused, truncated, unknown version, or unauthenticated.
//!         Err(_) => None,
//!     }
//! }
//! # let keyring = Keyring::new(leviathan_gossip_keyring::SecretKey::from_bytes([7; 32]));
//! # let mut window = ReplayWindow::default();
//! # assert!(receive(&keyring, &mut window, "c", true, b"LG plaintext", 0).is_some());
//! # assert!(receive(&keyring, &mut window, "c", false, b"LG plaintext", 0).is_none());
//! # let sealed = keyring.seal(b"LGx", 5_000, b"c", [1; 24]).unwrap();
//! # assert!(receive(&keyring, &mut window, "c", false, &sealed, 5_000).is_some());
//! # assert!(receive(&keyring, &mut window, "c", false, &sealed, 5_000).is_none());
//! ```
//!
//! # Keyring files and environment variables
//!
//! [`Keyring::from_file_contents`] reads one standard-base64 key (44 characters) per line,
//! the first the primary; `#` starts a comment, blank lines are ignored.
//! [`Keyring::to_file_contents`] writes that format. [`Keyring::from_env_value`] reads
//! the same keys separated by commas or whitespace, for a variable such as
//! `LEVIATHAN_GOSSIP_KEYS`. Errors ([`KeyError`]) name the line or the list position and
//! never repeat a key's text. A new key comes from [`SecretKey::generate`], or from any
//! 32 random bytes in base64 (`head -c 32 /dev/urandom | base64`).

mod key;
mod keyring;
mod replay;
mod seal;

pub use key::{
    FINGERPRINT_LEN, FINGERPRINT_NONCE, Fingerprint, KEY_LEN, KeyError, ParseFingerprintError,
    Place, SecretKey,
};
pub use keyring::{KeyRef, Keyring, KeyringError};
pub use replay::{DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_WINDOW, ReplayError, ReplayWindow};
pub use seal::{
    Envelope, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_PLAINTEXT_LEN, MAX_SEALED_LEN, NONCE_LEN,
    OVERHEAD, OpenError, Opened, SealError, TAG_LEN, TIMESTAMP_LEN, is_sealed,
};
