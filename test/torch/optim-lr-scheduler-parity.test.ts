/**
 * Learning-rate schedulers against PyTorch 1.13's: StepLR, CosineAnnealingLR (past T_max too) and OneCycleLR
 * (SGD momentum and AdamW beta1 cycled; three-phase linear) against the classes of the same name, and
 * LinearWarmupCosine against SequentialLR(LinearLR, CosineAnnealingLR). Rates (and momenta) are compared after
 * construction and after every step, for two parameter groups. State dicts round-trip through JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { optim, type Tensor } from '../../src/torch/index.js';
import { disposeAll, Fixtures, SKIP_NO_TORCH, type SchedCase } from './optim-fixtures.js';

type Opt = optim.SGD | optim.AdamW;

function makeOpt(
  kind: 'SGD' | 'AdamW',
  lrs: number[],
  kwargs: Record<string, unknown>,
): { opt: Opt; params: Tensor[] } {
  const params = lrs.map(() => torch.zeros([2], { requiresGrad: true }));
  const groups = params.map((p, i) => ({ params: [p], lr: lrs[i]! }));
  const opt =
    kind === 'SGD'
      ? new optim.SGD(groups, { momentum: (kwargs['momentum'] as number | undefined) ?? 0 })
      : new optim.AdamW(groups);
  return { opt, params };
}

function makeScheduler(c: Pick<SchedCase, 'sched' | 'kwargs'>, opt: Opt): optim.LRScheduler {
  const k = c.kwargs;
  const num = (key: string): number => {
    const v = k[key];
    assert.equal(typeof v, 'number', `${c.sched} kwarg ${key}`);
    return v as number;
  };
  switch (c.sched) {
    case 'StepLR':
      return new optim.StepLR(opt, { stepSize: num('step_size'), gamma: num('gamma') });
    case 'CosineAnnealingLR':
      return new optim.CosineAnnealingLR(opt, { tMax: num('T_max'), etaMin: num('eta_min') });
    case 'LinearWarmupCosine':
      return new optim.LinearWarmupCosine(opt, {
        warmupSteps: num('warmup_steps'),
        totalSteps: num('total_steps'),
        startFactor: num('start_factor'),
        etaMin: num('eta_min'),
      });
    case 'OneCycleLR': {
      const o: optim.OneCycleLROptions = { maxLr: k['max_lr'] as number | number[] };
      if ('total_steps' in k) o.totalSteps = num('total_steps');
      if ('epochs' in k) {
        o.epochs = num('epochs');
        o.stepsPerEpoch = num('steps_per_epoch');
      }
      if ('pct_start' in k) o.pctStart = num('pct_start');
      if ('div_factor' in k) o.divFactor = num('div_factor');
      if ('final_div_factor' in k) o.finalDivFactor = num('final_div_factor');
      if ('three_phase' in k) o.threePhase = k['three_phase'] === true;
      if ('anneal_strategy' in k) o.annealStrategy = k['anneal_strategy'] as 'cos' | 'linear';
      if ('cycle_momentum' in k) o.cycleMomentum = k['cycle_momentum'] === true;
      return new optim.OneCycleLR(opt, o);
    }
  }
}

function momenta(opt: Opt): number[] {
  return opt.paramGroups.map((g) =>
    'betas' in g ? (g.betas as readonly number[])[0]! : (g as { momentum: number }).momentum,
  );
}

/** Largest |a - b| / |b| over the sequences (|a - b| where b is 0). */
function maxRelDiff(actual: number[][], expected: number[][], what: string): number {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} entries, PyTorch has ${expected.length}`);
  let worst = 0;
  actual.forEach((row, s) =>
    row.forEach((a, g) => {
      const e = expected[s]![g]!;
      const d = e === 0 ? Math.abs(a) : Math.abs(a - e) / Math.abs(e);
      assert.ok(d <= 1e-12, `${what}: step ${s}, group ${g}: ${a}, PyTorch ${e}`);
      worst = Math.max(worst, d);
    }),
  );
  return worst;
}

const CASES: [string, string][] = [
  ['sched_step', 'StepLR (step 3, gamma 0.5)'],
  ['sched_cosine', 'CosineAnnealingLR over 3.5 periods of T_max'],
  ['sched_warmup_cosine', 'LinearWarmupCosine = SequentialLR(LinearLR, CosineAnnealingLR), 5 + 25 steps'],
  [
    'sched_warmup_cosine_long',
    'LinearWarmupCosine = SequentialLR(LinearLR, CosineAnnealingLR), 100 + 900 steps, AdamW',
  ],
  ['sched_onecycle_sgd', 'OneCycleLR with SGD momentum cycled, per-group max lr'],
  ['sched_onecycle_adamw', "OneCycleLR with AdamW's beta1 cycled, custom pct_start and div factors"],
  [
    'sched_onecycle_three_phase_linear',
    'OneCycleLR three-phase, linear, epochs x steps per epoch, no momentum cycling',
  ],
];

describe('schedulers match PyTorch 1.13 lr sequences', { skip: SKIP_NO_TORCH }, () => {
  let fx: Fixtures;
  before(() => {
    fx = new Fixtures('sched_');
  });
  after(() => fx?.cleanup());

  for (const [name, what] of CASES) {
    it(`${what} (${name})`, (t) => {
      const c = fx.manifest.schedulers[name]!;
      const { opt, params } = makeOpt(c.opt, c.group_lrs, c.opt_kwargs);
      try {
        const sched = makeScheduler(c, opt);
        const lrs = [sched.getLastLr()];
        const moms = [momenta(opt)];
        for (let s = 0; s < c.steps; s++) {
          opt.step();
          sched.step();
          lrs.push(sched.getLastLr());
          moms.push(momenta(opt));
        }
        const dl = maxRelDiff(lrs, c.lrs, `${name} lr`);
        const dm = maxRelDiff(moms, c.momenta, `${name} momentum`);
        t.diagnostic(`${name}: max relative lr difference ${dl}, momentum ${dm}`);
      } finally {
        opt.dispose();
        disposeAll(params);
      }
    });
  }
});

describe('scheduler state dicts and errors', () => {
  const ROUND_TRIP: [string, Pick<SchedCase, 'sched' | 'kwargs' | 'opt'>][] = [
    ['StepLR', { sched: 'StepLR', opt: 'SGD', kwargs: { step_size: 2, gamma: 0.3 } }],
    ['CosineAnnealingLR', { sched: 'CosineAnnealingLR', opt: 'SGD', kwargs: { T_max: 7, eta_min: 0.01 } }],
    [
      'LinearWarmupCosine',
      {
        sched: 'LinearWarmupCosine',
        opt: 'SGD',
        kwargs: { warmup_steps: 4, total_steps: 20, start_factor: 0.1, eta_min: 0 },
      },
    ],
    ['OneCycleLR', { sched: 'OneCycleLR', opt: 'AdamW', kwargs: { max_lr: [0.1, 0.05], total_steps: 20 } }],
  ];
  for (const [label, c] of ROUND_TRIP) {
    it(`${label}: save after 6 steps, load into a fresh optimiser and scheduler, continue: same rates as uninterrupted`, () => {
      const a = makeOpt(c.opt, [0.1, 0.02], { momentum: 0.9 });
      const b = makeOpt(c.opt, [0.5, 0.5], { momentum: 0.9 });
      try {
        const sa = makeScheduler(c, a.opt);
        for (let s = 0; s < 6; s++) {
          a.opt.step();
          sa.step();
        }
        const saved = JSON.parse(JSON.stringify(sa.stateDict())) as Record<string, unknown>;
        assert.equal(saved['last_epoch'], 6);
        const sb = makeScheduler(c, b.opt);
        b.opt.loadStateDict(a.opt.stateDict());
        sb.loadStateDict(saved);
        assert.deepEqual(sb.getLastLr(), sa.getLastLr());
        for (let s = 0; s < 10; s++) {
          a.opt.step();
          sa.step();
          b.opt.step();
          sb.step();
          assert.deepEqual(sb.getLastLr(), sa.getLastLr(), `step ${s}`);
          assert.deepEqual(momenta(b.opt), momenta(a.opt), `momenta at step ${s}`);
        }
      } finally {
        for (const o of [a, b]) {
          o.opt.dispose();
          disposeAll(o.params);
        }
      }
    });
  }

  it('OneCycleLR refuses to step past totalSteps, as PyTorch', () => {
    const { opt, params } = makeOpt('SGD', [0.1], { momentum: 0.9 });
    try {
      const s = new optim.OneCycleLR(opt, { maxLr: 1, totalSteps: 3 });
      for (let i = 0; i < 3; i++) s.step();
      assert.throws(() => s.step(), /OneCycleLR: tried to step 5 times; the schedule has 3 total steps/);
    } finally {
      opt.dispose();
      disposeAll(params);
    }
  });

  it('LinearWarmupCosine stays at etaMin past totalSteps and rejects bad options', () => {
    const { opt, params } = makeOpt('SGD', [0.1], {});
    try {
      const s = new optim.LinearWarmupCosine(opt, { warmupSteps: 2, totalSteps: 5, etaMin: 0.001 });
      assert.deepEqual(s.getLastLr(), [0.1 * 0.1]);
      for (let i = 0; i < 5; i++) s.step();
      assert.ok(Math.abs(s.getLastLr()[0]! - 0.001) < 1e-15);
      s.step();
      assert.deepEqual(s.getLastLr(), [0.001]);
      assert.throws(
        () => new optim.LinearWarmupCosine(opt, { warmupSteps: 5, totalSteps: 5 }),
        /LinearWarmupCosine: totalSteps \(5\) must be greater than warmupSteps \(5\)/,
      );
      assert.throws(
        () => new optim.LinearWarmupCosine(opt, { warmupSteps: 1, totalSteps: 5, startFactor: 0 }),
        /startFactor must be in \(0, 1\]/,
      );
      assert.throws(
        () => new optim.OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 5 }),
        /OneCycleLR: maxLr: expected 1 values \(one per parameter group\), got 2/,
      );
      assert.throws(
        () => new optim.OneCycleLR(opt, { maxLr: 1 }),
        /OneCycleLR: give either totalSteps or both epochs and stepsPerEpoch/,
      );
      assert.throws(() => new optim.StepLR(opt, { stepSize: 0 }), /StepLR: stepSize must be a positive integer/);
      assert.throws(
        () => s.loadStateDict({ ...s.stateDict(), base_lrs: [1, 2] }),
        /LinearWarmupCosine.loadStateDict: the state has 2 base_lrs and 1 _last_lr, the optimiser has 1 parameter groups/,
      );
    } finally {
      opt.dispose();
      disposeAll(params);
    }
  });
});
