// Events that happen before any listener is attached are kept, not dropped: a node whose
// event loop is busy right after run() still hears of its first peer and its keys.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Gossip = require('..');
const { FAST, freeUdpPorts, eventually } = require('../testing/helpers');

test('events before the first listener are emitted to it', async (t) => {
  const [pa, pb] = await freeUdpPorts(2);
  const a = new Gossip({ ...FAST, alias: 'a', port: pa }).run();
  t.after(() => a.stop());
  a.set('early', 'bird');
  const b = new Gossip({ ...FAST, alias: 'b', port: pb, seeds: [`127.0.0.1:${pa}`] }).run();
  t.after(() => b.stop());
  // The engine discovers a and receives its key while this thread is busy…
  const until = Date.now() + 1500;
  while (Date.now() < until);
  assert.equal(b.get('a', 'early'), 'bird', 'the engine got the key meanwhile');
  // …and the events wait for the listeners attached afterwards.
  const discovered = [];
  const updates = [];
  b.on('peers_discover', (peers) => discovered.push(...peers));
  b.on('updates', (deltas) => updates.push(...deltas));
  await eventually('the queued events', () => discovered.includes('a') && updates.length > 0);
  assert.deepEqual(updates, [['a', 'early', 'bird', 1]]);
});

test('stop() resolves after the last event was emitted, and delivery then ends', async (t) => {
  const [pa, pb] = await freeUdpPorts(2);
  const a = new Gossip({ ...FAST, alias: 'a', port: pa }).run();
  t.after(() => a.stop());
  const b = new Gossip({ ...FAST, alias: 'b', port: pb, seeds: [`127.0.0.1:${pa}`] }).run();
  let left = false;
  a.on('peers_left', (peers) => (left ||= peers.includes('b')));
  await eventually('b to know a', () => b.members().length === 2);
  await b.leave();
  await eventually('a to hear b leave', () => left);
  const states = Object.fromEntries(a.members().map((m) => [m.id, m.state]));
  assert.deepEqual(states, { a: 'live', b: 'left' });
  await assert.rejects(b.leave(), /shut down/);
  await b.stop(); // idempotent
});
