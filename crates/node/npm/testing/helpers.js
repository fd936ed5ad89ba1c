// Helpers of the tests: free ports, nodes in child processes, bounded waits.
'use strict';

const { fork, spawn, execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');

/// Generous bound for anything that takes a few 100 ms gossip rounds.
const PATIENCE_MS = 20_000;

/// The timings of the tests: 100 ms rounds and probes (the engine's `local` preset).
const FAST = { preset: 'local', addr: '127.0.0.1' };

/// `n` UDP ports free on 127.0.0.1 when asked (the OS rarely hands them out again at once).
async function freeUdpPorts(n) {
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const socket = dgram.createSocket('udp4');
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    sockets.push(socket);
  }
  const ports = sockets.map((socket) => socket.address().port);
  await Promise.all(sockets.map((socket) => new Promise((resolve) => socket.close(resolve))));
  return ports;
}

/// A TCP port free on 127.0.0.1.
async function freeTcpPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/// Polls `probe` until it returns a truthy value, which is returned; fails after `ms`.
async function eventually(what, probe, ms = PATIENCE_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/// A node in a child process (test/peer.js), with every event it emitted.
class Peer {
  static async start(cfg) {
    const peer = new Peer(cfg);
    await peer.ready;
    return peer;
  }

  constructor(cfg) {
    this.child = fork(path.join(__dirname, 'peer.js'), [JSON.stringify(cfg)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.events = [];
    this.pending = new Map();
    this.nextId = 1;
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message) => {
        if (message.ready) {
          this.id = message.id;
          this.address = message.address;
          resolve();
        } else if (message.failed) {
          reject(new Error(`peer failed to start: ${message.failed}`));
        } else if (message.event) {
          this.events.push({ name: message.event, args: message.args, at: performance.now() });
        } else if (this.pending.has(message.id)) {
          const { resolve: done, reject: fail } = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error !== undefined) fail(new Error(message.error));
          else done(message.result);
        }
      });
      this.child.on('exit', (code, signal) => reject(new Error(`peer exited (${code ?? signal})`)));
    });
  }

  /// Calls `method(...args)` on the child's Gossip.
  call(method, ...args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, method, args });
    });
  }

  /// Every peer id in this node's `name` events so far.
  peersIn(name) {
    return this.events.filter((event) => event.name === name).flatMap((event) => event.args[0]);
  }

  /// Every update [id, key, value, version] received so far.
  updates() {
    return this.events.filter((event) => event.name === 'updates').flatMap((event) => event.args[0]);
  }

  kill(signal = 'SIGKILL') {
    this.child.kill(signal);
    return this.exited;
  }
}

/// The Rust agent binary: $LEVIATHAN_GOSSIP_AGENT_BIN, else target/debug/leviathan-gossip
/// of the workspace (honouring CARGO_TARGET_DIR); null if not built.
function agentBinary() {
  if (process.env.LEVIATHAN_GOSSIP_AGENT_BIN) return process.env.LEVIATHAN_GOSSIP_AGENT_BIN;
  const workspace = path.resolve(__dirname, '..', '..', '..', '..');
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(workspace, process.env.CARGO_TARGET_DIR)
    : path.join(workspace, 'target');
  const binary = path.join(target, 'debug', 'leviathan-gossip');
  return fs.existsSync(binary) ? binary : null;
}

/// A Rust agent process (`leviathan-gossip agent --preset local`), its events (JSON lines
/// on its stdout) collected.
class Agent {
  constructor(binary, { name, port, adminPort, seeds }) {
    this.binary = binary;
    this.name = name;
    this.admin = `127.0.0.1:${adminPort}`;
    this.child = spawn(
      binary,
      [
        'agent', '--preset', 'local', '--name', name,
        '--listen', `127.0.0.1:${port}`, '--admin', this.admin, '--seed', seeds.join(','),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } },
    );
    this.stdout = '';
    this.stderr = '';
    this.child.stdout.on('data', (chunk) => (this.stdout += chunk));
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
  }

  /// Runs a client subcommand against this agent's admin API; its stdout.
  client(...args) {
    const [command, ...rest] = args;
    return execFileSync(this.binary, [command, '--admin', this.admin, ...rest], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /// `get NODE KEY`, or null if the agent does not know it (exit 1).
  get(node, key) {
    try {
      return this.client('get', node, key);
    } catch {
      return null;
    }
  }

  kill() {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

module.exports = { PATIENCE_MS, FAST, freeUdpPorts, freeTcpPort, eventually, Peer, Agent, agentBinary };
