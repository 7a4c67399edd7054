/**
 * `inkwell pretrain` on 2 data-parallel workers, on tiny synthetic segments:
 * - the env-variable path: two `inkwell pretrain` processes started by the test with RANK/WORLD_SIZE/MASTER_*
 *   (as Slurm or a Kubernetes job would) log, step for step, the losses of one process with the doubled batch;
 *   only rank 0 writes the run folder (one metrics line per step, one TensorBoard file) and prints;
 * - the `--nproc-per-node 2` path finishes, and `--resume` with a single worker continues its run, keeping the
 *   schedule's position in epochs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { pretrain } from '../../src/ssl/pretrain.js';
import * as torch from '../../src/torch/index.js';
import { freePort } from '../../src/train/launch.js';
import { type ChildResult, collect, launcherEnv } from '../helpers/child.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
const gloo = torch.distributed.availableBackends().includes('gloo');
const TINY = [
  'data.maxTiles=16',
  'model.widenFactor=0.125',
  'data.depth=12',
  'data.tile=48',
  'data.workers=0',
  'train.epochs=2',
  'distributed.timeoutSeconds=30',
];

function inkwell(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, INKWELL_PROGRESS: '0', ...env } });
  return collect(child, 90_000);
}

interface Metric {
  kind: string;
  step: number;
  epoch?: number;
  loss: number;
  lr?: number;
}
function metrics(runDir: string): Metric[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Metric);
}

describe('pretrain on 2 data-parallel workers', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  let data = '';
  const args = (out: string, name: string, set: string[]) => [
    'pretrain',
    '--preset',
    'cpu-small',
    '--input',
    join(data, 'segments'),
    '--out',
    out,
    '--name',
    name,
    ...[...TINY, ...set].flatMap((s) => ['--set', s]),
  ];
  before(async () => {
    data = await synthesizeTrainingData('inkwell-ddp-pre-data-', { fragments: 0, segments: 2, size: 192, seed: 5 });
  });

  it('workers started through the launcher variables log the single-process losses; only rank 0 writes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-ddp-pre-'));
    const port = await freePort();
    const runs = await Promise.all(
      [0, 1].map((rank) =>
        inkwell(args(out, 'env', ['train.batchSize=4']), {
          ...launcherEnv(rank, 2, port),
          INKWELL_NUM_THREADS: '1',
        }),
      ),
    );
    for (const [rank, r] of runs.entries()) assert.equal(r.code, 0, `rank ${rank}: ${r.stderr}`);
    assert.match(runs[0]!.stdout, /pretrain: 2 epoch\(s\) in .* \(2 workers\)/);
    assert.equal(runs[1]!.stdout + runs[1]!.stderr, '', 'rank 1 prints nothing');
    assert.match(runs[0]!.stderr, /data-parallel over 2 workers: 4 tiles per worker, global batch 8, SyncBatchNorm on/);

    // The same run in one process with the global batch: the same tiles, augmentations and losses.
    const cfg = await loadPretrainConfig({
      preset: 'cpu-small',
      inputs: [join(data, 'segments')],
      set: [`out=${out}`, 'name=single', ...TINY, 'train.batchSize=8', 'train.threads=1'],
    });
    const single = await pretrain(cfg, { progress: false, log: () => undefined, dataParallel: null });

    const dir = join(out, 'env');
    const two = metrics(dir);
    const steps = two.filter((m) => m.kind === 'pretrain');
    assert.deepEqual(
      steps.map((m) => m.step),
      [1, 2],
      'one line per step: rank 1 wrote none',
    );
    const one = metrics(single.runDir).filter((m) => m.kind === 'pretrain');
    steps.forEach((m, i) =>
      assert.ok(
        Math.abs(m.loss - one[i]!.loss) < 1e-3 * Math.abs(one[i]!.loss),
        `step ${m.step}: ${m.loss} vs ${one[i]!.loss}`,
      ),
    );
    assert.equal(readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents')).length, 1);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['epoch_0001.pth', 'epoch_0002.pth']);
    // Checkpoints are interchangeable with single-process ones (BatchNorm names, no per-rank state).
    const sd = await torch.readStateDict(join(dir, 'checkpoints', 'epoch_0002.pth'));
    const ref = await torch.readStateDict(join(single.runDir, 'checkpoints', 'epoch_0002.pth'));
    assert.deepEqual([...sd.keys()], [...ref.keys()]);
  });

  it('--nproc-per-node 2 runs, and --resume with one worker continues the run', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-ddp-pre-'));
    const launched = await inkwell([...args(out, 'launched', ['train.batchSize=4']), '--nproc-per-node', '2']);
    assert.equal(launched.code, 0, launched.stderr);
    assert.match(
      launched.stdout,
      /pretrain: 2 epoch\(s\) in .*launched; last checkpoint .*epoch_0002\.pth \(2 workers\)/,
    );
    assert.equal(launched.stdout.trim().split('\n').length, 1, 'only rank 0 reports');
    const dir = join(out, 'launched');
    const before = metrics(dir).filter((m) => m.kind === 'pretrain');
    assert.equal(before.length, 2);

    // One worker, the same per-worker batch: twice the steps per epoch from here on.
    const resumed = await inkwell([...args(out, 'launched', ['train.batchSize=4', 'train.epochs=3']), '--resume'], {
      INKWELL_NUM_THREADS: '1',
    });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /written by 2 worker\(s\); continuing with 1/);
    assert.match(
      resumed.stderr,
      /1 optimiser steps per epoch before, 2 now \(global batch 4\); the schedule continues from epoch 2 \(step 2 -> 4\)/,
    );
    assert.match(resumed.stdout, /pretrain: 1 epoch\(s\) in .*epoch_0003\.pth$/m);
    const after = metrics(dir).filter((m) => m.kind === 'pretrain');
    assert.deepEqual(
      after.map((m) => m.epoch),
      [1, 2, 3, 3],
    );
    assert.deepEqual(
      after.map((m) => m.step),
      [1, 2, 3, 4],
      'the logged step counts batches on, never back',
    );
    assert.ok(after.slice(2).every((m) => Number.isFinite(m.loss)));
  });
});
