/**
 * A checkpoint with NaN or Inf weights is refused when loaded, naming the tensors: a segmentation checkpoint
 * for `infer` (which otherwise wrote an all-zero probability PNG with exit status 0) and encoder weights for
 * `embed`. `--allow-nonfinite-weights` loads them with a loud warning instead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { nonFiniteTensors } from '../../src/torch/finite.js';
import { synthesize } from '../../src/data/synth/write.js';
import { createEncoder } from '../../src/models/registry.js';
import {
  buildSegmentationModel,
  saveSegmentationCheckpoint,
  type SegmentationSpec,
} from '../../src/train/segmentation-checkpoint.js';
import { inkwell, listing, scratch } from './cli.js';

const { dir, cleanup } = scratch('inkwell-nonfinite-');
const fragment = join(dir, 'fragments', '1');

/** Float bit patterns: 1.0, NaN, +Inf, -Inf in each floating dtype (little-endian). */
test('nonFiniteTensors counts NaN and Inf by their bits in float16/32/64 and bfloat16; integers are finite', () => {
  const f32 = new Float32Array([1, NaN, Infinity, -Infinity, 0]);
  const f64 = new Float64Array([NaN, -Infinity, 2.5, Number.MAX_VALUE]);
  const f16 = new Uint16Array([0x3c00, 0x7e00, 0x7c00, 0xfc00, 0x7bff]); // 1, NaN, +Inf, -Inf, 65504
  const bf16 = new Uint16Array([0x3f80, 0x7fc0, 0x7f80, 0xff80, 0x7f7f]); // 1, NaN, +Inf, -Inf, max finite
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const found = nonFiniteTensors([
    ['f32', { dtype: 'float32', shape: [5], data: bytes(f32) }],
    ['f64', { dtype: 'float64', shape: [4], data: bytes(f64) }],
    ['f16', { dtype: 'float16', shape: [5], data: bytes(f16) }],
    ['bf16', { dtype: 'bfloat16', shape: [5], data: bytes(bf16) }],
    ['i32', { dtype: 'int32', shape: [1], data: bytes(new Int32Array([0x7fffffff])) }],
    ['ok', { dtype: 'float32', shape: [2], data: bytes(new Float32Array([3.4e38, -0])) }],
  ]);
  assert.deepEqual(found, [
    { name: 'f32', nan: 1, inf: 2, numel: 5 },
    { name: 'f64', nan: 1, inf: 1, numel: 4 },
    { name: 'f16', nan: 1, inf: 2, numel: 5 },
    { name: 'bf16', nan: 1, inf: 2, numel: 5 },
  ]);
});

const spec: SegmentationSpec = {
  arch: 'resnet3d-18',
  inChannels: 1,
  widenFactor: 0.125,
  decoder: 'unet',
  output: 'full',
  depthPool: 'mean',
  depth: 10,
  z: [6, 18],
  tile: 32,
  normalize: 'none',
};

before(async () => {
  await synthesize({
    out: dir,
    fragments: 1,
    segments: 0,
    height: 64,
    width: 64,
    layers: 24,
    seed: 3,
    progress: false,
  });
  torch.manualSeed(1);
  const model = buildSegmentationModel(spec);
  try {
    const sd = model.stateDict();
    const names = [...sd.keys()];
    const conv = names.find((n) => n.endsWith('conv1.weight'))!;
    const last = names.filter((n) => n.endsWith('.weight')).at(-1)!;
    torch.noGrad(() => {
      sd.get(conv)!.fill_(NaN);
      sd.get(last)!.fill_(-Infinity);
    });
    await saveSegmentationCheckpoint(join(dir, 'nan-seg.pth'), model, spec, { epoch: 1, step: 1 });
  } finally {
    model.dispose();
  }
  const enc = createEncoder('resnet3d-18', { widenFactor: 0.125 });
  try {
    const sd = enc.stateDict();
    torch.noGrad(() => sd.get('layer1.0.bn1.running_var')!.fill_(Infinity));
    await torch.save(join(dir, 'nan-enc.pth'), sd);
  } finally {
    enc.dispose();
  }
  await torch.saveNpy(join(dir, 'x.npy'), torch.zeros([1, 1, 16, 32, 32]));
});

after(cleanup);

test('infer refuses a segmentation checkpoint with NaN/Inf weights, naming the tensors, and writes nothing', () => {
  const out = join(dir, 'out', 'pred.png');
  const r = inkwell(['infer', '--weights', join(dir, 'nan-seg.pth'), '--input', fragment, '--output', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      'nan-seg\\.pth: 2 tensor\\(s\\) hold non-finite values: ' +
        '\\S*conv1\\.weight \\(\\d+ NaN, 0 Inf of \\d+\\), \\S+\\.weight \\(0 NaN, \\d+ Inf of \\d+\\)',
    ),
  );
  assert.match(r.stderr, /pass --allow-nonfinite-weights to load them anyway/);
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(join(dir, 'out')) ? listing(join(dir, 'out')).length : 0, 0);
  const forced = inkwell([
    'infer',
    '--weights',
    join(dir, 'nan-seg.pth'),
    '--input',
    fragment,
    '--output',
    out,
    '--allow-nonfinite-weights',
  ]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /WARNING: .*nan-seg\.pth: 2 tensor\(s\) hold non-finite values/);
  assert.ok(existsSync(out));
});

test('embed refuses encoder weights with Inf, naming the tensor; --allow-nonfinite-weights warns and goes on', () => {
  const out = join(dir, 'f.npy');
  const args = [
    'embed',
    '--arch',
    'resnet3d-18',
    '--widen-factor',
    '0.125',
    '--weights',
    join(dir, 'nan-enc.pth'),
    '--input',
    join(dir, 'x.npy'),
    '--output',
    out,
  ];
  const r = inkwell(args);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /nan-enc\.pth\): 1 tensor\(s\) hold non-finite values: layer1\.0\.bn1\.running_var \(0 NaN, 8 Inf of 8\)/,
  );
  assert.equal(existsSync(out), false);
  const forced = inkwell([...args, '--allow-nonfinite-weights']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /WARNING: .*layer1\.0\.bn1\.running_var/);
  assert.ok(existsSync(out));
});
