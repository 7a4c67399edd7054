/**
 * Optimisers leak nothing: over 20 training steps (forward, backward, clipping, step, zeroGrad, scheduler step)
 * the live native tensor count stays where the first step left it (the state created then), and dispose()
 * returns it to what it was before the optimiser existed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn, optim } from '../../src/torch/index.js';

type Make = (params: torch.Tensor[]) => { opt: optim.SGD | optim.AdamW | optim.LARS; sched: optim.LRScheduler };

const SETUPS: [string, Make][] = [
  [
    'SGD (nesterov, weight decay) + StepLR',
    (ps) => {
      const opt = new optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
      return { opt, sched: new optim.StepLR(opt, { stepSize: 5 }) };
    },
  ],
  [
    'AdamW (amsgrad) + OneCycleLR',
    (ps) => {
      const opt = new optim.AdamW(ps, { amsgrad: true });
      return { opt, sched: new optim.OneCycleLR(opt, { maxLr: 1e-2, totalSteps: 20 }) };
    },
  ],
  [
    'LARS + LinearWarmupCosine',
    (ps) => {
      const opt = new optim.LARS(ps, { lr: 0.2, weightDecay: 1e-6 });
      return { opt, sched: new optim.LinearWarmupCosine(opt, { warmupSteps: 5, totalSteps: 20 }) };
    },
  ],
];

describe('optimiser memory', () => {
  for (const [label, make] of SETUPS) {
    it(`${label}: 20 steps leave the live tensor count unchanged, dispose() frees the state`, () => {
      torch.manualSeed(3);
      const model = new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 4));
      const x = torch.randn([32, 8]);
      const y = torch.randn([32, 4]);
      const baseline = torch.memory();
      const { opt, sched } = make(model.parameters());
      try {
        const counts: number[] = [];
        const bytes: number[] = [];
        for (let s = 0; s < 20; s++) {
          torch.tidy(() => torch.F.mseLoss(model.forward(x), y).backward());
          optim.clipGradNorm_(model.parameters(), 1.0);
          opt.step();
          opt.zeroGrad();
          sched.step();
          const m = torch.memory();
          counts.push(m.liveTensors);
          bytes.push(m.liveBytes);
          assert.equal(m.openScopes, 0, 'no scope left open');
        }
        assert.ok(counts[0]! > baseline.liveTensors, 'the first step created optimiser state');
        assert.deepEqual(counts, new Array<number>(20).fill(counts[0]!), `live tensors per step: ${counts.join(' ')}`);
        assert.deepEqual(bytes, new Array<number>(20).fill(bytes[0]!), 'live bytes per step');
        opt.dispose();
        assert.equal(torch.memory().liveTensors, baseline.liveTensors);
        assert.equal(torch.memory().liveBytes, baseline.liveBytes);
      } finally {
        opt.dispose();
        model.dispose();
        x.dispose();
        y.dispose();
      }
    });
  }
});
