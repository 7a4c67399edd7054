/**
 * A tiny end-to-end run: a small 3D encoder (Conv3d-BN-ReLU-AdaptiveAvgPool-Flatten) and a projector
 * trained with VICReg and torch.optim.SGD for a few steps on random volumes. The loss goes down, the
 * collapse monitor stays healthy, and the number of live native tensors does not grow from step to step.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

describe('VICReg end to end', () => {
  it('SGD steps lower the loss without leaking tensors', (t: TestContext) => {
    torch.manualSeed(10);
    const method = ssl.createMethod('vicreg', {
      encoder: () =>
        new nn.Sequential(
          new nn.Conv3d(1, 8, 3, { padding: 1 }),
          new nn.BatchNorm3d(8),
          new nn.ReLU(),
          new nn.AdaptiveAvgPool3d(1),
          new nn.Flatten(),
        ),
      featureDim: 8,
      projector: [16, 16],
      vicreg: ssl.VICREG_REFERENCE,
    });
    const opt = new torch.optim.SGD(method.modules.parameters(), { lr: 0.02, momentum: 0.9 });
    const x = torch.keep(torch.randn([16, 1, 4, 8, 8]));
    const view2 = torch.keep(torch.tidy(() => x.add(torch.randn(x.shape).mul(0.1))));
    const losses: number[] = [];
    const live: number[] = [];
    const steps = 12;
    try {
      method.train();
      for (let k = 0; k < steps; k++) {
        torch.tidy(() => {
          opt.zeroGrad();
          const out = method.step(x, view2);
          out.loss.backward();
          opt.step();
          method.afterOptimizerStep((k + 1) / steps);
          losses.push(out.loss.item());
          assert.equal(ssl.checkCollapse(out.embeddings).collapsed, false, `step ${k}: embeddings collapsed`);
        });
        live.push(torch.memory().liveTensors);
      }
      t.diagnostic(`losses ${losses.map((l) => l.toFixed(3)).join(' ')}; live tensors ${live.join(' ')}`);
      assert.ok(losses.every(Number.isFinite));
      assert.ok(losses.at(-1)! < losses[0]! * 0.9, `loss ${losses[0]} -> ${losses.at(-1)} should drop by 10% or more`);
      // After the first step (the optimiser creates its momentum buffers) the count stays flat.
      assert.deepEqual(
        live.slice(1),
        new Array<number>(steps - 1).fill(live[1]!),
        `live tensors per step: ${live.join(' ')}`,
      );
    } finally {
      opt.dispose();
      method.dispose();
      x.dispose();
      view2.dispose();
    }
  });
});
