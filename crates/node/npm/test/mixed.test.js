// A mixed cluster: Node.js processes and the Rust agent (`leviathan-gossip agent`) are
// members of one cluster and replicate each other's keys.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { FAST, freeUdpPorts, freeTcpPort, eventually, Peer, Agent, agentBinary } = require('../testing/helpers');

const binary = agentBinary();
const MISSING =
  'the agent binary is not built (cargo build -p leviathan-gossip-agent, or set LEVIATHAN_GOSSIP_AGENT_BIN)';
// Without the binary the test fails, unless LEVIATHAN_GOSSIP_SKIP_AGENT=1 says to skip it.
const skip = binary === null && process.env.LEVIATHAN_GOSSIP_SKIP_AGENT === '1' ? MISSING : false;

test('Node.js processes and the Rust agent replicate each other\'s keys', { skip }, async (t) => {
  assert.ok(binary, MISSING);
  const [p1, p2, pa] = await freeUdpPorts(3);
  const admin = await freeTcpPort();
  const js1 = await Peer.start({ ...FAST, alias: 'js1', port: p1 });
  t.after(() => js1.kill());
  const agent = new Agent(binary, { name: 'rust', port: pa, adminPort: admin, seeds: [`127.0.0.1:${p1}`] });
  t.after(() => agent.kill());
  // js2 knows only the agent: it joins the cluster through it.
  const js2 = await Peer.start({ ...FAST, alias: 'js2', port: p2, seeds: [`127.0.0.1:${pa}`] });
  t.after(() => js2.kill());

  await eventually('the agent to serve its admin API', () => tryMembers(agent));
  await js1.call('set', 'from-js1', { list: [1, 2, 3], ok: true });
  await js2.call('set', 'from-js2', 'hi');
  agent.client('set', 'json', '{"n":42}');
  agent.client('set', 'text', 'plain text');

  // The agent holds the Node.js nodes' keys, as their JSON text.
  await eventually('the agent to know js1 and js2\'s keys', () =>
    agent.get('js1', 'from-js1') !== null && agent.get('js2', 'from-js2') !== null,
  );
  assert.equal(agent.get('js1', 'from-js1'), '{"list":[1,2,3],"ok":true}\n');
  assert.equal(agent.get('js2', 'from-js2'), '"hi"\n');
  // Its event stream (JSON lines) reported them as updates.
  await eventually('the agent to print js2\'s update', () => agent.stdout.includes('"from-js2"'));

  // Both Node.js nodes receive the agent's keys: JSON as values, other bytes as a Buffer.
  for (const js of [js1, js2]) {
    const json = await eventually(`${js.id} to receive rust/json`, () =>
      js.updates().find(([id, key]) => id === 'rust' && key === 'json'),
    );
    assert.deepEqual(json[2], { n: 42 });
    const text = await eventually(`${js.id} to receive rust/text`, () =>
      js.updates().find(([id, key]) => id === 'rust' && key === 'text'),
    );
    assert.ok(Buffer.isBuffer(text[2]), 'bytes that are not JSON come as a Buffer');
    assert.equal(text[2].toString('utf8'), 'plain text');
    assert.ok(js.peersIn('peers_discover').includes('rust'));
  }
  // And each other's, whichever way they went.
  await eventually('js2 to receive js1\'s key', () =>
    js2.updates().find(([id, key]) => id === 'js1' && key === 'from-js1'),
  );
  assert.deepEqual(await js2.call('get', 'js1', 'from-js1'), { list: [1, 2, 3], ok: true });
  assert.deepEqual(await js1.call('get', `127.0.0.1:${pa}`, 'json'), { n: 42 });

  // A crashed agent is suspected by the Node.js nodes like any member.
  await agent.kill();
  await eventually('js1 to suspect the agent', () => js1.peersIn('peers_suspend').includes('rust'));
});

function tryMembers(agent) {
  try {
    agent.client('members');
    return true;
  } catch {
    return false;
  }
}
