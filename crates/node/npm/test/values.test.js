// Values travel as JSON: every JSON type round-trips between two nodes, values JSON cannot
// carry are refused (nothing written), bytes that are not JSON arrive as a Buffer; bad
// options are refused with an Error naming the option.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const Gossip = require('..');
const { FAST, freeUdpPorts, eventually } = require('../testing/helpers');

/// Two nodes in this process; b seeds through a.
async function pair(t) {
  const [pa, pb] = await freeUdpPorts(2);
  const a = new Gossip({ ...FAST, alias: 'a', port: pa }).run();
  const b = new Gossip({ ...FAST, alias: 'b', port: pb, seeds: [`127.0.0.1:${pa}`] }).run();
  const received = new Map();
  b.on('updates', (deltas) => {
    for (const [id, key, value, version] of deltas) received.set(`${id}/${key}`, { value, version });
  });
  t.after(() => Promise.all([a.stop(), b.stop()]));
  return { a, b, received };
}

const VALUES = {
  string: 'héllo, 世界 \u{1F600} "quoted" \\ \n',
  empty_string: '',
  lone_surrogate: 'a\uD800b',
  integer: 42,
  negative: -7,
  float: 3.141592653589793,
  tiny: 5e-324,
  huge: 1.7976931348623157e308,
  max_safe: Number.MAX_SAFE_INTEGER,
  true: true,
  false: false,
  null: null,
  empty_array: [],
  array: [1, 'two', null, false, [3, [4]], { five: 5 }],
  empty_object: {},
  object: { a: 1, nested: { b: [true, null], 'odd key': 'x', __proto__key: 0 }, c: 'd' },
};

test('values of every JSON type round-trip between nodes, in events and get()', async (t) => {
  const { a, b, received } = await pair(t);
  const versions = new Map();
  for (const [key, value] of Object.entries(VALUES)) {
    // Versions count the owner's writes: each write takes the next one.
    versions.set(key, a.set(key, value));
    assert.equal(versions.get(key), versions.size, key);
    assert.deepEqual(a.get('a', key), value, `${key} read locally`);
  }
  for (const [key, value] of Object.entries(VALUES)) {
    const got = await eventually(`b to receive ${key}`, () => received.get(`a/${key}`));
    assert.deepEqual(got, { value, version: versions.get(key) }, key);
    assert.deepEqual(b.get('a', key), value, `${key} read on b`);
    assert.equal(b.getn('a', key), versions.get(key));
  }
  // Property order survives (JSON text is kept as written).
  assert.deepEqual(Object.keys(b.get('a', 'object')), ['a', 'nested', 'c']);
  assert.equal(b.get('a', 'never-set'), undefined);
});

test('raw bytes that are not JSON text arrive as a Buffer, byte for byte', async (t) => {
  const { a, b, received } = await pair(t);
  const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
  const text = Buffer.from('plain text, not JSON');
  const json = Buffer.from('{"x":[1,2]}');
  a.setRaw('binary', binary);
  a.setRaw('text', text);
  a.setRaw('json', json);
  a.setRaw('empty', new Uint8Array(0));
  await eventually('the raw values', () => ['binary', 'text', 'json', 'empty'].every((k) => received.has(`a/${k}`)));
  assert.ok(Buffer.isBuffer(received.get('a/binary').value));
  assert.deepEqual(received.get('a/binary').value, binary);
  assert.deepEqual(b.get('a', 'binary'), binary);
  assert.deepEqual(received.get('a/text').value, text);
  assert.deepEqual(b.get('a', 'text'), text);
  assert.deepEqual(received.get('a/json').value, { x: [1, 2] }, 'JSON text is JSON, however written');
  assert.deepEqual(received.get('a/empty').value, Buffer.alloc(0));
});

