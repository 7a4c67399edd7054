/**
 * `inkwell probe` end to end on three tiny synthetic fragments: the linear-probe study with leave-one-fragment-out
 * writes results.json with its arms and the chance, surface-statistic and fine-tuned-frozen controls, each with
 * an AUC interval; bad flags give clear errors. Also the demo's scores.json targets on constructed inputs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { synthesize } from '../../src/data/synth/write.js';
import { createSegmentationModel } from '../../src/models/registry.js';
import { saveSegmentationCheckpoint } from '../../src/train/segmentation-checkpoint.js';
import { demoTargets, writeScores } from '../../src/demo/summary.js';
import type { StudyComparison } from '../../src/study/comparison.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
let data = '';

const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'probe', ...args], { encoding: 'utf8' });

describe('inkwell probe', () => {
  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'inkwell-probe-cli-'));
    await synthesize({
      out: data,
      fragments: 3,
      segments: 0,
      height: 256,
      width: 256,
      seed: 6,
      layers: 48,
      progress: false,
    });
  });

  it('writes results.json with arms, controls and intervals', async () => {
    // A segmentation checkpoint for the upper-bound control (untrained: the shape of the control is what is tested).
    const model = createSegmentationModel('resnet3d-10-reference', { widenFactor: 0.125 });
    const upper = join(data, 'upper.pth');
    await saveSegmentationCheckpoint(
      upper,
      model,
      {
        arch: 'resnet3d-10-reference',
        inChannels: 1,
        widenFactor: 0.125,
        decoder: 'unet',
        output: 'full',
        depthPool: 'mean',
        depth: 8,
        z: [20, 28],
        tile: 32,
        normalize: 'none',
      },
      { epoch: 1, step: 1 },
    );
    model.dispose();
    const out = mkdtempSync(join(tmpdir(), 'inkwell-probe-out-'));
    const r = run([
      ...['1', '2', '3'].flatMap((id) => ['--fragment', join(data, 'fragments', id)]),
      '--encoder',
      'random',
      '--upper',
      upper,
      '--upper-folds',
      '3',
      '--seeds',
      '2',
      '--widen',
      '0.125',
      '--tile',
      '32',
      '--depth',
      '8',
      '--z',
      '20:28',
      '--erode',
      '4',
      '--tiles',
      '4',
      '--pixels',
      '32',
      '--resamples',
      '100',
      '--out',
      out,
      '--name',
      'p',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const saved = JSON.parse(readFileSync(join(out, 'p', 'results.json'), 'utf8')) as {
      comparisons: StudyComparison[];
    };
    const c = saved.comparisons[0]!;
    assert.deepEqual(
      c.arms.map((a) => a.label),
      ['random'],
    );
    assert.deepEqual(
      c.controls.map((a) => a.label),
      ['chance', 'surface-statistic', 'fine-tuned-frozen'],
    );
    for (const e of [...c.arms, ...c.controls])
      assert.ok(e.auc.low <= e.auc.mean + 1e-9 && e.auc.mean <= e.auc.high + 1e-9, JSON.stringify(e.auc));
    assert.deepEqual(c.arms[0]!.seeds, [0, 1]);
    assert.equal(c.arms[0]!.folds, 3);
    assert.equal(c.controls[2]!.folds, 1);
    assert.match(r.stdout, /verdict: /);
  });

  it('refuses fewer than three fragments and unknown read-outs', () => {
    const two = run(['--fragment', join(data, 'fragments', '1'), '--fragment', join(data, 'fragments', '2')]);
    assert.notEqual(two.status, 0);
    assert.match(two.stderr, /leave-one-fragment-out needs at least 3 --fragment folders, got 2/);
    const bad = run([
      ...['1', '2', '3'].flatMap((id) => ['--fragment', join(data, 'fragments', id)]),
      '--readout',
      'median',
    ]);
    assert.match(
      bad.stderr,
      /--readout must be one of max, lse, mean, got 'median'|--readout must be one of mean, max, lse, got 'median'/,
    );
  });

  it("scores.json targets: measured values against the issue's bars; cross-family not run, then measured", async () => {
    const iv = (mean: number) => ({ mean, low: mean - 0.02, high: mean + 0.02 });
    const e = (label: string, m: number) => ({
      label,
      auc: iv(m),
      f05: iv(m - 0.3),
      fromChance: m - 0.5,
      verdict: 'v',
      seeds: [0],
      folds: 1,
    });
    const comparisons: StudyComparison[] = [
      {
        title: 't',
        protocol: 'p',
        varies: 'v',
        verdict: 'v',
        arms: [e('random', 0.6)],
        controls: [e('chance', 0.5), e('fine-tuned-frozen', 0.9)],
      },
    ];
    const heldOut = {
      fragment: '7',
      threshold: 0.4,
      f05: 0.62,
      auc: 0.93,
      precision: 0.7,
      recall: 0.5,
      iou: 0.4,
      dice: 0.5,
    };
    const input = {
      preset: 'tiny',
      seed: 0,
      minutes: 1,
      cpuSeconds: 90,
      heldOut,
      comparisons,
      curves: [],
      crossFamily: null,
    };
    const t = demoTargets(input);
    assert.deepEqual(
      t.map((x) => [x.value, x.reached]),
      [
        [0.9, true],
        [0.62, true],
        [null, false],
        [null, false],
      ],
    );
    assert.match(t[2]!.note!, /not run/);
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-scores-'));
    await writeScores(dir, input);
    const saved = JSON.parse(readFileSync(join(dir, 'scores.json'), 'utf8')) as {
      heldOut: { threshold: number };
      comparisons: StudyComparison[];
    };
    assert.equal(saved.heldOut.threshold, 0.4);
    assert.deepEqual(saved.comparisons[0]!.controls[1]!.auc, { mean: 0.9, low: 0.88, high: 0.92 });
    const crossFamily = {
      trainFamily: 'a',
      scoreFamily: 'b',
      threshold: 0.4,
      layerOrder: 'detected (no flag)',
      chanceF05: 0.22,
      fragments: [{ id: 'family-b-1', bits: 8, papyrusSide: 'after', reversed: false, auc: 0.9, f05: 0.55 }],
      auc: iv(0.87),
      f05: iv(0.45),
      surfaceStatistic: { auc: iv(0.7), f05: iv(0.3), threshold: 0.5, thresholdFrom: 'family-A validation fragment' },
      inFamily: { auc: iv(0.9), f05: iv(0.5), threshold: 0.6, thresholdFrom: 'family-B validation fragment' },
    } as const;
    const measured = demoTargets({ ...input, crossFamily: { ...crossFamily, fragments: [...crossFamily.fragments] } });
    assert.deepEqual(
      measured.slice(2).map((x) => [x.value, x.reached]),
      [
        [0.87, true],
        [0.45, false],
      ],
    );
    assert.match(measured[2]!.note!, /95% interval \[0\.850, 0\.890\]/);
    assert.match(measured[2]!.note!, /trained on family B reaches 0\.900/);
  });
});
