/**
 * GradScaler against PyTorch's documented semantics (torch/amp/grad_scaler.py; its CPU path is disabled in
 * the python3-torch 1.13 here, so the expected values are worked out by hand): scaled losses give scaled
 * gradients, unscale_ divides them back once, a step with an inf/NaN gradient is skipped and halves the scale,
 * growthInterval clean steps double it, and the state dict uses PyTorch's keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn, optim } from '../../src/torch/index.js';
import { assertClose } from '../helpers/compare.js';

const { GradScaler } = torch.amp;

function setup(): { lin: nn.Linear; opt: optim.SGD; x: torch.Tensor } {
  torch.manualSeed(3);
  const lin = new nn.Linear(3, 2);
  const opt = new optim.SGD(lin.parameters(), { lr: 0.5 });
  const x = torch.keep(torch.randn([4, 3]));
  return { lin, opt, x };
}

/** The parameters after one plain fp32 SGD step on the same loss, for comparison. */
function plainStep(x: torch.Tensor): number[][] {
  torch.manualSeed(3);
  const lin = new nn.Linear(3, 2);
  const opt = new optim.SGD(lin.parameters(), { lr: 0.5 });
  torch.tidy(() => lin.forward(x).square().sum().backward());
  opt.step();
  const w = lin.weight.toArray() as number[][];
  lin.dispose();
  return w;
}

describe('GradScaler', () => {
  it('scales the loss, unscales the gradients once, then steps as plain fp32 would', () => {
    const { lin, opt, x } = setup();
    const scaler = new GradScaler({ initScale: 1024 });
    const expected = plainStep(x);
    torch.tidy(() => {
      const loss = lin.forward(x).square().sum();
      const scaled = scaler.scale(loss);
      assertClose(scaled, loss.mul(1024), 'scaled loss', { rtol: 0, atol: 0 });
      scaled.backward();
    });
    const raw = torch.tidy(() => lin.weight.grad!.toArray()) as number[][];
    scaler.unscale_(opt);
    torch.tidy(() =>
      assertClose(lin.weight.grad!, torch.tensor(raw).div(1024), 'unscaled grad', { rtol: 1e-6, atol: 0 }),
    );
    assert.throws(() => scaler.unscale_(opt), /already called on this optimiser since the last update/);
    assert.equal(scaler.step(opt), true);
    scaler.update();
    torch.tidy(() =>
      assertClose(lin.weight, torch.tensor(expected), 'weights after the step', { rtol: 1e-5, atol: 1e-6 }),
    );
    assert.equal(scaler.scaleValue, 1024, 'one clean step is below the growth interval');
    lin.dispose();
    x.dispose();
  });

  it('skips the step on an inf or NaN gradient and backs the scale off; grows it after growthInterval clean steps', () => {
    const { lin, opt, x } = setup();
    const scaler = new GradScaler({ initScale: 2 ** 10, growthInterval: 2 });
    const step = (poison: number | null): boolean => {
      opt.zeroGrad();
      torch.tidy(() => scaler.scale(lin.forward(x).square().sum()).backward());
      if (poison !== null) torch.tidy(() => lin.bias!.grad!.select(0, 1).fill_(poison));
      const stepped = scaler.step(opt);
      scaler.update();
      return stepped;
    };
    const before = torch.tidy(() => lin.weight.toArray());
    assert.equal(step(Infinity), false, 'an inf gradient skips the step');
    assert.deepEqual(
      torch.tidy(() => lin.weight.toArray()),
      before,
      'weights untouched by a skipped step',
    );
    assert.equal(scaler.scaleValue, 2 ** 9);
    assert.equal(step(NaN), false, 'a NaN gradient skips the step');
    assert.equal(scaler.scaleValue, 2 ** 8);
    assert.equal(step(null), true);
    assert.notDeepEqual(
      torch.tidy(() => lin.weight.toArray()),
      before,
    );
    assert.equal(scaler.scaleValue, 2 ** 8, 'one clean step');
    assert.equal(step(null), true);
    assert.equal(scaler.scaleValue, 2 ** 9, 'two clean steps (growthInterval) double the scale');
    assert.deepEqual(scaler.stateDict(), {
      scale: 2 ** 9,
      growth_factor: 2,
      backoff_factor: 0.5,
      growth_interval: 2,
      _growth_tracker: 0,
    });
    assert.equal(step(null), true);
    const restored = new GradScaler({ growthInterval: 2 });
    restored.loadStateDict(scaler.stateDict());
    assert.deepEqual(restored.stateDict(), scaler.stateDict());
    assert.equal(restored.stateDict()._growth_tracker, 1);
    opt.dispose();
    lin.dispose();
    x.dispose();
  });

  it('disabled, it is the identity; bad settings and updates without a step are errors', () => {
    const { lin, opt, x } = setup();
    const off = new GradScaler({ enabled: false });
    torch.tidy(() => {
      const loss = lin.forward(x).sum();
      assert.equal(off.scale(loss), loss);
      loss.backward();
    });
    assert.equal(off.step(opt), true);
    off.update();
    assert.equal(off.scaleValue, 1);
    assert.throws(() => new GradScaler({ backoffFactor: 1.5 }), /0 < backoffFactor < 1/);
    assert.throws(() => new GradScaler({ growthInterval: 0 }), /growthInterval >= 1/);
    assert.throws(() => new GradScaler().update(), /no optimiser was stepped or unscaled/);
    assert.throws(() => new GradScaler().loadStateDict({}), /'scale' must be a positive number/);
    const before = torch.memory().liveTensors;
    const s = new GradScaler();
    torch.tidy(() => s.scale(lin.forward(x).sum()).backward());
    s.step(opt);
    s.update();
    assert.equal(torch.memory().liveTensors, before, 'a scaled step leaks no tensors');
    lin.dispose();
    x.dispose();
  });
});
