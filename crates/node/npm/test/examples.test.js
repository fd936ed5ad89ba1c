// The original's four-console example (examples/peer_1.js … peer_4.js, ports 3000–3003,
// nodes 1 and 4 the seeds), run as it is: every node finds the three others and gets
// their keys.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { eventually } = require('../testing/helpers');

async function portFree(port) {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    try {
      socket.close();
    } catch {}
  }
}

test('the four-console example converges', async (t) => {
  for (const port of [3000, 3001, 3002, 3003]) {
    if (!(await portFree(port))) {
      t.skip(`UDP port ${port} on 127.0.0.1 is in use`);
      return;
    }
  }
  const peers = [1, 2, 3, 4].map((i) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', `peer_${i}.js`)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const peer = { i, child, out: '' };
    child.stdout.on('data', (chunk) => (peer.out += chunk));
    return peer;
  });
  t.after(() => Promise.all(peers.map(({ child }) => {
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    return exited;
  })));
  for (const peer of peers) {
    const others = [1, 2, 3, 4].filter((j) => j !== peer.i);
    await eventually(`node#0${peer.i} to get the others' keys`, () =>
      others.every((j) => peer.out.includes(`'node#0${j}', 'k${j}', 'v${j}'`) && peer.out.includes(`'node#0${j}', 'p${j}', 'v${j}'`)),
      30_000,
    );
    for (const j of others) assert.match(peer.out, new RegExp(`found new peers:.*node#0${j}`, 's'));
    assert.doesNotMatch(peer.out, /peers become suspend/);
  }
});
