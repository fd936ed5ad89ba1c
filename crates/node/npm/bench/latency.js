// set → `updates` latency between two Node.js processes (the npm package's measurement;
// crates/node/examples/echo_latency.rs is the same between two Rust processes).
//   node bench/latency.js [N]      (build the addon first: npm run build)
// This process writes `ping` = i; a child sets `pong` = i when its `updates` event brings
// the ping; half the round trip until this process's `updates` event brings the pong is one
// set → updates latency. Each ping after a random pause of up to one gossip interval.
'use strict';

const { fork } = require('node:child_process');
const Gossip = require('..');

const PRESET = { preset: 'local', addr: '127.0.0.1', port: 0 };

if (process.argv[2] === 'child-echo') {
  const echo = new Gossip({ ...PRESET, alias: 'echo', seeds: [process.argv[3]] });
  echo.on('updates', (deltas) => {
    for (const [, key, value] of deltas) if (key === 'ping') echo.set('pong', value);
  });
  echo.run();
  process.on('disconnect', () => process.exit(0));
} else {
  main(Number(process.argv[2] || 200));
}

async function main(pings) {
  const node = new Gossip({ ...PRESET, alias: 'pinger' }).run();
  let waiting = null;
  node.on('updates', (deltas) => {
    for (const [, key, value] of deltas) {
      if (key === 'pong' && waiting && value === waiting.i) waiting.resolve(performance.now());
    }
  });
  const child = fork(__filename, ['child-echo', node.address], { stdio: 'inherit' });
  const samples = [];
  for (let i = 0; i <= pings; i++) {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 100));
    const started = performance.now();
    const done = new Promise((resolve) => (waiting = { i, resolve }));
    node.set('ping', i);
    const at = await done;
    if (i > 0) samples.push((at - started) / 2);
  }
  child.disconnect();
  child.kill();
  await node.stop();
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.round((samples.length - 1) * p)];
  console.log(
    `node set->updates latency over ${samples.length} pings: median ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms`,
  );
}
