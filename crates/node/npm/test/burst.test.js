// No event is lost: a burst of 10,000 writes in another process reaches a listener that is
// slow on purpose, every one of them, in order per key.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Gossip = require('..');
const { FAST, freeUdpPorts, eventually, Peer } = require('../testing/helpers');

const WRITES = 10_000;

test(`a burst of ${WRITES} writes arrives whole at a slow listener`, async (t) => {
  const [pw, pr] = await freeUdpPorts(2);
  const writer = await Peer.start({ ...FAST, alias: 'writer', port: pw });
  t.after(() => writer.kill());
  const reader = new Gossip({ ...FAST, alias: 'reader', port: pr, seeds: [`127.0.0.1:${pw}`] });
  const seen = new Map();
  let events = 0;
  let updates = 0;
  reader.on('updates', (deltas) => {
    events++;
    // The event loop stalls for a second at the start of the burst: the engine keeps
    // going meanwhile, and what it delivers waits in the queue.
    if (events === 1) {
      const until = performance.now() + 1000;
      while (performance.now() < until);
    }
    // A slow listener: about 20 µs of work per update, on the event loop.
    const until = performance.now() + 0.02 * deltas.length;
    while (performance.now() < until);
    for (const [id, key, value, version] of deltas) {
      updates++;
      if (id !== 'writer') continue;
      assert.ok(!seen.has(key) || seen.get(key).version < version, `${key} went back`);
      seen.set(key, { value, version });
    }
  });
  reader.run();
  t.after(() => reader.stop());
  await eventually('the reader to discover the writer', () =>
    reader.members().some((member) => member.id === 'writer'),
  );

  const took = await writer.call('burst', WRITES, 'b');
  t.diagnostic(`${WRITES} writes took ${took.toFixed(1)} ms in the writer`);
  const started = performance.now();
  await eventually(`all ${WRITES} keys (have ${seen.size})`, () => seen.size === WRITES, 120_000);
  const elapsed = performance.now() - started;
  t.diagnostic(`${updates} updates in ${events} events, all keys after ${elapsed.toFixed(0)} ms`);
  for (let i = 0; i < WRITES; i++) {
    assert.deepEqual(seen.get(`b${i}`), { value: i, version: i + 1 }, `b${i}`);
  }
});
