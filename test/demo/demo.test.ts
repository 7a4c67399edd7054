/** The main job end to end at tiny size: every stage runs and leaves its files, tables and report. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runDemo } from '../../src/demo/demo.js';

it('inkwell demo --preset tiny: pretrain, CKA, probes, fine-tune, inference, transfer, report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'inkwell-demo-'));
  const r = await runDemo({ preset: 'tiny', out, progress: false, log: () => undefined });
  for (const f of ['report.html', 'results.json', 'scores.json', 'cka/cka.json', 'cka/cka_linear.png', 'predictions/5_prob.png', 'predictions/5_labels.png', 'pretrain/config.yaml']) {
    assert.ok(existsSync(join(r.runDir, f)), `missing ${f}`);
  }
  assert.deepEqual(r.comparisons.map((c) => c.rows.map((row) => row.encoder)), [['random', 'vicreg'], ['fragment-only (random init)', 'vicreg-pretrained + fine-tuned']]);
  assert.equal(r.comparisons[0]!.rows[0]!.seeds.length, 2);
  const scores = JSON.parse(readFileSync(join(r.runDir, 'scores.json'), 'utf8')) as { heldOut: { f05: number; auc: number | null }; quality: { reached: boolean } };
  assert.ok(scores.heldOut.f05 >= 0 && scores.heldOut.f05 <= 1);
  assert.equal(scores.quality.reached, scores.heldOut.f05 >= 0.6);
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, /Frozen-encoder probe/);
  assert.match(html, /Transfer to scroll-domain segments/);
});
