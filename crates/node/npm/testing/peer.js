// A gossip node in its own process, driven by the tests over the IPC channel: it forwards
// every event to the parent and runs the methods the parent asks for.
//   fork(peer.js, [JSON.stringify(cfg)])
//   parent → child: { id, method, args }      child → parent: { id, result } | { id, error }
//   child → parent: { event, args } for every event, { ready, id, address } once running
'use strict';

const Gossip = require('..');

const gossip = new Gossip(JSON.parse(process.argv[2]));
const EVENTS = [
  'peers_discover',
  'peers_recover',
  'peers_suspend',
  'peers_dead',
  'peers_left',
  'peers_removed',
  'peer_restarted',
  'updates',
  'delete',
  'events_lost',
];
for (const name of EVENTS) {
  gossip.on(name, (...args) => process.connected && process.send({ event: name, args }));
}
gossip.run((error) => {
  if (error) {
    process.send({ failed: error.message });
    process.exit(1);
  }
  process.send({ ready: true, id: gossip.id, address: gossip.address });
});

/// Test-only calls besides the Gossip methods.
const EXTRA = {
  /// `count` writes in one synchronous loop: keys `${prefix}0`…, values their index.
  burst(count, prefix) {
    const started = performance.now();
    for (let i = 0; i < count; i++) gossip.set(`${prefix}${i}`, i);
    return performance.now() - started;
  },
};

process.on('message', async ({ id, method, args }) => {
  try {
    const target = EXTRA[method] ? EXTRA : gossip;
    const result = await target[method](...args);
    process.send({ id, result: result === undefined ? null : result });
    if (method === 'stop' || method === 'leave') process.disconnect();
  } catch (error) {
    process.send({ id, error: error.message });
  }
});
