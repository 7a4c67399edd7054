/**
 * The pickle reader and writer on their own: LONG1 two's complement at the byte boundaries (against the
 * bytes CPython's encode_long gives), int/float choice for JS numbers, memo indices past 255 (LONG_BINPUT),
 * lists that contain themselves, protocol-0 text opcodes, and a write/read round trip of every value kind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  pickle,
  PyFloat,
  pyFloat,
  PyOrderedDict,
  PyTuple,
  pyTuple,
  type PyValue,
  TorchDevice,
  TorchDType,
  unpickle,
} from '../../src/torch/serialization/index.js';
import { decodeLong } from '../../src/torch/serialization/pickle.js';
import { encodeLong } from '../../src/torch/serialization/pickle-write.js';
import { describe } from './describe.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test("LONG1 encoding matches CPython encode_long and decodes back (signed two's complement)", () => {
  // pickle.encode_long(x).hex() for each x, from CPython 3.11.
  const known: [bigint, string][] = [
    [0n, ''],
    [1n, '01'],
    [-1n, 'ff'],
    [127n, '7f'],
    [128n, '8000'],
    [-128n, '80'],
    [-129n, '7fff'],
    [255n, 'ff00'],
    [256n, '0001'],
    [-256n, '00ff'],
    [32767n, 'ff7f'],
    [32768n, '008000'],
    [2n ** 63n - 1n, 'ffffffffffffff7f'],
    [-(2n ** 63n), '0000000000000080'],
    [2n ** 64n, '000000000000000001'],
    [-(2n ** 64n), '0000000000000000ff'],
  ];
  for (const [v, h] of known) {
    assert.equal(hex(encodeLong(v)), h, `encode ${v}`);
    const back = decodeLong(Buffer.from(h, 'hex'));
    assert.equal(BigInt(back), v, `decode ${h}`);
    assert.equal(typeof back, v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? 'number' : 'bigint', `type of ${v}`);
  }
  for (let bits = 0; bits < 1100; bits += 37) {
    for (const v of [2n ** BigInt(bits), -(2n ** BigInt(bits)), 2n ** BigInt(bits) - 1n, -(2n ** BigInt(bits)) + 1n]) {
      assert.equal(BigInt(decodeLong(encodeLong(v))), v);
      assert.equal(BigInt(unpickle(pickle(v)) as number | bigint), v);
    }
  }
});

test('JS numbers: safe integers are ints, everything else (and -0) floats; PyFloat forces a float', () => {
  const opcodeAfterProto = (v: PyValue): number => pickle(v)[2]!;
  assert.equal(opcodeAfterProto(1), 0x4b); // BININT1
  assert.equal(opcodeAfterProto(300), 0x4d); // BININT2
  assert.equal(opcodeAfterProto(-5), 0x4a); // BININT
  assert.equal(opcodeAfterProto(2 ** 40), 0x8a); // LONG1
  assert.equal(opcodeAfterProto(pyFloat(1)), 0x47); // BINFLOAT
  assert.equal(opcodeAfterProto(0.5), 0x47);
  assert.equal(opcodeAfterProto(-0), 0x47);
  assert.equal(opcodeAfterProto(2 ** 60), 0x47, 'a number past 2^53 is not a trustworthy int: written as float');
  // BINFLOAT is big-endian (pickle.py save_float).
  assert.equal(hex(pickle(pyFloat(1)).subarray(3, 11)), '3ff0000000000000');
  const back = unpickle(pickle([pyFloat(1), 2.5, -0, NaN, -Infinity]), { preserveFloats: true }) as PyValue[];
  assert.ok(back.every((x) => x instanceof PyFloat));
  assert.deepStrictEqual(
    back.map((x) => (x as PyFloat).value),
    [1, 2.5, -0, NaN, -Infinity],
  );
  assert.deepStrictEqual(unpickle(pickle([pyFloat(1), 2.5])), [1, 2.5], 'plain numbers by default');
});

test('memo past 255 entries, shared objects stay shared, a list may contain itself', () => {
  const tuples = Array.from({ length: 300 }, (_, i) => pyTuple(i, `t${i}`));
  const bytes = pickle([tuples, tuples]);
  assert.ok(bytes.includes(0x72), 'LONG_BINPUT used'); // 'r'
  const back = unpickle(bytes) as PyValue[][];
  assert.equal(back[0], back[1]);
  assert.equal(back[0]!.length, 300);
  const selfish: PyValue[] = [1];
  selfish.push(selfish);
  const loop = unpickle(pickle(selfish)) as PyValue[];
  assert.equal(loop[1], loop);
});

test('protocol-0 text opcodes (INT, LONG, FLOAT, LIST, DICT, PUT, GET, POP, DUP) decode', () => {
  const text = '(lp0\nI1\naI01\naL12345678901234567890L\naF2.5\nag0\na(dp1\nI3\nI4\nsaI9\n020.';
  const v = unpickle(Uint8Array.from(text, (c) => c.charCodeAt(0))) as PyValue[];
  assert.equal(v[0], 1);
  assert.equal(v[1], true);
  assert.equal(v[2], 12345678901234567890n);
  assert.equal(v[3], 2.5);
  assert.equal(v[4], v, 'GET of the list itself');
  assert.deepStrictEqual(v[5], new Map([[3, 4]]));
  assert.equal(v.length, 6, 'POP dropped the 9 and the DUP copy of the list');
});

test('every value kind round-trips through the writer and reader', () => {
  const od = new PyOrderedDict();
  od.set('a', 1);
  od.attrs = new Map<string, PyValue>([['_metadata', new Map([['', new Map([['version', 1]])]])]]);
  const value = new Map<PyValue, PyValue>([
    ['none', null],
    ['t', true],
    ['f', false],
    ['int', -123456],
    ['big', -(2n ** 100n)],
    ['float', pyFloat(3)],
    ['str', 'ünï \u{1f4dc}'],
    ['bytes', Uint8Array.from([0, 128, 255])],
    ['list', [1, [2, []]]],
    ['tuple', pyTuple(1, pyTuple(), pyTuple(2, 3, 4, 5))],
    ['set', new Set([1, 'a'])],
    ['od', od],
    [7, 'int key'],
    [pyTuple(1, 2), 'tuple key'],
    ['device', new TorchDevice('cuda', 2)],
    ['dtype', new TorchDType('bfloat16')],
    ['long', Array.from({ length: 2345 }, (_, i) => i)],
  ]);
  const back = unpickle(pickle(value), { preserveFloats: true });
  assert.deepStrictEqual(describe(back), describe(value));
  const backOd = (back as Map<PyValue, PyValue>).get('od');
  assert.ok(backOd instanceof PyOrderedDict);
  assert.deepStrictEqual([...backOd.keys()], ['a'], '_metadata is an attribute, not a key');
  assert.ok(backOd.attrs?.has('_metadata'));
  assert.ok((back as Map<PyValue, PyValue>).get('tuple') instanceof PyTuple);
  const dt = (back as Map<PyValue, PyValue>).get('dtype');
  assert.ok(dt instanceof TorchDType && dt.dtype === 'bfloat16');
  assert.equal(new TorchDType('half').dtype, 'float16');
  assert.equal(new TorchDType('complex64').dtype, undefined);
});
