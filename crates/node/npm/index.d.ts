// Type declarations of leviathan-gossip for Node.js (README.md has the details).
import { EventEmitter } from 'node:events';

declare namespace Gossip {
  /** A value JSON carries exactly: what set() accepts and get() / updates return. */
  type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

  /**
   * A value as read: its JSON value, or a Buffer of its bytes when they are not JSON text
   * (written by another client, such as the Rust agent's `set`, or by setRaw()).
   */
  type Value = JsonValue | Buffer;

  /** A peer's id: its alias, or "addr:port" when it has none. */
  type PeerId = string;

  /** One replicated write: [owner, key, value, version]. */
  type Delta = [id: PeerId, key: string, value: Value, version: number];

  /** One replicated deletion: [owner, key, version of the deletion]. */
  type Deletion = [id: PeerId, key: string, version: number];

  interface Config {
    /** The node's id in events and get(). Default: "addr:port". */
    alias?: string;
    /** Seed addresses, "host:port" (IP address or DNS name). Default: none. */
    seeds?: string[];
    /** The IP address peers reach this node at; bound too unless `bind` is set. Default "127.0.0.1". */
    addr?: string;
    /** The UDP port. Default 7580; 0 picks a free one (see `address`). */
    port?: number;
    /** Gossip period, ms. Default 1000. */
    gossip_val?: number;
    /** Heartbeat (probe) period, ms. Default 1000. */
    heartbeat_val?: number;
    /** Health-check period, ms (suspicion timeouts are checked this often). Default 1000. */
    health_check_val?: number;
    /** φ above which a peer's observer checks it. Default 8. */
    phi_threshold?: number;
    /** Samples in the failure detector's sliding window. Default 100. */
    val_max_len?: number;
    /** Accepted and ignored, as in the original. */
    reduce_val?: number;
    /** Extension: the IP address to bind when it is not `addr` (e.g. "0.0.0.0" behind NAT). */
    bind?: string;
    /** Extension: timings to start from: "default" (1 s), "lan", "wan" or "local" (100 ms). */
    preset?: 'default' | 'lan' | 'wan' | 'local';
    /** Extension: only nodes with the same cluster id talk. Default "leviathan". */
    cluster_id?: string;
    /** Extension: engine events buffered before the forwarding task misses some. Default 65536. */
    event_buffer?: number;
  }

  interface Member {
    /** Its id (alias, or "addr:port"). */
    id: PeerId;
    /** Its advertised address, "addr:port". */
    address: string;
    /** Its generation: start time in ms since 1970 (a restart gets a larger one). */
    generation: number;
    state: 'live' | 'suspect' | 'dead' | 'left';
    /** φ of its answers to this node's probes, if this node watches it. */
    phi?: number;
    /** Live keys known here. */
    keys: number;
    isLocal: boolean;
  }
}

declare class Gossip extends EventEmitter {
  /** Checks `cfg`: an Error whose message starts "invalid option NAME:" if one is bad. */
  constructor(cfg?: Gossip.Config);
  /** Starts the node (binds the UDP port); callback(err) once started or failed. */
  run(callback?: (err: Error | null) => void): this;
  /** This node's id: its alias, else "addr:port". */
  readonly id: Gossip.PeerId;
  /** Its advertised "addr:port" (once running). */
  readonly address: string;
  /** Its generation (once running). */
  readonly generation: number;
  /** Writes one of this node's keys; returns the write's version. Throws a TypeError for a value JSON cannot carry. */
  set(k: string, v: Gossip.JsonValue): number;
  /** Writes raw bytes; Node.js peers read bytes that are not JSON text as a Buffer. */
  setRaw(k: string, bytes: Uint8Array): number;
  /** Peer `r`'s value of `k` (r: an id or "addr:port"); undefined if unknown or deleted. */
  get(r: string, k: string): Gossip.Value | undefined;
  /** Peer `r`'s version of `k`; 0 if unknown or deleted. */
  getn(r: string, k: string): number;
  /** Deletes one of this node's keys: the deletion's version, or null if it was not set. */
  del(k: string): number | null;
  /** Every member known, this node included. */
  members(): Gossip.Member[];
  /** Largest value set() accepts for `k`, in bytes of JSON text. */
  maxValueLen(k: string): number;
  /** Announces a graceful leave, then stops; resolves after the last event was emitted. */
  leave(): Promise<void>;
  /** Stops without announcing anything; resolves after the last event was emitted. */
  stop(): Promise<void>;

  on(event: 'peers_discover' | 'peers_recover' | 'peers_suspend' | 'peers_dead' | 'peers_left' | 'peers_removed', listener: (peers: Gossip.PeerId[]) => void): this;
  on(event: 'updates', listener: (deltas: Gossip.Delta[]) => void): this;
  on(event: 'delete', listener: (deletions: Gossip.Deletion[]) => void): this;
  on(event: 'peer_restarted', listener: (peer: Gossip.PeerId, generation: number) => void): this;
  on(event: 'duplicate_name', listener: (address: string, generation: number) => void): this;
  on(event: 'events_lost', listener: (missed: number) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'peers_discover' | 'peers_recover' | 'peers_suspend' | 'peers_dead' | 'peers_left' | 'peers_removed', listener: (peers: Gossip.PeerId[]) => void): this;
  once(event: 'updates', listener: (deltas: Gossip.Delta[]) => void): this;
  once(event: 'delete', listener: (deletions: Gossip.Deletion[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export = Gossip;
