// Events per second a Node.js process receives: a child writes N distinct keys in one
// loop; this process stalls its event loop for 8 s at the first update (the whole burst
// is then queued in the addon), then measures how fast it drains the queue.
//   node bench/burst.js [N]        (build the addon first: npm run build)
'use strict';

const { fork } = require('node:child_process');
const Gossip = require('..');

const PRESET = { preset: 'local', addr: '127.0.0.1', port: 0 };

if (process.argv[2] === 'child-burst') {
  const writer = new Gossip({ ...PRESET, alias: 'writer', seeds: [process.argv[3]] }).run();
  const count = Number(process.argv[4]);
  writer.once('peers_discover', () => {
    for (let i = 0; i < count; i++) writer.set(`b${i}`, i);
  });
  process.on('disconnect', () => process.exit(0));
} else {
  main(Number(process.argv[2] || 10000));
}

async function main(writes) {
  const node = new Gossip({ ...PRESET, alias: 'reader' }).run();
  let keys = 0;
  let drainStarted = null;
  let events = 0;
  const finished = new Promise((resolve) => {
    node.on('updates', (deltas) => {
      events++;
      if (drainStarted === null) {
        const until = performance.now() + 8000;
        while (performance.now() < until);
        drainStarted = performance.now();
      }
      for (const [, key] of deltas) if (key.startsWith('b')) keys++;
      if (keys >= writes) resolve(performance.now());
    });
  });
  const child = fork(__filename, ['child-burst', node.address, String(writes)], { stdio: 'inherit' });
  const done = await finished;
  child.disconnect();
  child.kill();
  await node.stop();
  const ms = done - drainStarted;
  console.log(
    `node reader drained ${keys} queued updates (${events} events) in ${ms.toFixed(1)} ms: ${Math.round((keys / ms) * 1000)} updates/s`,
  );
}
