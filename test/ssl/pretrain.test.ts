/**
 * `pretrain` end to end on synthetic scroll segments: VICReg lowers its loss without collapsing; BYOL,
 * SimSiam and masked reconstruction run; a resumed run reproduces the uninterrupted run's losses exactly;
 * kill -9 loses at most the epoch in progress; a non-finite loss stops the run naming the step and leaves the
 * last checkpoint intact; checkpoints hold the encoder under 'state_dict'.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { NonFiniteLossError, pretrain } from '../../src/ssl/pretrain.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
let data = '';
const quiet = { progress: false, log: () => undefined };

async function config(name: string, out: string, set: string[] = []) {
  return loadPretrainConfig({
    preset: 'cpu-small',
    inputs: [join(data, 'segments')],
    set: [
      `name=${name}`,
      `out=${out}`,
      'data.maxTiles=16',
      'train.batchSize=8',
      'data.workers=0',
      'train.epochs=2',
      'model.widenFactor=0.125',
      'data.depth=12',
      'data.tile=48',
      ...set,
    ],
  });
}

function losses(runDir: string): number[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; loss: number })
    .filter((r) => r.kind === 'pretrain')
    .map((r) => r.loss);
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('pretrain on synthetic segments', () => {
  before(async () => {
    data = await synthesizeTrainingData('inkwell-pre-data-', { fragments: 0, segments: 2, size: 192, seed: 5 });
  });

  it('VICReg lowers its loss over epochs and keeps the embeddings spread out', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-pre-'));
    // 4 batches of 16 small tiles per epoch: enough steps for the trend to show through the augmentation noise.
    const cfg = await config('vicreg', out, [
      'train.epochs=4',
      'data.maxTiles=64',
      'train.batchSize=16',
      'data.tile=32',
      'data.stride=16',
      'optim.lr=0.2',
      'schedule.cosineEpochs=4',
    ]);
    const r = await pretrain(cfg, quiet);
    assert.equal(r.epochs.length, 4);
    assert.deepEqual([r.rank, r.worldSize], [0, 1], 'no launcher variables: a single process');
    assert.ok(r.epochs[3]!.loss < r.epochs[0]!.loss, `loss ${r.epochs.map((e) => e.loss.toFixed(3)).join(' -> ')}`);
    for (const e of r.epochs) assert.equal(e.collapsed, false, `epoch ${e.epoch} collapsed (std ${e.embeddingStd})`);
    assert.deepEqual(Object.keys(r.epochs[0]!.terms).sort(), ['covariance', 'invariance', 'variance']);
    const sd = await torch.readStateDict(r.lastCheckpoint!);
    assert.ok(sd.has('conv1.weight') && sd.has('layer4.0.conv1.weight'), 'encoder weights under state_dict');
    assert.ok(existsSync(join(r.runDir, 'config.yaml')));
  });

  for (const method of ['byol', 'simsiam', 'masked'] as const) {
    it(`${method} runs an epoch and checkpoints`, async () => {
      const out = mkdtempSync(join(tmpdir(), 'inkwell-pre-'));
      const r = await pretrain(await config(method, out, [`method.name=${method}`, 'train.epochs=1']), quiet);
      assert.equal(r.epochs.length, 1);
      assert.ok(Number.isFinite(r.epochs[0]!.loss));
      assert.ok(existsSync(r.lastCheckpoint!));
    });
  }

  it('resuming reproduces the uninterrupted run exactly (losses, step for step)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-pre-'));
    const full = await pretrain(
      await config('full', out, ['method.name=byol', 'train.gradAccumulation=2', 'data.workers=1']),
      quiet,
    );
    const part = await pretrain(
      await config('part', out, ['method.name=byol', 'train.gradAccumulation=2', 'data.workers=1']),
      { ...quiet, maxEpochs: 1 },
    );
    assert.equal(part.epochs.length, 1);
    const resumed = await pretrain(
      await config('part', out, ['method.name=byol', 'train.gradAccumulation=2', 'data.workers=1']),
      { ...quiet, resume: true },
    );
    assert.deepEqual(
      resumed.epochs.map((e) => e.epoch),
      [2],
    );
    assert.deepEqual(losses(part.runDir), losses(full.runDir));
  });

  it('a NaN loss stops the run naming the step, and the last good checkpoint stays intact', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-pre-'));
    // From epoch 2 on, SWA's constant learning rate is absurd: the weights overflow and the loss turns non-finite.
    const cfg = await config('nan', out, [
      'average.swa.enabled=true',
      'average.swa.startEpoch=2',
      'average.swa.lr=1e38',
      'train.gradClip=null',
      'train.epochs=4',
    ]);
    const written = new Map<string, string>();
    const log = (line: string) => {
      const path = /-> (.*\.pth)$/.exec(line)?.[1];
      if (path) written.set(path, sha(path));
    };
    let failedEpoch = 0;
    let named = '';
    await assert.rejects(pretrain(cfg, { progress: false, log }), (err: Error) => {
      assert.ok(err instanceof NonFiniteLossError, err.message);
      const m =
        /the loss became (?:NaN|-?Infinity) at epoch (\d+), batch \d+\/\d+ \(optimiser step \d+\); stopped before updating the weights\. The last good checkpoint is (.*\.pth)\./.exec(
          err.message,
        );
      assert.ok(m, err.message);
      failedEpoch = Number(m[1]);
      named = m[2]!;
      return true;
    });
    assert.ok(failedEpoch >= 2);
    assert.equal(sha(named), written.get(named), 'the last good checkpoint changed');
    assert.equal(
      existsSync(join(out, 'nan', 'checkpoints', `epoch_${String(failedEpoch).padStart(4, '0')}.pth`)),
      false,
    );
    assert.equal((await torch.readStateDict(named)).has('conv1.weight'), true);
  });

  it('kill -9 loses at most the epoch in progress; resume finishes the run', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-pre-'));
    const args = [
      'pretrain',
      '--preset',
      'cpu-small',
      '--input',
      join(data, 'segments'),
      '--out',
      out,
      '--name',
      'killed',
      '--set',
      'train.epochs=30',
      '--set',
      'data.maxTiles=16',
      '--set',
      'train.batchSize=8',
      '--set',
      'model.widenFactor=0.125',
      '--set',
      'data.depth=12',
      '--set',
      'data.tile=48',
    ];
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    const ckpt = join(out, 'killed', 'checkpoints', 'epoch_0001.pth');
    const started = Date.now();
    while (!existsSync(ckpt) && Date.now() - started < 120_000) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    assert.ok(existsSync(ckpt), 'no checkpoint appeared');
    // The checkpoint is whole (written to a temp file, then renamed) and the run continues from it.
    const cfg = await config('killed', out, ['train.epochs=30']);
    assert.ok((await torch.readStateDict(ckpt)).has('conv1.weight'));
    const done = readdirSync(join(out, 'killed', 'checkpoints')).length;
    const resumed = await pretrain(cfg, { ...quiet, resume: true, maxEpochs: 1 });
    assert.deepEqual(
      resumed.epochs.map((e) => e.epoch),
      [done + 1],
    );
    assert.ok(!readdirSync(join(out, 'killed', 'checkpoints')).some((f) => f.endsWith('.tmp')));
  });
});
