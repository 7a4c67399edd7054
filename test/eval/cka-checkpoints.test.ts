/**
 * `inkwell cka --checkpoints DIR --input ...`: every epoch checkpoint embeds the same tiles and the epoch x epoch
 * matrices are written (cka.json + two heatmaps). Tiny 3D ResNet-10 encoders (width x 0.125) keep it fast:
 * a repeated checkpoint gives CKA 1 with its twin, the off-diagonal equals CKA of the features computed here
 * directly, checkpoints sort by epoch, a dataset folder (scroll-segment layout) is tiled inside its mask, and
 * errors name what is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../../src/torch/index.js';
import { createEncoder, loadEncoderWeights } from '../../src/models/index.js';
import { cka } from '../../src/eval/index.js';
import { listEpochCheckpoints } from '../../src/eval/cka-checkpoints.js';
import { type CliRun, runCommandBatch } from './harness.js';

const ARCH = ['--arch', 'resnet3d-10', '--widen-factor', '0.125', '--features', 'pooled'];

async function saveEncoder(path: string, seed: number): Promise<void> {
  torch.manualSeed(seed);
  const m = createEncoder('resnet3d-10', { widenFactor: 0.125 });
  try {
    await torch.save(path, m.stateDict());
  } finally {
    m.dispose();
  }
}

async function pooled(path: string, x: torch.Tensor): Promise<torch.Tensor> {
  const m = createEncoder('resnet3d-10', { widenFactor: 0.125 });
  try {
    await loadEncoderWeights(m, path);
    m.eval();
    return torch.keep(torch.noGrad(() => m.pooledFeatures(x)));
  } finally {
    m.dispose();
  }
}

test('cka --checkpoints: epoch x epoch matrices from .npy tiles and from a dataset folder, report files, errors', async () => {
  const root = mkdtempSync(join(tmpdir(), 'inkwell-ckack-'));
  const ckDir = join(root, 'checkpoints');
  mkdirSync(ckDir);
  await saveEncoder(join(ckDir, 'epoch=12.pth'), 2);
  await saveEncoder(join(ckDir, 'epoch=2.safetensors'), 1);
  copyFileSync(join(ckDir, 'epoch=12.pth'), join(ckDir, 'epoch=20.pth'));
  assert.deepEqual(
    (await listEpochCheckpoints(ckDir)).map((c) => c.label),
    ['2', '12', '20'],
  );
  torch.manualSeed(5);
  const x = torch.keep(torch.rand([12, 1, 10, 20, 20]));
  await torch.saveNpy(join(root, 'tiles.npy'), x);
  // A scroll segment: layers/00..09.png (40x40 uint8) and a mask.
  const seg = join(root, 'seg1');
  mkdirSync(join(seg, 'layers'), { recursive: true });
  for (let z = 0; z < 10; z++) {
    const px = Buffer.from(Array.from({ length: 1600 }, (_, i) => (i * 7 + z * 13 + ((i * i) % 17)) % 256));
    await sharp(px, { raw: { width: 40, height: 40, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(join(seg, 'layers', `${String(z).padStart(2, '0')}.png`));
  }
  await sharp(Buffer.alloc(1600, 255), { raw: { width: 40, height: 40, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(join(seg, 'seg1_mask.png'));
  const emptyDir = join(root, 'empty');
  mkdirSync(emptyDir);

  const [npy, table, dataset, tooMany, none, noInput] = runCommandBatch('cka', [
    [
      '--checkpoints',
      ckDir,
      '--input',
      join(root, 'tiles.npy'),
      '--samples',
      '10',
      ...ARCH,
      '--embed-batch',
      '4',
      '--out',
      join(root, 'report'),
      '--json',
    ],
    [
      '--checkpoints',
      ckDir,
      '--input',
      join(root, 'tiles.npy'),
      '--samples',
      '10',
      ...ARCH,
      '--out',
      join(root, 'report2'),
    ],
    [
      '--checkpoints',
      ckDir,
      '--input',
      seg,
      '--samples',
      '8',
      '--tile',
      '20',
      '--stride',
      '10',
      ...ARCH,
      '--out',
      join(root, 'report3'),
      '--json',
    ],
    [
      '--checkpoints',
      ckDir,
      '--input',
      seg,
      '--samples',
      '50',
      '--tile',
      '20',
      '--stride',
      '10',
      ...ARCH,
      '--out',
      join(root, 'report4'),
    ],
    ['--checkpoints', emptyDir, '--input', join(root, 'tiles.npy')],
    ['--checkpoints', ckDir],
  ]) as [CliRun, CliRun, CliRun, CliRun, CliRun, CliRun];

  assert.equal(npy.code, 0, npy.stderr);
  const r = JSON.parse(npy.stdout) as { labels: string[]; linear: number[][]; rbf: number[][] };
  assert.deepEqual(r.labels, ['2', '12', '20']);
  for (const m of [r.linear, r.rbf]) {
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(m[i]![i]! - 1) < 1e-9, 'unit diagonal');
      for (let j = 0; j < 3; j++) assert.equal(m[i]![j], m[j]![i], 'symmetric');
    }
    assert.ok(Math.abs(m[1]![2]! - 1) < 1e-9, 'the repeated checkpoint (epochs 12 and 20) has CKA 1 with its twin');
  }
  // The off-diagonal equals CKA of pooled features computed here from the same checkpoints and tiles.
  const tiles = torch.keep(x.slice(0, 0, 10));
  const f2 = await pooled(join(ckDir, 'epoch=2.safetensors'), tiles);
  const f12 = await pooled(join(ckDir, 'epoch=12.pth'), tiles);
  assert.ok(Math.abs(r.linear[0]![1]! - cka(f2, f12)) < 1e-6, `linear ${r.linear[0]![1]} vs ${cka(f2, f12)}`);
  assert.ok(Math.abs(r.rbf[0]![1]! - cka(f2, f12, { kernel: 'rbf', threshold: 0.5 })) < 1e-6);
  assert.ok(r.linear[0]![1]! < 0.999, 'different encoders are not identical');
  [x, tiles, f2, f12].forEach((t) => t.dispose());
  for (const f of ['cka.json', 'cka_linear.png', 'cka_rbf.png']) assert.ok(existsSync(join(root, 'report', f)), f);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'report', 'cka.json'), 'utf8')).linear, r.linear);

  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /3 checkpoints x 10 tiles \[1, 10, 20, 20\] -> 64 features/);
  assert.match(table.stdout, /linear/);
  assert.match(table.stderr, /epoch 2: loaded \d+ tensor/);

  assert.equal(dataset.code, 0, dataset.stderr);
  const d = JSON.parse(dataset.stdout) as { linear: number[][] };
  assert.ok(Math.abs(d.linear[1]![2]! - 1) < 1e-9 && d.linear[0]![1]! < 0.999);

  assert.equal(tooMany.code, 1);
  assert.match(
    tooMany.stderr,
    /seg1 \(40x40, inside the eroded mask\) has 9 tiles of 20px at stride 10, fewer than --samples 50/,
  );
  assert.match(none.stderr, /empty holds no checkpoints, expected files ending in \.pth, \.pt, \.ckpt, \.safetensors/);
  assert.match(noInput.stderr, /expected --input DATASET/);
});
