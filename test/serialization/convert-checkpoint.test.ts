/**
 * `convertCheckpoint` and the `inkwell convert` command: .pth -> .safetensors flattens nested dicts to dotted
 * names and keeps non-tensor entries as metadata; --key and --strip-prefix select and rename; .safetensors ->
 * .pth gives a state dict (OrderedDict); .pth -> .pth keeps floats floats; .npy takes exactly one tensor.
 * With PyTorch: a converted Kinetics checkpoint loads in torch (weights_only) and in the independent
 * safetensors reader.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerConvert } from '../../src/cli/commands/convert.js';
import {
  convertCheckpoint,
  inspectCheckpoint,
  isStoredTensor,
  loadCheckpointFile,
  PyFloat,
  pyFloat,
  PyOrderedDict,
  type PyValue,
  saveCheckpointFile,
  selectKey,
} from '../../src/torch/serialization/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import { describe, pythonReadSafetensors, tempDir, torchFixtures, torchVerify } from './describe.js';

function f32(shape: number[], start: number): StoredTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    dtype: 'float32',
    shape,
    data: new Uint8Array(Float32Array.from({ length: n }, (_, i) => start + i).buffer),
  };
}

async function trainingCheckpoint(dir: string): Promise<string> {
  const sd = new PyOrderedDict();
  sd.set('module.conv.weight', f32([2, 1, 3], 0));
  sd.set('module.fc.bias', f32([2], 10));
  const meta = new PyOrderedDict();
  meta.set('', new Map([['version', 1]]));
  meta.set('module', new Map([['version', 1]]));
  meta.set('module.conv', new Map([['version', 1]]));
  sd.attrs = new Map([['_metadata', meta]]);
  const path = join(dir, 'ckpt.pth');
  await saveCheckpointFile(path, {
    epoch: 3,
    arch: 'r3d',
    state_dict: sd,
    optimizer: {
      state: new Map([[0, new Map([['momentum_buffer', f32([2, 1, 3], 100)]])]]),
      param_groups: [{ lr: pyFloat(1), params: [0, 1] }],
    },
  });
  return path;
}

test('.pth -> .safetensors: dotted names, non-tensor entries as metadata', async () => {
  const dir = tempDir();
  const src = await trainingCheckpoint(dir);
  const out = join(dir, 'all.safetensors');
  const r = await convertCheckpoint(src, out);
  assert.deepStrictEqual(r, {
    inFormat: 'pth-zip',
    outFormat: 'safetensors',
    tensors: 3,
    bytes: r.bytes,
    metadataKeys: ['epoch', 'arch', 'optimizer.param_groups'],
    dropped: [],
  });
  const back = await loadCheckpointFile(out);
  assert.deepStrictEqual([...(back.value as Map<string, PyValue>).keys()].sort(), [
    'optimizer.state.0.momentum_buffer',
    'state_dict.module.conv.weight',
    'state_dict.module.fc.bias',
  ]);
  assert.deepStrictEqual(back.metadata, {
    epoch: '3',
    arch: 'r3d',
    'optimizer.param_groups': '[{"lr":1,"params":[0,1]}]',
  });
});

test('--key state_dict --strip-prefix module. then back to .pth gives a clean state dict', async () => {
  const dir = tempDir();
  const src = await trainingCheckpoint(dir);
  const st = join(dir, 'sd.safetensors');
  await convertCheckpoint(src, st, { key: 'state_dict', stripPrefix: 'module.' });
  const s = await inspectCheckpoint(st);
  assert.deepStrictEqual(s.tensors, [
    { name: 'conv.weight', shape: [2, 1, 3], dtype: 'float32' },
    { name: 'fc.bias', shape: [2], dtype: 'float32' },
  ]);
  const pth = join(dir, 'sd.pt');
  const r = await convertCheckpoint(st, pth);
  assert.equal(r.outFormat, 'pth');
  const back = await loadCheckpointFile(pth);
  assert.ok(back.value instanceof PyOrderedDict, 'a flat dict of tensors is written as a state dict (OrderedDict)');
  assert.deepStrictEqual(describe(back.value.get('fc.bias')!), describe(f32([2], 10)));
});

test('.pth -> .pth keeps floats floats and _metadata (with the prefix stripped)', async () => {
  const dir = tempDir();
  const src = await trainingCheckpoint(dir);
  const out = join(dir, 'copy.pth');
  await convertCheckpoint(src, out);
  const back = await loadCheckpointFile(out, { preserveFloats: true });
  assert.ok(selectKey(back.value, 'optimizer.param_groups.0.lr') instanceof PyFloat);
  const stripped = join(dir, 'stripped.pth');
  await convertCheckpoint(src, stripped, { key: 'state_dict', stripPrefix: 'module.' });
  const sd = (await loadCheckpointFile(stripped)).value;
  assert.ok(sd instanceof PyOrderedDict);
  assert.deepStrictEqual([...sd.keys()], ['conv.weight', 'fc.bias']);
  const metadata = sd.attrs?.get('_metadata');
  assert.ok(metadata instanceof Map, 'the state dict keeps its _metadata attribute');
  assert.deepStrictEqual([...(metadata as Map<string, PyValue>).keys()], ['', 'conv']);
});

test('.npy takes exactly one tensor; bad keys and extensions are clear errors', async () => {
  const dir = tempDir();
  const src = await trainingCheckpoint(dir);
  const npy = join(dir, 'bias.npy');
  await convertCheckpoint(src, npy, { key: 'state_dict.module.fc.bias' });
  const t = (await loadCheckpointFile(npy)).value;
  assert.ok(isStoredTensor(t));
  assert.deepStrictEqual(describe(t), describe(f32([2], 10)));
  await assert.rejects(
    convertCheckpoint(src, join(dir, 'x.npy'), { key: 'state_dict' }),
    /\.npy holds one tensor, the selection has 2 \(use --key\)/,
  );
  await assert.rejects(convertCheckpoint(src, join(dir, 'x.h5')), /unknown extension '\.h5'/);
  await assert.rejects(
    convertCheckpoint(src, join(dir, 'x.pth'), { key: 'model' }),
    /selectKey: no 'model' in the checkpoint \(available: epoch, arch, state_dict, optimizer\)/,
  );
  await assert.rejects(
    convertCheckpoint(src, join(dir, 'x.pth'), { key: 'epoch', stripPrefix: 'module.' }),
    /stripPrefix: expected a dict, got int/,
  );
  await assert.rejects(
    convertCheckpoint(join(dir, 'missing.pth'), join(dir, 'x.pth')),
    /loadCheckpoint\(.*missing\.pth\): ENOENT/,
  );
});

test('inkwell convert prints what it wrote', async () => {
  const dir = tempDir();
  const src = await trainingCheckpoint(dir);
  const out = join(dir, 'out.safetensors');
  const program = new Command('inkwell').exitOverride();
  registerConvert(program);
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['convert', src, out, '--key', 'state_dict', '--strip-prefix', 'module.'], {
      from: 'user',
    });
  } finally {
    process.stdout.write = write;
  }
  assert.match(lines.join(''), /^wrote .*out\.safetensors \(safetensors from pth-zip\): 2 tensors, 0\.\d{3} MB\n$/);
});

test('Kinetics checkpoint from torch.save (legacy): converted state dict loads in torch and in the safetensors reader', {
  skip: hasTorchPython() ? false : NO_TORCH_REASON,
}, async () => {
  const fx = torchFixtures()!;
  const dir = tempDir();
  const pth = join(dir, 'r3d.pth');
  const st = join(dir, 'r3d.safetensors');
  await convertCheckpoint(join(fx.dir, 'kinetics_legacy.pth'), pth, { key: 'state_dict', stripPrefix: 'module.' });
  await convertCheckpoint(join(fx.dir, 'kinetics_zip.pth'), st, { key: 'state_dict', stripPrefix: 'module.' });
  const [v] = torchVerify(pth);
  assert.equal(v!.weights_only, true);
  const value = v!.value as { t: string; v: [{ v: string }, unknown][] };
  assert.equal(value.t, 'OrderedDict');
  assert.deepStrictEqual(value.v.map(([k]) => k.v).slice(0, 4), ['0.weight', '1.weight', '1.bias', '1.running_mean']);
  const r = pythonReadSafetensors<{ names: string[] }>(st);
  assert.deepStrictEqual(
    r.names,
    value.v.map(([k]) => k.v),
  );
});
