// leviathan-gossip for Node.js: the original library's API (new Gossip(cfg), run, set/get/
// getn, EventEmitter events) on the Rust engine, through the native addon built from
// crates/node (napi-rs). README.md says what maps to what.
'use strict';

const { EventEmitter } = require('node:events');
const path = require('node:path');

const ADDON = path.join(__dirname, 'leviathan-gossip.node');

/// Options of `new Gossip(cfg)` and the type each must have. `reduce_val` is accepted and
/// ignored, as in the original (which never built idle-key reclamation).
const OPTIONS = {
  alias: 'string',
  seeds: 'strings',
  addr: 'string',
  port: 'number',
  gossip_val: 'number',
  heartbeat_val: 'number',
  health_check_val: 'number',
  phi_threshold: 'number',
  val_max_len: 'number',
  reduce_val: 'number',
  // Extensions.
  bind: 'string',
  preset: 'string',
  cluster_id: 'string',
  event_buffer: 'number',
};

let addon = null;

/// The native addon, loaded on first use.
function native() {
  if (addon === null) {
    try {
      addon = require(ADDON);
    } catch (error) {
      throw new Error(
        `leviathan-gossip: cannot load the native addon ${ADDON} (build it with ` +
          `\`npm run build\` in ${__dirname}): ${error.message}`,
      );
    }
  }
  return addon;
}

class Gossip extends EventEmitter {
  /// Checks `cfg` (an Error naming the option if one is bad); starts nothing: see run().
  constructor(cfg = {}) {
    super();
    this._config = nativeConfig(cfg);
    native().checkConfig(this._config);
    this._node = null;
    this._pumping = null;
  }

  /// Starts the node: binds the UDP port and starts gossiping with the seeds. Returns
  /// this. `callback(err)` is called once started (err null) or failed; without a
  /// callback a failure throws. Events start flowing after run() returns, so listeners
  /// attached in the same tick (before or after run()) miss none of them.
  run(callback) {
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError('run(callback): callback must be a function');
    }
    let failure = null;
    if (this._node !== null) {
      failure = new Error('the gossip node was already started (run may be called once)');
    } else {
      try {
        this._node = native().NativeGossip.start(this._config);
        this._pumping = this._pump();
      } catch (error) {
        failure = error;
      }
    }
    if (callback) {
      process.nextTick(callback, failure);
    } else if (failure) {
      throw failure;
    }
    return this;
  }

  /// This node's id, the one peers' events and get/getn use for it: its alias, else
  /// "addr:port".
  get id() {
    if (this._node !== null) return this._node.id;
    return this._config.alias ?? `${this._config.addr ?? '127.0.0.1'}:${this._config.port ?? 7580}`;
  }

  /// This node's advertised address, "addr:port" (known once running: port 0 picks one).
  get address() {
    return this._running().address;
  }

  /// This node's generation: its start time in ms since 1970 (a restart gets a larger one).
  get generation() {
    return this._running().generation;
  }

  /// Sets one of this node's keys to `value`, which must be a JSON value (see README);
  /// returns the write's version. Throws, writing nothing, for a value JSON cannot carry,
  /// an invalid key, a value larger than one packet carries, or a stopped node.
  set(k, v) {
    checkKey('set', k);
    const text = encode(k, v);
    return inContext(`set(${JSON.stringify(k)})`, () => this._running().set(k, text));
  }

  /// Sets one of this node's keys to raw bytes (a Buffer or Uint8Array), for peers that do
  /// not speak JSON. Node.js peers read bytes that are not JSON text back as a Buffer.
  setRaw(k, bytes) {
    checkKey('setRaw', k);
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`setRaw(${JSON.stringify(k)}): the value must be a Buffer or Uint8Array`);
    }
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return inContext(`setRaw(${JSON.stringify(k)})`, () => this._running().set(k, buffer));
  }

  /// The value of peer `r`'s key `k` known here (`r`: an id or "addr:port"); undefined if
  /// unknown or deleted. Bytes that are not JSON text come back as a Buffer.
  get(r, k) {
    checkKey('get', k);
    const value = this._running().get(String(r), k);
    if (value === null || value === undefined) return undefined;
    return typeof value === 'string' ? decodeText(value) : value;
  }

  /// The version of peer `r`'s key `k` known here; 0 if unknown.
  getn(r, k) {
    checkKey('getn', k);
    return this._running().getn(String(r), k);
  }

  /// Deletes one of this node's keys (peers get a `delete` event); returns the deletion's
  /// version, or null if the key was not set.
  del(k) {
    checkKey('del', k);
    return inContext(`del(${JSON.stringify(k)})`, () => this._running().del(k));
  }

  /// Every member known, this node included: { id, address, generation, state, phi, keys,
  /// isLocal }.
  members() {
    return this._running().members();
  }

  /// Largest value in bytes (of its JSON text) that set() accepts for key `k`.
  maxValueLen(k) {
    checkKey('maxValueLen', k);
    return this._running().maxValueLen(k);
  }

  /// Announces a graceful departure (peers get `peers_left` at once) and stops. Resolves
  /// once stopped and every event that came before has been emitted.
  async leave() {
    await this._running().leave();
    await this._pumping;
  }

  /// Stops without announcing anything (peers suspect this node, then declare it dead).
  /// Resolves once stopped and every event that came before has been emitted. Idempotent.
  async stop() {
    if (this._node === null) return;
    await this._node.stop();
    await this._pumping;
  }

  _running() {
    if (this._node === null) throw new Error('the gossip node is not started: call run() first');
    return this._node;
  }

  /// Pulls batches of events from the addon and emits them, until the node stops. Each
  /// batch is emitted in one go (at most 1024 events), then the loop awaits the next one:
  /// the event loop runs in between. A listener that throws is reported as an uncaught
  /// exception, as a throwing listener anywhere else would be, and delivery goes on.
  async _pump() {
    for (;;) {
      let batch;
      try {
        batch = await this._node.nextEvents();
      } catch (error) {
        process.nextTick(() => this.emit('error', error));
        return;
      }
      if (batch === null) return;
      let deletions = [];
      for (const event of batch) {
        if (event.kind === 'delete') {
          deletions.push([event.node, event.key, event.version]);
          continue;
        }
        if (deletions.length > 0) {
          this._emitSafely('delete', deletions);
          deletions = [];
        }
        this._dispatch(event);
      }
      if (deletions.length > 0) this._emitSafely('delete', deletions);
    }
  }

  _dispatch(event) {
    switch (event.kind) {
      case 'updates':
        this._emitSafely(
          'updates',
          event.updates.map((u) => [u.node, u.key, u.text !== undefined ? decodeText(u.text) : u.bytes, u.version]),
        );
        break;
      case 'peer_restarted':
        this._emitSafely('peer_restarted', event.node, event.generation);
        break;
      case 'duplicate_name':
        this._emitSafely('duplicate_name', event.address, event.generation);
        break;
      case 'events_lost':
        this._emitSafely('events_lost', event.missed);
        break;
      default:
        if (event.peers !== undefined) this._emitSafely(event.kind, event.peers);
        else this._emitSafely(event.kind);
    }
  }

  _emitSafely(name, ...args) {
    try {
      this.emit(name, ...args);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
}

/// `cfg` checked for unknown options and types, as the addon takes it.
function nativeConfig(cfg) {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
    throw new TypeError('new Gossip(cfg): cfg must be an object of options');
  }
  const config = { seeds: [] };
  for (const [option, value] of Object.entries(cfg)) {
    const type = OPTIONS[option];
    if (type === undefined) {
      throw new Error(`invalid option ${option}: unknown option (known: ${Object.keys(OPTIONS).join(', ')})`);
    }
    if (value === undefined) continue;
    if (type === 'strings') {
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
        throw new TypeError(`invalid option ${option}: expected an array of "host:port" strings`);
      }
    } else if (typeof value !== type) {
      throw new TypeError(`invalid option ${option}: expected a ${type}, got ${describe(value)}`);
    }
    if (option !== 'reduce_val') config[option] = type === 'strings' ? [...value] : value;
  }
  return config;
}

