// Nodes in separate Node.js processes: they find each other, replicate each other's keys
// and see a crashed one suspected.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { FAST, freeUdpPorts, eventually, Peer } = require('../testing/helpers');

test('three Node.js processes converge, then suspect the one killed with SIGKILL', async (t) => {
  const ports = await freeUdpPorts(3);
  const seeds = [`127.0.0.1:${ports[0]}`];
  const peers = await Promise.all(
    ports.map((port, i) => Peer.start({ ...FAST, alias: `n${i + 1}`, port, seeds })),
  );
  t.after(() => Promise.all(peers.map((peer) => peer.kill())));
  const [n1, n2, n3] = peers;

  await Promise.all(peers.map((peer, i) => peer.call('set', `k${i + 1}`, { from: peer.id, i })));

  // Every node discovers the two others by name (events carry names)…
  for (const peer of peers) {
    const others = peers.filter((other) => other !== peer).map((other) => other.id);
    await eventually(`${peer.id} to discover ${others}`, () =>
      others.every((id) => peer.peersIn('peers_discover').includes(id)),
    );
  }
  // …and receives their keys as `updates` [id, key, value, version] …
  for (const peer of peers) {
    for (const [i, owner] of peers.entries()) {
      if (owner === peer) continue;
      const update = await eventually(`${peer.id} to receive k${i + 1}`, () =>
        peer.updates().find(([id, key]) => id === owner.id && key === `k${i + 1}`),
      );
      assert.deepEqual(update, [owner.id, `k${i + 1}`, { from: owner.id, i }, 1]);
    }
  }
  // …and reads them by name and by "addr:port", the original's peer id.
  assert.deepEqual(await n1.call('get', 'n2', 'k2'), { from: 'n2', i: 1 });
  assert.deepEqual(await n1.call('get', n3.address, 'k3'), { from: 'n3', i: 2 });
  assert.equal(await n1.call('getn', n3.address, 'k3'), 1);
  assert.equal(await n1.call('getn', 'n3', 'nope'), 0);
  assert.equal(await n1.call('get', 'nobody', 'k3'), null);

  // A later write and a delete replicate too.
  assert.equal(await n2.call('set', 'k2', 'second'), 2);
  assert.equal(await n2.call('del', 'k2'), 3);
  await eventually('n1 to hear of the delete', () =>
    n1.events.some((e) => e.name === 'delete' && e.args[0].some(([id, key, v]) => id === 'n2' && key === 'k2' && v === 3)),
  );
  assert.equal(await n1.call('get', 'n2', 'k2'), null);
  assert.equal(await n1.call('getn', 'n2', 'k2'), 0, 'a deleted key has no version to read');

  // kill -9: no leave announced; the others' failure detectors must notice.
  await n3.kill('SIGKILL');
  for (const peer of [n1, n2]) {
    await eventually(`${peer.id} to suspect n3`, () => peer.peersIn('peers_suspend').includes('n3'));
  }
  assert.ok(!n1.peersIn('peers_suspend').includes('n2'), 'the live node n2 was not suspected');
  const members = await n1.call('members');
  const n3state = members.find((member) => member.id === 'n3').state;
  assert.ok(['suspect', 'dead'].includes(n3state), `n3 is ${n3state}`);

  // Suspect for `dead_after` (5 s with the local preset, less with more alerters): dead.
  await eventually('n1 to declare n3 dead', () => n1.peersIn('peers_dead').includes('n3'));

  // A graceful leave is reported as such, at once.
  await n2.call('leave');
  await eventually('n1 to see n2 leave', () => n1.peersIn('peers_left').includes('n2'));
});
