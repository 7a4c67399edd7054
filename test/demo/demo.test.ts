/**
 * The main job end to end at tiny size: every stage runs and leaves its files, and scores.json keeps its
 * contract (heldOut.threshold; per comparison its arms and controls with label and auc {mean, low, high}).
 * It runs with `--device cpu` and the default precision (fp32, the path `npm run demo` takes): every training run's
 * resolved config records both, so the options reach each stage that trains (the CUDA refusal is in
 * test/train/device-cli.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runDemo } from '../../src/demo/demo.js';
import { loadSegmentationModel } from '../../src/train/segmentation-checkpoint.js';

interface Entry {
  label: string;
  auc: { mean: number; low: number; high: number };
}

it('inkwell demo --preset tiny: pretrain, CKA, fine-tune, probes with controls, reference protocol, data efficiency, inference, report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'inkwell-demo-'));
  const r = await runDemo({ preset: 'tiny', out, progress: false, log: () => undefined, device: 'cpu' });
  const configs = readdirSync(r.runDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('config.yaml'));
  // Pretraining, fine-tuning, the reference protocol's 2 arms, the 3 budgets' 2 arms each, and the cross-family
  // in-family bound (the same recipe on family B).
  assert.equal(configs.length, 11, configs.join(', '));
  assert.ok(configs.includes(join('finetune-family-b', 'config.yaml')), configs.join(', '));
  for (const f of configs) {
    const lines = readFileSync(join(r.runDir, f), 'utf8').split('\n');
    assert.deepEqual(
      lines.filter((l) => /^(device|amp):/.test(l)),
      ['device: cpu', 'amp: off'],
      f,
    );
  }
  for (const f of [
    'report.html',
    'results.json',
    'scores.json',
    'ink-model.pth',
    'cka/cka.json',
    'cka/cka_linear.png',
    'predictions/5_prob.png',
    'predictions/5_labels.png',
  ]) {
    assert.ok(existsSync(join(r.runDir, f)), `missing ${f}`);
  }
  const scores = JSON.parse(readFileSync(join(r.runDir, 'scores.json'), 'utf8')) as {
    heldOut: { threshold: number; f05: number };
    comparisons: { title: string; arms: Entry[]; controls: Entry[] }[];
    targets: { name: string; reached: boolean }[];
    crossFamily: {
      threshold: number;
      auc: { mean: number; low: number; high: number };
      f05: { mean: number };
      fragments: {
        bits: number;
        papyrusSide: string;
        reversed: boolean;
        auc: number | null;
        inFamily: { auc: number | null };
      }[];
      surfaceStatistic: { auc: { mean: number }; thresholdFrom: string };
      inFamily: { auc: { mean: number; low: number; high: number }; threshold: number; thresholdFrom: string };
    };
  };
  assert.ok(scores.heldOut.threshold > 0 && scores.heldOut.threshold < 1);
  assert.ok(scores.heldOut.f05 >= 0 && scores.heldOut.f05 <= 1);
  // Probe, reference protocol, three data-efficiency budgets.
  assert.equal(scores.comparisons.length, 5);
  for (const c of scores.comparisons) {
    assert.deepEqual(
      c.arms.map((a) => a.label),
      ['random', 'vicreg'],
      c.title,
    );
    assert.deepEqual(
      c.controls.map((a) => a.label),
      ['chance', 'surface-statistic', 'fine-tuned-frozen'],
      c.title,
    );
    for (const e of [...c.arms, ...c.controls]) {
      assert.ok(
        e.auc.low <= e.auc.mean + 1e-9 && e.auc.mean <= e.auc.high + 1e-9,
        `${c.title} ${e.label} ${JSON.stringify(e.auc)}`,
      );
    }
  }
  assert.equal(r.curves[0]!.series.length, 2);
  assert.equal(r.curves[0]!.verdicts.length, 3);
  assert.ok(scores.targets.some((t) => /cross-family/.test(t.name)));
  // Cross-family transfer: family-B fragments at both bit depths crossed with both papyrus sides (before = stored
  // reversed), scored at the family-A validation threshold with an interval around the mean.
  const cf = scores.crossFamily;
  assert.equal(cf.threshold, scores.heldOut.threshold);
  assert.deepEqual(
    cf.fragments.map((f) => [f.bits, f.papyrusSide, f.reversed]),
    [
      [8, 'after', false],
      [16, 'before', true],
      [8, 'before', true],
      [16, 'after', false],
    ],
  );
  assert.ok(cf.fragments.every((f) => f.auc !== null && f.auc >= 0 && f.auc <= 1));
  assert.ok(cf.auc.low <= cf.auc.mean + 1e-9 && cf.auc.mean <= cf.auc.high + 1e-9, JSON.stringify(cf.auc));
  assert.ok(cf.f05.mean >= 0 && cf.f05.mean <= 1);
  // Its controls: the surface statistic and the in-family bound, each with its own threshold's origin.
  assert.equal(cf.surfaceStatistic.thresholdFrom, 'family-A validation fragment');
  assert.ok(cf.surfaceStatistic.auc.mean >= 0 && cf.surfaceStatistic.auc.mean <= 1);
  assert.equal(cf.inFamily.thresholdFrom, 'family-B validation fragment');
  assert.ok(cf.inFamily.threshold > 0 && cf.inFamily.threshold < 1);
  assert.ok(cf.fragments.every((f) => f.inFamily.auc !== null));
  // The transfer table sits in results.json beside the study's tables (scores.json keeps it under crossFamily).
  const results = JSON.parse(readFileSync(join(r.runDir, 'results.json'), 'utf8')) as {
    comparisons: { title: string; controls: Entry[] }[];
  };
  const table = results.comparisons.find((c) => /Cross-family/.test(c.title))!;
  assert.deepEqual(
    table.controls.map((c) => c.label),
    ['chance', 'surface-statistic', 'in-family'],
  );
  for (const f of [
    'predictions/family-b-1_prob.png',
    'predictions/family-b-2_prob.png',
    'predictions/family-b-1-in-family_prob.png',
    'predictions/family-b-2-in-family_prob.png',
  ])
    assert.ok(existsSync(join(r.runDir, f)), `missing ${f}`);
  const { model } = await loadSegmentationModel(join(r.runDir, 'ink-model.pth'));
  model.dispose();
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, /Linear probe on frozen encoders/);
  assert.match(html, /surface-statistic/);
  assert.match(html, /Data efficiency/);
  assert.match(html, /Cross-family transfer/);
});
