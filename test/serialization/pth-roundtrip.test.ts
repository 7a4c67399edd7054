/**
 * Checkpoints written by inkwell: torch.load (PyTorch 1.13) reads exactly the values that were written (nested
 * dicts, floats like lr=1.0 that must stay floats, ints up to 2^70, bf16/fp16 bit patterns, shared storages,
 * OrderedDict state dicts with _metadata), the zip layout is torch's (stored, 64-byte aligned, version 3), a
 * state dict passes torch.load(weights_only=True), and PyTorch's own files survive a load/save round trip.
 * The TS->TS round trip runs without PyTorch.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { DTYPES, DTYPE_SIZE } from '../../src/torch/dtype.js';
import {
  encodePth,
  loadCheckpointFile,
  pyFloat,
  PyOrderedDict,
  pyTuple,
  type PyValue,
  type PyWritable,
  readCheckpointBytes,
  saveCheckpointFile,
  TorchDevice,
  TorchDType,
} from '../../src/torch/serialization/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import { describe, tempDir, torchFixtures, torchVerify, type Verified } from './describe.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;

function f32(shape: number[], values: number[]): StoredTensor {
  return { dtype: 'float32', shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

/** A tensor of `dtype` whose bytes count up (every bit pattern is legal for every dtype but bool). */
function pattern(dtype: (typeof DTYPES)[number], n: number, seed: number): StoredTensor {
  const data = new Uint8Array(n * DTYPE_SIZE[dtype]);
  for (let i = 0; i < data.length; i++) data[i] = dtype === 'bool' ? (i + seed) % 2 : (i * 37 + seed) & 0xff;
  return { dtype, shape: [n], data };
}

function stateDict(): PyOrderedDict {
  const sd = new PyOrderedDict();
  sd.set('module.conv.weight', f32([2, 3], [1, 2, 3, 4, 5, 6]));
  sd.set('module.bn.running_mean', f32([2], [0.5, -0.5]));
  sd.set('module.bn.num_batches_tracked', { dtype: 'int64', shape: [], data: new Uint8Array(8) });
  const meta = new PyOrderedDict();
  meta.set('', new Map([['version', 1]]));
  meta.set('module.bn', new Map([['version', 2]]));
  sd.attrs = new Map([['_metadata', meta]]);
  return sd;
}

function authored(): { [key: string]: PyWritable } {
  const shared = f32([3], [1, 2, 3]);
  const bf16: StoredTensor = {
    dtype: 'bfloat16',
    shape: [2, 2],
    data: Uint8Array.from([0x80, 0x3f, 0xc0, 0x7f, 0x80, 0xff, 0x00, 0x80]),
  };
  const fp16: StoredTensor = {
    dtype: 'float16',
    shape: [3],
    data: Uint8Array.from([0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b]),
  };
  return {
    epoch: 12,
    lr: pyFloat(1.0),
    momentum: 0.9,
    weight_decay: pyFloat(0),
    neg: -7,
    minus_zero: -0,
    big: 2n ** 70n,
    neg_big: -(2n ** 64n),
    edge: 2 ** 31,
    edge_neg: -(2 ** 31) - 1,
    unsafe_number: 2 ** 60,
    name: 'r3d_18 \u00e9\u4e16\u{1f4dc}',
    flags: [true, false, null],
    blob: Uint8Array.from([0, 255, 128]),
    empty_blob: new Uint8Array(0),
    pair: pyTuple(1, 'a', null),
    five: pyTuple(1, 2, 3, 4, 5),
    unit: pyTuple(),
    labels: new Set([3, 1]),
    device: new TorchDevice('cuda', 0),
    cpu: new TorchDevice('cpu'),
    dtype: new TorchDType('float16'),
    inf: Infinity,
    nan: NaN,
    nested: new Map<PyWritable, PyWritable>([
      [0, new Map([['momentum_buffer', f32([2], [0.25, 8])]])],
      ['x', { deep: [pyFloat(2.5), 3] }],
    ]),
    state_dict: stateDict(),
    shared_a: shared,
    shared_b: shared,
    bf16,
    fp16,
    grad: { ...f32([1], [4]), requiresGrad: true },
    scalar: { dtype: 'float64', shape: [], data: new Uint8Array(Float64Array.of(Math.PI).buffer) },
    empty: { dtype: 'float32', shape: [0, 3], data: new Uint8Array(0) },
    every_dtype: DTYPES.map((d, i) => pattern(d, 5, i)),
    long_list: Array.from({ length: 2500 }, (_, i) => i * 3),
  };
}

