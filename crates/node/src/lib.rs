//! Node.js binding of leviathan-gossip, built with napi-rs: the native half of the npm
//! package `leviathan-gossip` (`npm/`), which gives Node.js programs the original
//! library's API (`new Gossip(cfg)`, `run`, `set`/`get`/`getn`/`del`, EventEmitter events)
//! on this engine.
//!
//! * [`config`]: the original's options (`alias`, `seeds`, `addr`, `port`, `gossip_val`,
//!   …) mapped to the engine's `Config`; errors name the option.
//! * [`node`]: the `NativeGossip` class: start, writes and reads, members, leave/stop.
//! * [`events`]: how events reach the Node.js event loop: a forwarding task moves each
//!   engine event to an unbounded queue, which JavaScript drains with the promise of
//!   `nextEvents()`. No engine thread calls into JavaScript; a slow listener costs memory,
//!   never events.
//! * [`error`]: errors, each becoming a JavaScript `Error` with the same message.
//!
//! Values are opaque bytes here; the JavaScript wrapper encodes them as JSON (see
//! `npm/README.md`). The crate builds without Node.js installed: napi-rs looks the N-API
//! functions up in the process that loads the addon.

pub mod config;
pub mod error;
pub mod events;
pub mod node;