test('values JSON cannot carry are refused with a clear error, and nothing is written', async (t) => {
  const { a } = await pair(t);
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  const cycle = { name: 'c' };
  cycle.self = cycle;
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const decorated = [1, 2];
  decorated.extra = true;
  const cases = [
    [undefined, /value is undefined/],
    [() => 1, /value is a function/],
    [Symbol('s'), /value is a symbol/],
    [10n, /value is a BigInt/],
    [NaN, /value is NaN/],
    [Infinity, /value is Infinity/],
    [-Infinity, /value is -Infinity/],
    [{ a: undefined }, /value\.a is undefined/],
    [{ a: [1, { b: NaN }] }, /value\.a\[1\]\.b is NaN/],
    [{ 'odd key': 1n }, /value\["odd key"\] is a BigInt/],
    [[undefined], /value\[0\] is undefined/],
    [cycle, /value\.self refers back to an enclosing object/],
    [sparse, /holes/],
    [decorated, /properties besides its elements/],
    [new Date(0), /value is a Date, not a plain object/],
    [new Map(), /value is a Map/],
    [Buffer.from('x'), /not a plain object/],
    [new Point(), /value is a Point/],
    [{ [Symbol('k')]: 1 }, /symbol keys/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => a.set('k', value), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      assert.match(error.message, /^set\("k"\): .*JSON cannot carry; nothing was written$/);
      return true;
    });
  }
  assert.equal(a.getn('a', 'k'), 0, 'no refused value was written');
  // The same object twice (not a cycle) is fine.
  const shared = { s: 1 };
  assert.equal(a.set('k', [shared, shared]), 1);

  assert.throws(() => a.set('big', 'x'.repeat(5000)), /^Error: set\("big"\): value of 5002 bytes is too large/);
  assert.throws(() => a.set('', 1), /set\(""\): invalid key "": must not be empty/);
  assert.throws(() => a.set(7, 1), /set: the key must be a string, got a number/);
  assert.throws(() => a.setRaw('k', 'text'), /must be a Buffer or Uint8Array/);
  assert.ok(a.maxValueLen('k') > 1000);
});

test('bad options are refused with an Error that names the option', () => {
  const cases = [
    [{ gossip_val: 0 }, 'gossip_val'],
    [{ heartbeat_val: -1 }, 'heartbeat_val'],
    [{ health_check_val: Infinity }, 'health_check_val'],
    [{ gossip_val: '1000' }, 'gossip_val'],
    [{ phi_threshold: 0 }, 'phi_threshold'],
    [{ val_max_len: 1 }, 'val_max_len'],
    [{ port: 70000 }, 'port'],
    [{ port: 1.5 }, 'port'],
    [{ port: '3000' }, 'port'],
    [{ addr: 'not an ip' }, 'addr'],
    [{ alias: '' }, 'alias'],
    [{ alias: 3 }, 'alias'],
    [{ seeds: 'a:1' }, 'seeds'],
    [{ seeds: ['nohost'] }, 'seeds'],
    [{ seeds: ['h:0'] }, 'seeds'],
    [{ preset: 'fast' }, 'preset'],
    [{ cluster_id: '' }, 'cluster_id'],
    [{ gosip_val: 1000 }, 'gosip_val'],
  ];
  for (const [cfg, option] of cases) {
    assert.throws(
      () => new Gossip(cfg),
      (error) => {
        assert.ok(error instanceof Error);
        assert.ok(
          error.message.startsWith(`invalid option ${option}: `),
          `${JSON.stringify(cfg)} → ${error.message}`,
        );
        return true;
      },
    );
  }
  assert.throws(() => new Gossip('cfg'), /cfg must be an object/);
  // reduce_val is accepted and ignored, as in the original.
  assert.equal(new Gossip({ reduce_val: 10_000, addr: '10.0.0.1', port: 2333 }).id, '10.0.0.1:2333');
});

test('run reports a port in use to its callback; methods need a running node', async (t) => {
  const [port] = await freeUdpPorts(1);
  const first = new Gossip({ ...FAST, port }).run();
  t.after(() => first.stop());
  const second = new Gossip({ ...FAST, port });
  assert.throws(() => second.set('k', 1), /not started: call run\(\) first/);
  const error = await new Promise((resolve) => second.run(resolve));
  assert.match(error.message, /cannot start the gossip node: cannot bind UDP socket/);
  assert.throws(() => new Gossip({ ...FAST, port }).run(), /cannot bind/);
  const ok = await new Promise((resolve) => first.run(resolve));
  assert.match(ok.message, /already started/);
  await first.stop();
  assert.throws(() => first.set('k', 1), /shut down/);
});
