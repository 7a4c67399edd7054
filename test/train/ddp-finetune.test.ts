/**
 * Data-parallel fine-tuning through the launcher: `inkwell finetune --nproc-per-node 2` on tiny synthetic
 * fragments trains with SyncBatchNorm and averaged gradients, rank 0 alone writes the run folder, and the
 * checkpoint rebuilds the model for inference.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../../src/data/synth/write.js';
import * as torch from '../../src/torch/index.js';
import { loadSegmentationModel } from '../../src/train/segmentation-checkpoint.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));

it('inkwell finetune --nproc-per-node 2 trains, validates on rank 0 and checkpoints once', {
  skip: torch.distributed.availableBackends().includes('gloo') ? false : 'addon built without Gloo',
}, async () => {
  const data = mkdtempSync(join(tmpdir(), 'inkwell-ddpft-data-'));
  await synthesize({
    out: data,
    fragments: 3,
    segments: 0,
    height: 384,
    width: 384,
    seed: 4,
    layers: 48,
    progress: false,
  });
  const out = mkdtempSync(join(tmpdir(), 'inkwell-ddpft-'));
  const config = join(out, 'ft.yaml');
  const frag = (id: string) => `{ path: ${join(data, 'fragments', id)}, z: [28, 36] }`;
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(config, `data:\n  train: [${frag('1')}, ${frag('2')}]\n  val: [${frag('3')}]\n  erode: 4\n`),
  );
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'finetune',
      '--nproc-per-node',
      '2',
      '--preset',
      'cpu-small',
      '--config',
      config,
      '--out',
      out,
      '--name',
      'ft',
      '--set',
      'data.tile=32',
      '--set',
      'data.stride=16',
      '--set',
      'data.depth=8',
      '--set',
      'data.augment=none',
      '--set',
      'model.widenFactor=0.125',
      '--set',
      'train.batchSize=4',
      '--set',
      'train.epochs=2',
      '--set',
      'data.workers=0',
      '--set',
      'data.maxTiles=16',
      '--set',
      'distributed.timeoutSeconds=60',
    ],
    { encoding: 'utf8', timeout: 240_000, env: { ...process.env, INKWELL_PROGRESS: '0' } },
  );
  assert.equal(r.status, 0, `finetune failed: ${r.stderr}`);
  assert.match(r.stdout, /ft: 2 epoch\(s\) in .*validation F0\.5/);
  const ckpt = join(out, 'ft', 'checkpoints', 'epoch_0002.pth');
  assert.ok(existsSync(ckpt));
  const records = readFileSync(join(out, 'ft', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string });
  assert.equal(records.filter((x) => x.kind === 'val').length, 2, 'one validation per epoch, from rank 0 only');
  const { model } = await loadSegmentationModel(ckpt);
  model.dispose();
});
