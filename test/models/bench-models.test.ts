/**
 * `bench models` on a small setting: every case (contiguous and channels_last_3d) gets an inkwell time, a PyTorch
 * time from the interleaved peer, a ratio and GFLOP/s; the channels-last verdicts are derived from the times; the
 * FLOP count follows the convolution formula and scales with the batch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchModels, printModels, resnetForwardFlops } from '../../src/bench/models.js';
import { createEncoder } from '../../src/models/index.js';
import * as torch from '../../src/torch/index.js';
import { hasTorchPython } from '../helpers/python.js';

describe('bench models', () => {
  it('FLOPs: conv1 by the convolution formula, total linear in the batch, ResNet-50 reference-study variant on the reference-study input ~95 GFLOP forward', () => {
    const m = createEncoder('resnet3d-50-reference');
    try {
      const one = resnetForwardFlops(m, [1, 1, 20, 128, 128]);
      const two = resnetForwardFlops(m, [2, 1, 20, 128, 128]);
      assert.equal(one.conv1, 2 * 64 * (20 * 64 * 64) * 343);
      assert.equal(two.total, 2 * one.total);
      assert.ok(Math.abs(two.total / 1e9 - 95.06) < 0.01, `${two.total / 1e9}`);
    } finally {
      m.dispose();
    }
  });

  it('times every case side by side with PyTorch and says whether channels_last_3d helps', async (t) => {
    // One thread on both sides: with two OpenMP threads on a 2-core machine shared with other jobs, a parallel
    // region can stall for seconds waiting for a descheduled thread, which makes a short test take a minute.
    torch.setNumThreads(1);
    const r = await benchModels({ input: [2, 1, 10, 32, 32], widenFactor: 0.25, rounds: 3 });
    assert.deepEqual(
      r.cases.map((c) => c.name),
      ['r3d18', 'r3d18_cl3d', 'r3d50', 'r3d50_cl3d'],
    );
    for (const c of r.cases) {
      assert.ok(c.ts_ms > 0 && c.gflop > 0 && c.gflops > 0, JSON.stringify(c));
      if (!hasTorchPython()) continue;
      assert.ok(
        c.torch_ms !== null && c.ratio !== null && Math.abs(c.ratio - c.ts_ms / c.torch_ms) < 0.01,
        JSON.stringify(c),
      );
      // The spread is over the three rounds' own ratios: ordered, and wide enough to hold at least one of them.
      const s = c.ratio_spread!;
      assert.ok(s.min <= s.q1 && s.q1 <= s.q3 && s.q3 <= s.max && s.min > 0, JSON.stringify(s));
    }
    assert.equal(r.channels_last.length, 2);
    for (const v of r.channels_last) assert.equal(v.helps, v.ts_speedup > 1.05);
    const lines: string[] = [];
    printModels(r, (l) => lines.push(l));
    assert.match(
      lines[0]!,
      /^case\s+inkwell ms\s+PyTorch ms\s+ratio\s+min \[IQR\] max per round\s+GFLOP\s+GFLOP\/s\s+of peak$/,
    );
    assert.ok(lines.some((l) => /^channels_last_3d on r3d50: (helps|does not help)/.test(l)));
    t.diagnostic(lines.join(' | '));
  });
});
