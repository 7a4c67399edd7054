/**
 * Checkpoints written by PyTorch 1.13 (torch.save, zip and legacy formats) read by inkwell give exactly what
 * torch.load gives: every dtype (NaN, inf, -0, subnormals, integer extremes), views (transposed, expanded,
 * offset and strided slices, 0-dim, empty, 8-byte NaN payloads), shared storages, a Kinetics-style training
 * checkpoint (DataParallel state dict + SGD state), deflated/renamed and big-endian zip containers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  flattenTensors,
  inspectCheckpoint,
  loadCheckpointFile,
  PyOrderedDict,
  type PyValue,
  selectKey,
  stripPrefix,
  isStoredTensor,
} from '../../src/torch/serialization/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { NO_TORCH_REASON } from '../helpers/python.js';
import { describe, torchFixtures } from './describe.js';

const fx = torchFixtures();
const skip = fx === undefined ? NO_TORCH_REASON : false;

const FILES: [string, string][] = [
  ['dtypes_zip.pth', 'pth-zip'],
  ['dtypes_legacy.pth', 'pth-legacy'],
  ['views_zip.pth', 'pth-zip'],
  ['views_legacy.pth', 'pth-legacy'],
  ['kinetics_zip.pth', 'pth-zip'],
  ['kinetics_legacy.pth', 'pth-legacy'],
  ['deflated.pth', 'pth-zip'],
  ['bigendian.pth', 'pth-zip'],
  ['kinetics_p4_zip.pth', 'pth-zip'],
  ['kinetics_p4_legacy.pth', 'pth-legacy'],
];

for (const [file, format] of FILES) {
  test(`torch.save ${file} loads exactly as torch.load returns it`, { skip }, async () => {
    const loaded = await loadCheckpointFile(join(fx!.dir, file), { preserveFloats: true });
    assert.equal(loaded.format, format);
    assert.deepStrictEqual(describe(loaded.value), fx!.expected[file]!.value);
  });
}

function tensorAt(v: PyValue, key: string): StoredTensor {
  const t = selectKey(v, key);
  assert.ok(isStoredTensor(t), `${key} is a tensor`);
  return t;
}

/** Byte offset of `t`'s data inside the same memory as `base`'s, or undefined when they do not share it. */
function offsetIn(t: StoredTensor, base: StoredTensor): number | undefined {
  return t.data.buffer === base.data.buffer ? t.data.byteOffset - base.data.byteOffset : undefined;
}

for (const file of ['views_zip.pth', 'views_legacy.pth']) {
  test(`${file}: tensors that shared a storage share memory, contiguous views are not copied`, { skip }, async () => {
    const { value } = await loadCheckpointFile(join(fx!.dir, file));
    const base = tensorAt(value, 'base');
    assert.equal(offsetIn(tensorAt(value, 'offset_slice'), base), 5 * 4);
    assert.equal(offsetIn(tensorAt(value, 'row'), base), 12 * 4);
    assert.equal(offsetIn(tensorAt(value, 'scalar_view'), base), 8 * 4);
    const a = tensorAt(value, 'shared_a');
    assert.equal(a, tensorAt(value, 'shared_b'), 'the same Python tensor object comes back as one StoredTensor');
    assert.equal(offsetIn(tensorAt(value, 'shared_slice'), a), 4);
    assert.equal(tensorAt(value, 'param').requiresGrad, true);
    assert.equal(tensorAt(value, 'base').requiresGrad, undefined);
  });
}

test("a state dict's _metadata stays out of its keys but is kept as an attribute", { skip }, async () => {
  const { value } = await loadCheckpointFile(join(fx!.dir, 'kinetics_zip.pth'));
  const sd = selectKey(value, 'state_dict');
  assert.ok(sd instanceof PyOrderedDict);
  assert.ok(![...sd.keys()].includes('_metadata'));
  assert.ok([...sd.keys()].every((k) => typeof k === 'string' && k.startsWith('module.')));
  const meta = sd.attrs?.get('_metadata');
  assert.ok(meta instanceof PyOrderedDict);
  assert.deepStrictEqual([...meta.keys()].slice(0, 3), ['', 'module', 'module.0']);
});

