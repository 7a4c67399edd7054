/**
 * Optimiser API behaviour without PyTorch: option and group validation (errors name the optimiser and what was
 * expected), defaults filling later groups, parameters without gradients skipped, zeroGrad, extra group keys and
 * LARS filters in state dicts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { optim, type Tensor } from '../../src/torch/index.js';
import { disposeAll } from './optim-fixtures.js';

function params(...shapes: number[][]): Tensor[] {
  return torch.unscoped(() => shapes.map((s) => torch.randn(s).requiresGrad_()));
}

function withParams(shapes: number[][], fn: (ps: Tensor[]) => void): void {
  const ps = params(...shapes);
  try {
    fn(ps);
  } finally {
    disposeAll(ps);
  }
}

describe('optimiser options and groups are validated', () => {
  it('SGD: nesterov needs momentum > 0 and dampening 0', () =>
    withParams([[2]], ([p]) => {
      assert.throws(
        () => new optim.SGD([p!], { lr: 0.1, nesterov: true }),
        /SGD: nesterov momentum requires momentum > 0 and dampening = 0 \(got momentum 0, dampening 0\)/,
      );
      assert.throws(
        () => new optim.SGD([p!], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }),
        /SGD: nesterov momentum requires momentum > 0 and dampening = 0/,
      );
    }));

  it('SGD and LARS: lr is required, in the options or in every group', () =>
    withParams([[2], [3]], ([a, b]) => {
      assert.throws(
        () => new optim.SGD([a!]),
        /SGD: lr is required \(give it in the options or in every parameter group\)/,
      );
      assert.throws(() => new optim.LARS([a!]), /LARS: lr is required/);
      assert.throws(
        () => new optim.SGD([{ params: [a!], lr: 0.1 }, { params: [b!] }]),
        /SGD: lr is required.*parameter group 1/,
      );
      const opt = new optim.SGD([
        { params: [a!], lr: 0.1 },
        { params: [b!], lr: 0.2 },
      ]);
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        [0.1, 0.2],
      );
    }));

  it('parameter lists: empty, duplicated, non-leaf, mixed tensors and groups are refused', () =>
    withParams([[2], [3]], ([a, b]) => {
      assert.throws(() => new optim.AdamW([]), /AdamW: got an empty parameter list/);
      assert.throws(() => new optim.AdamW([a!, a!]), /AdamW: parameter group 0: params\[1\] appears more than once/);
      assert.throws(
        () => new optim.AdamW([{ params: [a!] }, { params: [b!, a!] }]),
        /AdamW: parameter group 1: params\[1\] appears more than once/,
      );
      assert.throws(() => new optim.AdamW([{ params: [] }]), /AdamW: parameter group 0 has no parameters/);
      assert.throws(
        () => new optim.AdamW([{ params: [a!] }, 3] as unknown as Tensor[]),
        /AdamW: params\[1\] is number 3, expected a Tensor or a parameter group/,
      );
      torch.tidy(() => {
        const nonLeaf = a!.mul(2);
        assert.throws(() => new optim.AdamW([nonLeaf]), /AdamW: parameter group 0: params\[0\] is not a leaf tensor/);
      });
      assert.throws(
        () => new optim.AdamW([a!, { params: [b!] }] as unknown as Tensor[]),
        /AdamW: params mixes tensors \(params\[0\]\) and parameter groups; give one or the other/,
      );
    }));

  it('a snake_case option in a group is caught instead of silently ignored', () =>
    withParams([[2]], ([a]) => {
      assert.throws(
        () => new optim.SGD([{ params: [a!], lr: 0.1, weight_decay: 0.1 }]),
        /SGD: parameter group 0: option 'weight_decay' is spelled 'weightDecay' in inkwell/,
      );
    }));

  it('AdamW and LARS hyperparameters are range-checked', () =>
    withParams([[2]], ([a]) => {
      assert.throws(() => new optim.AdamW([a!], { betas: [0.9, 1] }), /AdamW expects 0 <= betas\[1\] < 1, got 1/);
      assert.throws(() => new optim.AdamW([a!], { lr: -1 }), /AdamW expects lr >= 0, got -1/);
      assert.throws(() => new optim.AdamW([a!], { eps: -1 }), /AdamW expects eps >= 0/);
      assert.throws(
        () => new optim.LARS([a!], { lr: 0.1, eta: 0 }),
        /LARS expects eta \(the trust coefficient\) > 0, got 0/,
      );
      assert.throws(
        () => new optim.LARS([a!], { lr: 0.1, weightDecayFilter: 'yes' as unknown as optim.LarsFilter }),
        /LARS expects weightDecayFilter to be a function \(param\) => boolean or null/,
      );
    }));

  it('a group made invalid after construction is caught at step()', () =>
    withParams([[2]], ([a]) => {
      const opt = new optim.SGD([a!], { lr: 0.1, momentum: 0.9 });
      opt.paramGroups[0]!.momentum = -1;
      torch.tidy(() => {
        a!.grad = torch.onesLike(a!);
      });
      assert.throws(() => opt.step(), /SGD: parameter group 0: SGD expects momentum >= 0, got -1/);
      opt.dispose();
    }));

  it('AdamW: turning amsgrad on after the state exists is an error, as in PyTorch', () =>
    withParams([[2]], ([a]) => {
      const opt = new optim.AdamW([a!]);
      torch.tidy(() => {
        a!.grad = torch.onesLike(a!);
      });
      opt.step();
      opt.paramGroups[0]!.amsgrad = true;
      assert.throws(() => opt.step(), /AdamW: amsgrad is on but a parameter's state has no 'max_exp_avg_sq'/);
      opt.dispose();
    }));
});

describe('optimiser behaviour', () => {
  it('parameters without a gradient are skipped: unchanged, no state; zeroGrad drops every gradient', () =>
    withParams([[3], [2, 2]], ([a, b]) => {
      const opt = new optim.AdamW([a!, b!], { lr: 0.1 });
      const before = b!.toFloat32Array();
      torch.tidy(() => {
        a!.grad = torch.onesLike(a!);
      });
      opt.step();
      assert.deepEqual(b!.toFloat32Array(), before);
      assert.equal(opt.stateOf(b!), undefined);
      assert.equal(opt.stateOf(a!)?.get('step'), 1);
      assert.deepEqual([...opt.stateDict().state.keys()], [0]);
      opt.zeroGrad();
      torch.tidy(() => assert.equal(a!.grad, null));
      opt.dispose();
    }));

  it('addParamGroup fills in defaults; parameters() lists every group in order', () =>
    withParams([[2], [3]], ([a, b]) => {
      const opt = new optim.SGD([a!], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
      opt.addParamGroup({ params: [b!], lr: 0.01 });
      const g = opt.paramGroups[1]!;
      assert.deepEqual([g.lr, g.momentum, g.weightDecay, g.nesterov], [0.01, 0.9, 1e-4, false]);
      assert.deepEqual(opt.parameters(), [a, b]);
      assert.throws(
        () => opt.addParamGroup({ params: [a!] }),
        /SGD: parameter group 2: params\[0\] appears more than once/,
      );
    }));

  it('stateDict: PyTorch names and constants, parameters numbered across groups, extra keys kept', () =>
    withParams([[2], [3], [4]], ([a, b, c]) => {
      const opt = new optim.SGD(
        [
          { params: [a!, b!], name: 'backbone' },
          { params: [c!], lr: 0.5 },
        ],
        { lr: 0.1, momentum: 0.9 },
      );
      const sd = opt.stateDict();
      // PyTorch 2's SGD groups also hold `fused`: the constants follow the PyTorch of the libtorch's version.
      const constants = {
        foreach: null,
        differentiable: false,
        ...(torch.libtorchMajor() >= 2 ? { fused: null } : {}),
      };
      assert.deepEqual(sd.param_groups, [
        {
          lr: 0.1,
          momentum: 0.9,
          dampening: 0,
          weight_decay: 0,
          nesterov: false,
          maximize: false,
          ...constants,
          name: 'backbone',
          params: [0, 1],
        },
        {
          lr: 0.5,
          momentum: 0.9,
          dampening: 0,
          weight_decay: 0,
          nesterov: false,
          maximize: false,
          ...constants,
          params: [2],
        },
      ]);
    }));

  it("LARS filters: excludeBiasAndNorm is written as VICReg's function name and read back from a name or a pickled reference", () =>
    withParams([[2, 2], [2]], ([w, bias]) => {
      const opt = new optim.LARS([w!, bias!], { lr: 0.1 });
      const sd = opt.stateDict();
      assert.equal(sd.param_groups[0]!['weight_decay_filter'], 'exclude_bias_and_norm');
      assert.equal(sd.param_groups[0]!['lars_adaptation_filter'], 'exclude_bias_and_norm');
      opt.loadStateDict({ ...sd, param_groups: [{ ...sd.param_groups[0]!, weight_decay_filter: null }] });
      assert.equal(opt.paramGroups[0]!.weightDecayFilter, null);
      opt.loadStateDict({
        ...sd,
        param_groups: [
          { ...sd.param_groups[0]!, weight_decay_filter: { module: 'main_vicreg', name: 'exclude_bias_and_norm' } },
        ],
      });
      assert.equal(opt.paramGroups[0]!.weightDecayFilter, optim.excludeBiasAndNorm);
      assert.equal(optim.excludeBiasAndNorm(bias!), true);
      assert.equal(optim.excludeBiasAndNorm(w!), false);
    }));
});