test('inkwell .pth -> inkwell: values, float/int distinction and structure survive', () => {
  const value = authored();
  const chunks = encodePth(value, { archiveName: 'ck' });
  const bytes = Buffer.concat(chunks);
  const back = readCheckpointBytes(bytes, 'ck.pth', { preserveFloats: true });
  assert.equal(back.format, 'pth-zip');
  assert.deepStrictEqual(describe(back.value), describe(value));
  assert.ok(back.value instanceof Map);
  assert.equal(back.value.get('shared_a'), back.value.get('shared_b'));
  const sd = back.value.get('state_dict');
  assert.ok(sd instanceof PyOrderedDict && sd.attrs?.get('_metadata') instanceof PyOrderedDict);
});

const RESAVED = [
  'kinetics_zip.pth',
  'kinetics_legacy.pth',
  'dtypes_legacy.pth',
  'views_zip.pth',
  'views_legacy.pth',
  'bigendian.pth',
  'deflated.pth',
];

/** Everything PyTorch has to check, written first and verified with one Python start. */
interface Written {
  authored: Verified;
  layout: Verified;
  resaved: Map<string, { path: string; original: PyValue; verified: Verified }>;
}
let written: Written | undefined;

before(async () => {
  if (!hasTorchPython()) return;
  const fx = torchFixtures()!;
  const dir = tempDir();
  const paths = [join(dir, 'authored.pth'), join(dir, 'my-model.pth')];
  await saveCheckpointFile(paths[0]!, authored());
  await saveCheckpointFile(paths[1]!, stateDict());
  const originals: PyValue[] = [];
  for (const file of RESAVED) {
    const loaded = await loadCheckpointFile(join(fx.dir, file), { preserveFloats: true });
    const out = join(dir, file.replace('_legacy', '_resaved'));
    await saveCheckpointFile(out, loaded.value);
    originals.push(loaded.value);
    paths.push(out);
  }
  const v = torchVerify(...paths);
  written = {
    authored: v[0]!,
    layout: v[1]!,
    resaved: new Map(RESAVED.map((f, i) => [f, { path: paths[i + 2]!, original: originals[i]!, verified: v[i + 2]! }])),
  };
});

test('inkwell .pth -> torch.load: exact values, floats stay floats, shared storage stays shared', { skip }, () => {
  const v = written!.authored;
  assert.deepStrictEqual(v.value, describe(authored()));
  assert.deepStrictEqual(v.storage_groups, [['shared_a', 'shared_b']]);
});

test("inkwell .pth has torch 1.13's zip layout: <stem>/..., stored, 64-byte aligned, version 3", { skip }, () => {
  const v = written!.layout;
  assert.ok(v.zip);
  assert.deepStrictEqual(
    v.zip.entries.map((e) => e.name),
    [
      'my-model/data.pkl',
      'my-model/byteorder',
      'my-model/data/0',
      'my-model/data/1',
      'my-model/data/2',
      'my-model/version',
    ],
  );
  assert.ok(
    v.zip.entries.every((e) => e.stored && e.aligned64),
    JSON.stringify(v.zip.entries),
  );
  assert.equal(v.zip.crc_ok, true);
  assert.equal(v.zip.version, '3\n');
  assert.equal(v.weights_only, true, 'a state dict written by inkwell loads with torch.load(weights_only=True)');
  assert.deepStrictEqual(v.value, describe(stateDict()));
});

for (const file of RESAVED) {
  test(`torch.save ${file} -> inkwell load/save -> torch.load gives the original values`, { skip }, () => {
    const fx = torchFixtures()!;
    const { path, original, verified: v } = written!.resaved.get(file)!;
    assert.deepStrictEqual(v.value, fx.expected[file]!.value);
    if (file.startsWith('views')) {
      // Contiguous views keep sharing their storage; transposed/strided ones were materialised as copies.
      assert.deepStrictEqual(v.storage_groups, [
        ['base', 'offset_slice', 'row', 'scalar_view'],
        ['shared_a', 'shared_b', 'shared_slice'],
      ]);
    } else {
      assert.deepStrictEqual(v.storage_groups, fx.expected[file]!.storage_groups);
    }
    // Loading the written file again in TS gives the same as the first load.
    const again = readCheckpointBytes(readFileSync(path), path, { preserveFloats: true });
    assert.deepStrictEqual(describe(again.value), describe(original));
  });
}