test("stripPrefix removes module. from keys and from _metadata, as torch's consume_prefix does", { skip }, async () => {
  const { value } = await loadCheckpointFile(join(fx!.dir, 'kinetics_legacy.pth'));
  const sd = stripPrefix(selectKey(value, 'state_dict'), 'module.');
  assert.ok(sd instanceof PyOrderedDict);
  assert.deepStrictEqual([...sd.keys()].slice(0, 3), ['0.weight', '1.weight', '1.bias']);
  const bn = sd.get('1.num_batches_tracked');
  assert.ok(isStoredTensor(bn) && bn.dtype === 'int64' && bn.shape.length === 0);
  const meta = sd.attrs?.get('_metadata');
  assert.ok(meta instanceof Map);
  assert.ok([...meta.keys()].every((k) => typeof k === 'string' && !k.startsWith('module')));
  assert.ok(meta.has('0') && meta.has('1'));
});

test('flattenTensors names nested tensors by dotted path, optimizer state by parameter index', { skip }, async () => {
  const { value } = await loadCheckpointFile(join(fx!.dir, 'kinetics_zip.pth'));
  const names = flattenTensors(value).map(([n]) => n);
  assert.ok(names.includes('state_dict.module.0.weight'));
  assert.ok(names.includes('state_dict.module.1.running_var'));
  assert.ok(names.includes('optimizer.state.0.momentum_buffer'));
  assert.equal(names.filter((n) => n.startsWith('optimizer.state.')).length, 5); // conv w, bn w+b, linear w+b
});

test('inspectCheckpoint lists tensors and keeps non-tensor entries as JSON metadata', { skip }, async () => {
  const s = await inspectCheckpoint(join(fx!.dir, 'kinetics_legacy.pth'));
  assert.equal(s.format, 'pth-legacy');
  assert.deepStrictEqual(
    s.tensors.find((t) => t.name === 'state_dict.module.0.weight'),
    { name: 'state_dict.module.0.weight', shape: [4, 1, 3, 3, 3], dtype: 'float32' },
  );
  assert.equal(s.metadata['epoch'], 7);
  assert.equal(s.metadata['arch'], 'r3d_18');
  assert.equal(s.metadata['lr'], 1);
  assert.equal(s.metadata['big'], '1180591620717411303424');
  assert.equal(s.metadata['nan'], 'NaN');
  assert.equal(s.metadata['device'], 'cuda:1');
  assert.equal(s.metadata['dtype'], 'torch.bfloat16');
  assert.deepStrictEqual(s.metadata['blob'], { $bytes: Buffer.from([0, 255, 97, 98]).toString('base64') });
  assert.equal(s.metadata['state_dict'], undefined, 'a dict of tensors only has no metadata');
  const opt = s.metadata['optimizer'] as {
    param_groups: { lr: number; momentum: number; params: number[] }[];
    state?: unknown;
  };
  assert.equal(opt.state, undefined);
  assert.equal(opt.param_groups[0]!.lr, 1);
  assert.equal(opt.param_groups[0]!.momentum, 0.9);
  assert.deepStrictEqual(opt.param_groups[0]!.params, [0, 1, 2, 3, 4]);
});

test('plain pickles of protocols 2-5 (FRAME, MEMOIZE, STACK_GLOBAL, sets, bytes, big ints) decode exactly', {
  skip,
}, async () => {
  const { unpickle } = await import('../../src/torch/serialization/index.js');
  const { readFileSync } = await import('node:fs');
  for (const proto of [2, 3, 4, 5]) {
    const name = `plain_p${proto}.pkl`;
    const value = unpickle(new Uint8Array(readFileSync(join(fx!.dir, name))), { where: name, preserveFloats: true });
    assert.deepStrictEqual(describe(value), fx!.expected[name]!.value, name);
    assert.ok(value instanceof Map);
    assert.equal(value.get('shared1'), value.get('shared2'), `${name}: memoized list comes back as one array`);
  }
});
