/**
 * Positive control of the probe instrument on a tiny synthetic set: the linear probe (standardised stem+layer1
 * columns, max over depth) on a random conv encoder beats chance, and on a frozen fine-tuned encoder beats the
 * random one by a margin. Also: L-BFGS reaches the logistic-regression optimum, and folds never score their
 * validation fragment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { synthesize } from '../../src/data/synth/write.js';
import { createEncoder } from '../../src/models/registry.js';
import { loadEncoderWeights } from '../../src/models/encoder-weights.js';
import { loadProbeTiles, type ProbeTiles } from '../../src/study/columns.js';
import { fitLinearProbe, lbfgs, predictProbe } from '../../src/study/linear-probe.js';
import { formatStudyComparison, type StudyEntry } from '../../src/study/comparison.js';
import { foldSplit, runProbeStudy, type ProbeEncoder } from '../../src/study/probe-study.js';
import { loadSupervisedConfig } from '../../src/supervised/config.js';
import { trainSupervised } from '../../src/supervised/trainer.js';
import * as torch from '../../src/torch/index.js';

const ARCH = 'resnet3d-10-reference';
const WIDEN = 0.125;
let data = '';
const fragments: ProbeTiles[] = [];
const spec = (id: string) => ({ path: join(data, 'fragments', id), z: [16, 32] as [number, number], scale: 1 });

describe('probe instrument (positive control)', () => {
  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'inkwell-study-'));
    await synthesize({
      out: data,
      fragments: 3,
      segments: 0,
      height: 256,
      width: 256,
      seed: 4,
      layers: 48,
      progress: false,
    });
    for (const id of ['1', '2', '3']) {
      fragments.push(
        await loadProbeTiles(spec(id), {
          tile: 32,
          stride: 32,
          depth: 16,
          erode: 4,
          maxTiles: 24,
          pixelsPerTile: 128,
          seed: 0,
        }),
      );
    }
  });

  it('L-BFGS converges to the optimum of a smooth convex problem', () => {
    // f(x) = (x0 - 3)^2 + 10 (x1 + 1)^2 + (x0 x1 is absent): minimum 0 at (3, -1).
    const r = lbfgs(
      (x) => ({
        loss: (x[0]! - 3) ** 2 + 10 * (x[1]! + 1) ** 2,
        grad: Float64Array.of(2 * (x[0]! - 3), 20 * (x[1]! + 1)),
      }),
      new Float64Array(2),
    );
    assert.ok(Math.abs(r.x[0]! - 3) < 1e-5 && Math.abs(r.x[1]! + 1) < 1e-5, `${r.x}`);
  });

  it('a separable feature gives a probe near AUC 1 whatever its scale', () => {
    const n = 200;
    const labels = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    // Channel 0 carries the label at a scale of 1e4, channel 1 is constant noise-free offset.
    const cols = (shift: number) => ({
      data: Float32Array.from({ length: n * 2 * 2 }, (_, i) => {
        const p = i >> 2;
        const ch = (i >> 1) & 1;
        return ch === 0 ? 1e4 * (labels[p]! + 0.1 * ((p * 7 + shift) % 5)) : 3;
      }),
      count: n,
      channels: 2,
      depth: 2,
      labels,
      tileOf: new Int32Array(n),
    });
    const probe = fitLinearProbe(cols(0), cols(1), { readout: 'max' });
    const prob = predictProbe(probe, cols(2));
    const minInk = Math.min(...prob.filter((_, i) => labels[i]));
    const maxBg = Math.max(...prob.filter((_, i) => !labels[i]));
    assert.ok(minInk > maxBg, `ink ${minInk} vs background ${maxBg}`);
  });

  it('folds train, validate and score on different fragments', () => {
    assert.deepEqual(foldSplit(0, 4), { train: [2, 3], val: 1, test: 0 });
    assert.deepEqual(foldSplit(3, 4), { train: [1, 2], val: 0, test: 3 });
    assert.throws(() => foldSplit(0, 2), /needs >= 3 fragments/);
  });

  it('beats chance on a random encoder, and by a margin on a frozen fine-tuned one', async () => {
    const ft = await trainSupervised(
      await loadSupervisedConfig({
        preset: ['finetune', 'cpu-small'],
        extra: { data: { train: [spec('1'), spec('2')], val: [spec('3')], erode: 4 } },
        set: [
          'name=ft',
          `out=${mkdtempSync(join(tmpdir(), 'inkwell-study-ft-'))}`,
          'data.tile=32',
          'data.stride=16',
          'data.depth=16',
          'data.augment=flips',
          `model.arch=${ARCH}`,
          `model.widenFactor=${WIDEN}`,
          'train.batchSize=8',
          'train.epochs=8',
          'data.workers=0',
          'data.maxTiles=48',
          'optim.lr=3e-3',
          // The light probe decoder, validated once on few tiles: the encoder is what this test needs.
          'model.decoder=probe',
          'model.depthPool=max',
          'model.output=half',
          'train.valEvery=100',
          'data.maxValTiles=8',
        ],
      }),
      { progress: false, log: () => undefined },
    );
    const build = async (s: number) => {
      torch.manualSeed(s);
      return createEncoder(ARCH, { widenFactor: WIDEN });
    };
    // The random encoder over every fold, and on the one fragment the fine-tuning did not train on.
    const random: ProbeEncoder = { label: 'random', role: 'arm', build };
    const randomOnThird: ProbeEncoder = { label: 'random (fragment 3)', role: 'arm', folds: [2], build };
    const tuned: ProbeEncoder = {
      label: 'fine-tuned',
      role: 'fine-tuned-frozen',
      folds: [2],
      build: async () => {
        const e = createEncoder(ARCH, { widenFactor: WIDEN });
        await loadEncoderWeights(e, ft.lastCheckpoint!, { strict: true });
        return e;
      },
    };
    const { comparison: c } = await runProbeStudy({
      title: 'positive control',
      fragments,
      encoders: [random, randomOnThird, tuned],
      seeds: [0, 1],
      stages: ['stem', 'layer1'],
      readout: 'max',
      varies: 'the random encoder initialisation',
      intervals: { resamples: 200 },
    });
    const [arm, armOnThird] = c.arms as [StudyEntry, StudyEntry];
    if (process.env['INKWELL_TEST_VERBOSE']) console.log(formatStudyComparison(c));
    const upper = c.controls.find((e) => e.label === 'fine-tuned-frozen')!;
    assert.deepEqual(
      c.controls.map((e) => e.label),
      ['chance', 'surface-statistic', 'fine-tuned-frozen'],
    );
    assert.ok(arm.auc.mean >= 0.6 && arm.auc.low > 0.5, `random encoder probe AUC ${JSON.stringify(arm.auc)}`);
    assert.ok(
      upper.auc.mean >= armOnThird.auc.mean + 0.05,
      `fine-tuned ${JSON.stringify(upper.auc)} vs random ${JSON.stringify(armOnThird.auc)}`,
    );
  });
});
