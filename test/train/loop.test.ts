/**
 * The one training loop (src/train/loop.ts), checked through BOTH trainers that run on it, pretraining and
 * fine-tuning, on the same tiny synthetic fragments: a kill -9 in epoch 2 and --resume leave each step once in
 * metrics.jsonl and a TensorBoard purge event; without a terminal a plain progress line is printed; a resume with
 * another number of workers gets rank 0's checkpoint and keeps the schedule's position; failed starts (unknown
 * architecture, no data, batch norm on one sample, bad --max-epochs) leave no run folder; training leaks no
 * tensor. Fine-tuning alone: datasets without labels are refused; the Kaggle preset's mixing acts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { pretrain } from '../../src/ssl/pretrain.js';
import { loadSupervisedConfig } from '../../src/supervised/config.js';
import { mixSettings, trainSupervised } from '../../src/supervised/trainer.js';
import * as torch from '../../src/torch/index.js';
import type { LoopOptions } from '../../src/train/loop.js';
import { hasTorchPython, runPython } from '../helpers/python.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
const gloo = torch.distributed.availableBackends().includes('gloo');
let data = '';
const frag = (id: string) => join(data, 'fragments', id);
const quiet = { progress: false, log: () => undefined };
const TINY = [
  'data.tile=32',
  'data.stride=16',
  'data.depth=8',
  'data.erode=4',
  'data.workers=0',
  'model.arch=resnet3d-10-reference',
  'model.widenFactor=0.125',
  'train.batchSize=4',
  'train.epochs=2',
  'data.maxTiles=16',
  'distributed.timeoutSeconds=60',
];
const VAL = ['data.maxValTiles=8'];

interface Trainer {
  command: 'pretrain' | 'finetune';
  /** metrics.jsonl kind of per-step records. */
  kind: string;
  run(out: string, name: string, set: string[], opts?: LoopOptions): Promise<{ runDir: string; epochs: unknown[] }>;
  /** The same run as an `inkwell` command line. */
  args(out: string, name: string, set: string[]): string[];
}

const sets = (out: string, name: string, set: string[]) => [`out=${out}`, `name=${name}`, ...TINY, ...set];
const TRAINERS: Trainer[] = [
  {
    command: 'pretrain',
    kind: 'pretrain',
    run: async (out, name, set, opts = quiet) =>
      pretrain(
        await loadPretrainConfig({ preset: 'cpu-small', inputs: [frag('1'), frag('2')], set: sets(out, name, set) }),
        opts,
      ),
    args: (out, name, set) => [
      'pretrain',
      '--preset',
      'cpu-small',
      '--input',
      frag('1'),
      '--input',
      frag('2'),
      ...sets(out, name, set).flatMap((s) => ['--set', s]),
    ],
  },
  {
    command: 'finetune',
    kind: 'train',
    run: async (out, name, set, opts = quiet) =>
      trainSupervised(
        await loadSupervisedConfig({
          preset: ['finetune', 'cpu-small'],
          extra: { data: { train: [{ path: frag('1') }, { path: frag('2') }], val: [{ path: frag('3') }] } },
          set: sets(out, name, ['data.augment=none', ...VAL, ...set]),
        }),
        opts,
      ),
    args: (out, name, set) => [
      'finetune',
      '--preset',
      'finetune',
      '--preset',
      'cpu-small',
      '--train',
      frag('1'),
      '--train',
      frag('2'),
      '--val',
      frag('3'),
      ...sets(out, name, ['data.augment=none', ...VAL, ...set]).flatMap((s) => ['--set', s]),
    ],
  },
];

interface Metric {
  kind: string;
  step: number;
  epoch?: number;
  loss: number;
}
/** metrics.jsonl's records; `killed`: the file of a killed writer, whose last line may be cut (skipped). */
const metrics = (runDir: string, killed = false) =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Metric];
      } catch (err) {
        if (killed) return [];
        throw err;
      }
    });
const tmp = (what: string) => mkdtempSync(join(tmpdir(), `inkwell-loop-${what}-`));

function inkwell(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, INKWELL_PROGRESS: '0', ...env },
  });
}