/// Runs `call`, prefixing the message of an error it throws with `label` (the call).
function inContext(label, call) {
  try {
    return call();
  } catch (error) {
    if (error instanceof Error) error.message = `${label}: ${error.message}`;
    throw error;
  }
}

function checkKey(method, k) {
  if (typeof k !== 'string') {
    throw new TypeError(`${method}: the key must be a string, got ${describe(k)}`);
  }
}

/// The JSON text of `value`, refused (TypeError naming where) if JSON cannot carry it
/// exactly: undefined, functions, symbols, BigInt, NaN and ±Infinity, cycles, sparse or
/// decorated arrays, and objects other than plain ones (Date, Map, Buffer, class
/// instances: convert them first).
function encode(k, value) {
  const problem = unrepresentable(value, 'value', new Set());
  if (problem !== null) {
    throw new TypeError(`set(${JSON.stringify(k)}): ${problem}, which JSON cannot carry; nothing was written`);
  }
  return JSON.stringify(value);
}

function unrepresentable(value, where, ancestors) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${where} is ${value}`;
    case 'object': {
      if (value === null) return null;
      if (ancestors.has(value)) return `${where} refers back to an enclosing object (a cycle)`;
      ancestors.add(value);
      const problem = Array.isArray(value)
        ? unrepresentableArray(value, where, ancestors)
        : unrepresentableObject(value, where, ancestors);
      ancestors.delete(value);
      return problem;
    }
    default:
      return `${where} is ${describe(value)}`;
  }
}

function unrepresentableArray(array, where, ancestors) {
  if (Object.getPrototypeOf(array) !== Array.prototype) return `${where} is a subclass of Array`;
  if (Object.keys(array).length !== array.length) {
    return `${where} is an array with holes or with properties besides its elements`;
  }
  for (let i = 0; i < array.length; i++) {
    const problem = unrepresentable(array[i], `${where}[${i}]`, ancestors);
    if (problem !== null) return problem;
  }
  return null;
}

function unrepresentableObject(object, where, ancestors) {
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    return `${where} is ${describe(object)}, not a plain object`;
  }
  if (Object.getOwnPropertySymbols(object).length > 0) return `${where} has symbol keys`;
  for (const key of Object.keys(object)) {
    const problem = unrepresentable(object[key], `${where}${propertyPath(key)}`, ancestors);
    if (problem !== null) return problem;
  }
  return null;
}

function propertyPath(key) {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/// A value read as text: its JSON value, or its bytes (a Buffer) if it is not JSON.
function decodeText(text) {
  try {
    return JSON.parse(text);
  } catch {
    return Buffer.from(text, 'utf8');
  }
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `a BigInt (${value}n)`;
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'undefined') return 'undefined';
  if (typeof value === 'object') {
    const name = value.constructor && value.constructor.name;
    return name ? `a ${name}` : 'an object';
  }
  return `a ${typeof value} (${JSON.stringify(value)})`;
}

module.exports = Gossip;
module.exports.Gossip = Gossip;
module.exports.default = Gossip;
