/**
 * The collapse monitor: random embeddings spread like 1/sqrt(D), a constant embedding gives 0 and counts as
 * collapsed; collapseStatus applies the threshold.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';

describe('collapse monitor', () => {
  it('random Gaussian embeddings: std ~ 1/sqrt(D), healthy', () => {
    torch.tidy(() => {
      torch.manualSeed(8);
      for (const d of [16, 128]) {
        const z = torch.randn([256, d]).mul(3).add(1.5);
        const std = ssl.embeddingStd(z);
        const expected = 1 / Math.sqrt(d);
        assert.ok(Math.abs(std / expected - 1) < 0.15, `D=${d}: std ${std} vs 1/sqrt(D) ${expected}`);
        const s = ssl.checkCollapse(z);
        assert.equal(s.collapsed, false);
        assert.ok(s.ratio > 0.8);
      }
    });
  });

  it('a constant embedding (every sample the same vector): std 0, collapsed', () => {
    torch.tidy(() => {
      const z = torch.randn([1, 32]).expand([64, 32]).contiguous();
      assert.ok(ssl.embeddingStd(z) < 1e-6);
      const s = ssl.checkCollapse(z);
      assert.equal(s.collapsed, true);
      assert.ok(s.ratio < 1e-4);
      // Scaling samples does not hide the collapse: the monitor normalises every embedding first.
      const scaled = z.mul(torch.rand([64, 1]).mul(10).add(0.1));
      assert.ok(ssl.embeddingStd(scaled) < 1e-6);
    });
  });

  it('collapseStatus: threshold on std * sqrt(D)', () => {
    assert.deepEqual(ssl.collapseStatus(0.125, 64), { std: 0.125, expected: 0.125, ratio: 1, collapsed: false });
    assert.equal(ssl.collapseStatus(0.03, 64).collapsed, true, 'ratio 0.24 < default 0.25');
    assert.equal(ssl.collapseStatus(0.03, 64, { minRatio: 0.2 }).collapsed, false);
    assert.equal(ssl.COLLAPSE_RATIO, 0.25);
  });
});
