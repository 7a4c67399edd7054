/**
 * safetensors both ways against an independent reader/writer (json + struct in the fixture script, written
 * from the format's README; Debian has no safetensors package), header ordering and alignment, and the
 * validation of offsets, sizes and dtypes. Also .npy both ways with numpy through the checkpoint API.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DTYPES, DTYPE_SIZE } from '../../src/torch/dtype.js';
import {
  detectFormat,
  encodeSafetensors,
  loadCheckpointFile,
  readSafetensors,
  saveCheckpointFile,
} from '../../src/torch/serialization/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import { describe, type Described, pythonReadNpy, pythonReadSafetensors, tempDir, torchFixtures } from './describe.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;

function bytesOf(dtype: (typeof DTYPES)[number], shape: number[], seed: number): StoredTensor {
  const n = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === 'bool' ? (i + seed) & 1 : (i * 31 + seed * 7) & 0xff;
  return { dtype, shape, data };
}

function sample(): Map<string, StoredTensor> {
  const m = new Map<string, StoredTensor>();
  // int8 first: the writer moves wide dtypes ahead so every tensor's data stays aligned.
  m.set('a.int8', bytesOf('int8', [3], 1));
  DTYPES.forEach((d, i) => m.set(`layer.${d}`, bytesOf(d, [2, 3], i)));
  m.set('10', bytesOf('float32', [1], 9));
  m.set('2', bytesOf('float32', [2], 8));
  m.set('scalar', bytesOf('float64', [], 3));
  m.set('empty', bytesOf('int64', [0, 4], 0));
  return m;
}

function join8(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

test('safetensors TS -> TS keeps names, order, dtypes, bytes and metadata', () => {
  const m = sample();
  const bytes = join8(encodeSafetensors(m, { format: 'pt', note: 'ünïcode' }));
  assert.equal(detectFormat(bytes), 'safetensors');
  const back = readSafetensors(bytes, 'x.safetensors');
  assert.deepStrictEqual(back.metadata, { format: 'pt', note: 'ünïcode' });
  assert.deepStrictEqual(new Set(back.tensors.keys()), new Set(m.keys()));
  for (const [k, t] of m) assert.deepStrictEqual(describe(back.tensors.get(k)!), describe(t), k);
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, 'header padded to 8 bytes');
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLen));
  assert.ok(header.indexOf('"10"') < header.indexOf('"2"'), 'integer-like names keep their given order in the header');
  for (const t of back.tensors.values()) assert.equal(t.data.byteOffset % DTYPE_SIZE[t.dtype], 0, 'aligned data');
});

test('safetensors written by inkwell read by the independent Python reader', { skip }, async () => {
  const m = sample();
  const path = join(tempDir(), 'ts.safetensors');
  await saveCheckpointFile(path, m, { metadata: { epoch: '4' } });
  const r = pythonReadSafetensors<{
    metadata: Record<string, string>;
    names: string[];
    tensors: Record<string, Described & { aligned: boolean }>;
    header_len: number;
  }>(path);
  assert.deepStrictEqual(r.metadata, { epoch: '4' });
  assert.deepStrictEqual(r.names, [...m.keys()]);
  for (const [k, t] of m) {
    const { aligned, ...rest } = r.tensors[k]!;
    assert.deepStrictEqual(rest, describe(t), k);
    assert.equal(aligned, true, `${k} aligned`);
  }
});

test('safetensors written by the independent Python writer read by inkwell', { skip }, async () => {
  const fx = torchFixtures()!;
  const loaded = await loadCheckpointFile(join(fx.dir, 'py.safetensors'));
  assert.equal(loaded.format, 'safetensors');
  assert.deepStrictEqual(describe(loaded.value), fx.expected['py.safetensors']!.value);
  assert.deepStrictEqual(loaded.metadata, fx.expected['py.safetensors']!.metadata);
});

function craft(header: unknown, dataLen: number, rawHeader?: string): Uint8Array {
  const json = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('safetensors validation: overlaps, holes, sizes, dtypes, trailing bytes and bad headers are errors', () => {
  const t = (offsets: [number, number], shape = [2], dtype = 'F32') => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    ['overlap', craft({ a: t([0, 8]), b: t([4, 12]) }, 12), /overlap or leave a hole/],
    ['hole', craft({ a: t([0, 8]), b: t([12, 20]) }, 20), /overlap or leave a hole/],
    ['size mismatch', craft({ a: t([0, 4]) }, 4), /needs 8 bytes/],
    ['past the end', craft({ a: t([0, 8]) }, 4), /ends at 8|truncated/],
    ['trailing bytes', craft({ a: t([0, 8]) }, 12), /4 bytes after the last tensor/],
    ['unsupported dtype', craft({ a: t([0, 4], [2], 'U16') }, 4), /unsupported dtype "U16"/],
    ['bad shape', craft({ a: t([0, 4], [-1]) }, 4), /bad shape/],
    ['bad offsets', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4), /bad data_offsets/],
    ['metadata not strings', craft({ __metadata__: { a: 1 } }, 0), /not a string/],
    ['not json', craft(null, 0, '{"a": '), /not valid UTF-8 JSON/],
    ['not an object', craft([1, 2], 0), /not a JSON object/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(
      () => readSafetensors(bytes, 'bad.safetensors'),
      (e: Error) => re.test(e.message) && e.message.includes('bad.safetensors'),
      what,
    );
  }
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  assert.throws(() => readSafetensors(huge, 'huge'), /over the 100000000-byte limit/);
  assert.throws(
    () =>
      encodeSafetensors([
        ['a', bytesOf('float32', [1], 0)],
        ['a', bytesOf('float32', [1], 0)],
      ]),
    /duplicate tensor name 'a'/,
  );
  assert.throws(
    () => encodeSafetensors([['a', { dtype: 'float32', shape: [2], data: new Uint8Array(4) }]]),
    /needs 8 bytes, got 4/,
  );
});

test('saveCheckpointFile to .safetensors refuses nested or non-tensor values', async () => {
  const dir = tempDir();
  await assert.rejects(
    saveCheckpointFile(join(dir, 'x.safetensors'), { epoch: 3 }),
    /'epoch' is a int, safetensors holds only tensors/,
  );
  await assert.rejects(saveCheckpointFile(join(dir, 'x.safetensors'), [1, 2]), /flat dict of tensors, got a list/);
});

test('.npy through the checkpoint API: numpy -> inkwell and inkwell -> numpy', { skip }, async () => {
  const fx = torchFixtures()!;
  const loaded = await loadCheckpointFile(join(fx.dir, 'py.npy'));
  assert.equal(loaded.format, 'npy');
  assert.deepStrictEqual(describe(loaded.value), fx.expected['py.npy']!.value);
  const dir = tempDir();
  const dtypes = DTYPES.filter((d) => d !== 'bfloat16');
  for (const dtype of dtypes) await saveCheckpointFile(join(dir, `${dtype}.npy`), bytesOf(dtype, [2, 3], 5));
  const read = pythonReadNpy(...dtypes.map((d) => join(dir, `${d}.npy`)));
  dtypes.forEach((dtype, i) => assert.deepStrictEqual(read[i]!.value, describe(bytesOf(dtype, [2, 3], 5)), dtype));
});

test('.npy: a single tensor only; bfloat16 has no numpy dtype', async () => {
  const dir = tempDir();
  await assert.rejects(saveCheckpointFile(join(dir, 'x.npy'), new Map()), /\.npy holds one tensor, got a dict/);
  await assert.rejects(saveCheckpointFile(join(dir, 'x.npy'), bytesOf('bfloat16', [2], 0)), /numpy has no bfloat16/);
  const path = join(dir, 'ok.npy');
  await saveCheckpointFile(path, bytesOf('int16', [4], 1));
  writeFileSync(join(dir, 'copy.npy'), readFileSync(path));
  assert.deepStrictEqual(
    describe((await loadCheckpointFile(join(dir, 'copy.npy'))).value),
    describe(bytesOf('int16', [4], 1)),
  );
});