describe('the training loop, through both trainers', () => {
  before(async () => {
    data = await synthesizeTrainingData('inkwell-loop-data-', { fragments: 3, segments: 0, size: 256, seed: 4 });
  });

  for (const tr of TRAINERS) {
    it(`${tr.command}: kill -9 in epoch 2, --resume: each step once in metrics.jsonl, a TensorBoard purge event, plain progress lines, no leak`, async () => {
      const out = tmp('kill');
      const set = ['train.epochs=30', 'train.gradAccumulation=2'];
      const child = spawn(process.execPath, [BIN, ...tr.args(out, 'killed', set)], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, INKWELL_PROGRESS_INTERVAL: '0' },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      const runDir = join(out, 'killed');
      const inEpoch2 = () =>
        existsSync(join(runDir, 'metrics.jsonl')) &&
        metrics(runDir, true).some((m) => m.kind === tr.kind && m.epoch === 2);
      const t0 = Date.now();
      while (!inEpoch2() && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      const steps = (ms: Metric[]) => ms.filter((m) => m.kind === tr.kind);
      const before = steps(metrics(runDir, true));
      assert.ok(
        before.some((m) => m.epoch === 2),
        'killed in epoch 2',
      );
      const perEpoch = before.filter((m) => m.epoch === 1).length;
      // Without a terminal: `<label> epoch E/N: k/K batches, loss X, T tiles/s, ETA ...` (interval 0 s: every batch).
      assert.match(stderr, /epoch 1\/30: \d+\/\d+ batches, loss \d+\.\d{4}, \d+\.\d tiles\/s, ETA \d+s/);

      await tr.run(out, 'killed', set, { ...quiet, resume: true, maxEpochs: 1 });
      const after = metrics(runDir);
      assert.deepEqual(
        steps(after).map((m) => m.step),
        Array.from({ length: 2 * perEpoch }, (_, i) => i + 1),
        'each step once',
      );
      assert.deepEqual(
        after.filter((m) => m.kind === `${tr.kind}_epoch`).map((m) => m.step),
        [1, 2],
      );
      // The same losses as an uninterrupted run, which (warm, after the runs above) leaks no tensor.
      const live = torch.memory().liveTensors;
      const full = await tr.run(out, 'full', set, { ...quiet, maxEpochs: 2 });
      assert.equal(torch.memory().liveTensors, live, 'training leaked tensors');
      const ref = steps(metrics(full.runDir));
      steps(after).forEach((m, i) =>
        assert.ok(
          Math.abs(m.loss - ref[i]!.loss) <= 1e-6 * Math.abs(ref[i]!.loss),
          `step ${m.step}: ${m.loss} vs ${ref[i]!.loss}`,
        ),
      );

      if (!hasTorchPython()) return; // the event reader runs beside PyTorch's Python
      const files = readdirSync(runDir)
        .filter((f) => f.startsWith('events.out.tfevents'))
        .sort();
      assert.equal(files.length, 2, 'the killed run and the resumed one');
      const resumed = files
        .map(
          (f) =>
            JSON.parse(runPython('tfevents_read.py', [join(runDir, f)])) as { step?: number; session_log?: number }[],
        )
        .find((evs) => evs.some((e) => e.session_log !== undefined))!;
      assert.ok(resumed, 'a file with a SessionLog event');
      // PyTorch's SummaryWriter(purge_step=P): SessionLog(status=START) at P, the first step logged again.
      assert.deepEqual(
        resumed.filter((e) => e.session_log !== undefined).map((e) => [e.step, e.session_log]),
        [[perEpoch + 1, 1]],
      );
    });

    it(`${tr.command}: --resume with 2 workers gets rank 0's checkpoint and keeps the schedule's position in epochs`, {
      skip: gloo ? false : 'addon built without Gloo',
    }, async () => {
      const out = tmp('world');
      await tr.run(out, 'w', ['train.epochs=3'], { ...quiet, maxEpochs: 1, dataParallel: null });
      // 2 workers x batch 4: twice the global batch, half the optimiser steps per epoch.
      const r = inkwell(
        [...tr.args(out, 'w', ['train.epochs=3']), '--resume', '--max-epochs', '1', '--nproc-per-node', '2'],
        { INKWELL_NUM_THREADS: '1' },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /the checkpoint was written by 1 worker\(s\); continuing with 2/);
      const w = metrics(join(out, 'w')).filter((m) => m.kind === tr.kind);
      const per = w.filter((m) => m.epoch === 1).length;
      assert.match(
        r.stderr,
        new RegExp(
          `${per} optimiser steps per epoch before, ${per / 2} now \\(global batch 8\\); the schedule continues from epoch 1`,
        ),
      );
      // Rank 0 alone logs; the logged step keeps counting batches from the checkpoint's, so curves never step back.
      assert.deepEqual(
        w.filter((m) => m.epoch === 2).map((m) => m.step),
        Array.from({ length: per / 2 }, (_, i) => per + i + 1),
      );
    });

    it(`${tr.command}: a failed start leaves no run folder (unknown architecture, no data, batch norm on 1 sample)`, async () => {
      const out = tmp('fail');
      await assert.rejects(tr.run(out, 'arch', ['model.arch=resnet3d-nope']), /resnet3d-nope/);
      await assert.rejects(tr.run(out, 'nodata', ['data.maxTiles=3']), /fewer than one batch of 4/);
      await assert.rejects(
        tr.run(out, 'bn1', ['train.batchSize=1']),
        /batch norm in training needs a batch of at least 2 samples, got 1/,
      );
      assert.deepEqual(readdirSync(out), []);
      await assert.rejects(
        tr.run(out, 'zero', [], { ...quiet, maxEpochs: 0 }),
        /--max-epochs\): expected a positive integer, got 0/,
      );
      for (const bad of ['abc', '-1', '0']) {
        const r = inkwell([...tr.args(out, 'cli', []), '--max-epochs', bad]);
        assert.notEqual(r.status, 0);
        assert.match(
          r.stderr,
          new RegExp(
            `'--max-epochs <n>' argument '${bad}' is invalid\\. '${bad}' is not an epoch count, expected a positive integer`,
          ),
        );
      }
      assert.deepEqual(readdirSync(out), []);
    });
  }

  it('finetune: a training or validation dataset without ink labels is an error naming it and the label files', async () => {
    const root = tmp('nolabels');
    const unlabelled = join(root, 'frag');
    mkdirSync(unlabelled);
    for (const f of ['surface_volume', 'mask.png']) symlinkSync(join(frag('1'), f), join(unlabelled, f));
    const cfg = async (train: string, val: string) =>
      loadSupervisedConfig({
        preset: ['finetune', 'cpu-small'],
        extra: { data: { train: [{ path: train }], val: [{ path: val }] } },
        set: sets(root, 'x', []),
      });
    const named = (which: string) =>
      new RegExp(
        `the ${which} dataset ${unlabelled} has no ink labels \\(looked for inklabels\\.png or one file named \\*inklabels\\*\\)`,
      );
    await assert.rejects(trainSupervised(await cfg(unlabelled, frag('3')), quiet), named('training'));
    await assert.rejects(trainSupervised(await cfg(frag('1'), unlabelled), quiet), named('validation'));
    assert.deepEqual(readdirSync(root), ['frag']);
  });

  it("finetune: batch mixing is src/data/augment/mix.ts, and the Kaggle preset's mixing acts", async () => {
    const base = { preset: ['finetune', 'cpu-small'], extra: { data: { train: [{ path: frag('1') }] } } };
    assert.deepEqual(mixSettings(await loadSupervisedConfig(base)), {
      cutmixP: 0.5,
      mixupP: 0.2,
      cutmixAlpha: 1,
      mixupAlpha: 0.4,
    });
    assert.deepEqual(
      mixSettings(await loadSupervisedConfig({ ...base, set: ['train.cutmix=0', 'train.mixup=0'] })).cutmixP,
      0,
    );
    assert.deepEqual(mixSettings(await loadSupervisedConfig({ ...base, set: ['data.augment=flips'] })).mixupP, 0);
    const out = tmp('mix');
    const losses = async (name: string, set: string[]) =>
      metrics((await TRAINERS[1]!.run(out, name, ['train.epochs=1', 'data.maxTiles=8', ...set])).runDir)
        .filter((m) => m.kind === 'train')
        .map((m) => m.loss);
    const plain = await losses('plain', []);
    const cut = await losses('cut', ['train.cutmix=1']);
    assert.equal(cut.length, plain.length);
    assert.notDeepEqual(cut, plain, 'cutmix changed nothing');
    assert.deepEqual(await losses('cut-again', ['train.cutmix=1']), cut, 'mixing is seeded');
  });
});
