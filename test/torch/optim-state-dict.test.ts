/**
 * Optimiser state dicts: saving after k steps and loading into a fresh optimiser continues exactly as the
 * uninterrupted run (inkwell to inkwell), a state dict saved by PyTorch (of the libtorch's version) loads and
 * continues PyTorch's trajectory, one saved by inkwell loads into PyTorch and continues it there, and both hold the same keys and
 * values after the same steps. Invalid state dicts are refused without changing the optimiser.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { optim, Tensor } from '../../src/torch/index.js';
import { writeNpy } from '../../src/torch/serialization/npy.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { assertClose, loadNpyFile } from '../helpers/compare.js';
import { runPython } from '../helpers/python.js';
import {
  type AnyOptimizer,
  disposeAll,
  F32_TOL,
  Fixtures,
  initialParams,
  makeOptimizer,
  type OptCase,
  replay,
  SKIP_NO_TORCH,
} from './optim-fixtures.js';

const EXACT = { rtol: 0, atol: 0 };

// ----- inkwell to inkwell, no PyTorch needed -----

interface Setup {
  opt: 'SGD' | 'AdamW' | 'LARS';
  kwargs: Record<string, unknown>;
  groups: (Record<string, unknown> & { params: number[] })[];
}

const SETUPS: [string, Setup][] = [
  [
    'SGD (nesterov, two groups, weight decay)',
    {
      opt: 'SGD',
      kwargs: { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1e-3 },
      groups: [{ params: [0, 1] }, { params: [2], lr: 0.01 }],
    },
  ],
  [
    'AdamW (amsgrad, two groups)',
    {
      opt: 'AdamW',
      kwargs: { lr: 1e-2, amsgrad: true },
      groups: [{ params: [0] }, { params: [1, 2], betas: [0.8, 0.99], weight_decay: 0 }],
    },
  ],
  [
    'LARS (VICReg filters)',
    { opt: 'LARS', kwargs: { lr: 0.3, weight_decay: 0.01, eta: 0.01, filters: true }, groups: [{ params: [0, 1, 2] }] },
  ],
];

describe('optimizer stateDict round trip within inkwell', () => {
  for (const [label, setup] of SETUPS) {
    it(`${label}: save after 3 steps, load into a fresh optimiser, continue 4 steps: same parameters as uninterrupted`, () => {
      torch.manualSeed(11);
      const shapes = [[4, 3], [3], [2, 5]];
      const init = torch.unscoped(() => shapes.map((s) => torch.randn(s)));
      const grads = torch.unscoped(() => Array.from({ length: 7 }, () => shapes.map((s) => torch.randn(s))));
      const a = torch.unscoped(() => init.map((t) => t.clone().requiresGrad_()));
      const optA = makeOptimizer(setup, a);
      let b: Tensor[] = [];
      let optB: AnyOptimizer | undefined;
      const stepWith = (opt: AnyOptimizer, ps: Tensor[], s: number): void => {
        ps.forEach((p, i) => {
          p.grad = grads[s]![i]!;
        });
        opt.step();
      };
      try {
        for (let s = 0; s < 3; s++) stepWith(optA, a, s);
        const saved = optA.stateDict();
        // PyTorch numbers parameters across groups in order; these setups list them in that order.
        assert.deepEqual(
          saved.param_groups.map((g) => g.params),
          setup.groups.map((g) => g.params),
        );
        b = torch.unscoped(() => a.map((t) => t.detach().clone().requiresGrad_()));
        // A fresh optimiser with different hyperparameters: the state dict's must win.
        optB = makeOptimizer({ ...setup, kwargs: { ...setup.kwargs, lr: 123 } }, b);
        optB.loadStateDict(saved);
        assert.deepEqual(
          optB.paramGroups.map((g) => g.lr),
          optA.paramGroups.map((g) => g.lr),
        );
        for (let s = 3; s < 7; s++) {
          stepWith(optA, a, s);
          stepWith(optB, b, s);
          torch.tidy(() => a.forEach((p, i) => assertClose(b[i]!, p, `param ${i} after step ${s}`, EXACT)));
        }
      } finally {
        optA.dispose();
        optB?.dispose();
        disposeAll([...init, ...grads.flat(), ...a, ...b]);
      }
    });
  }

  it('refuses a state dict with other groups or shapes, and changes nothing then', () => {
    const ps = torch.unscoped(() => [torch.randn([3, 2]).requiresGrad_(), torch.randn([2]).requiresGrad_()]);
    const opt = new optim.AdamW([{ params: [ps[0]!] }, { params: [ps[1]!], lr: 0.5 }]);
    try {
      torch.tidy(() => {
        ps.forEach((p) => {
          p.grad = torch.onesLike(p);
        });
      });
      opt.step();
      const sd = opt.stateDict();
      const before = opt.stateDict();
      assert.throws(
        () => opt.loadStateDict({ ...sd, param_groups: sd.param_groups.slice(0, 1) }),
        /AdamW.loadStateDict: the state dict has 1 parameter groups, this optimiser has 2/,
      );
      assert.throws(
        () =>
          opt.loadStateDict({ ...sd, param_groups: [sd.param_groups[0]!, { ...sd.param_groups[1]!, params: [1, 2] }] }),
        /AdamW.loadStateDict: param_groups\[1\] has 2 parameters, this optimiser's group 1 has 1/,
      );
      const wrongShape = new Map(sd.state);
      wrongShape.set(
        1,
        new Map<string, optim.StateValue>([
          ['step', 1],
          ['exp_avg', torch.zeros([5])],
          ['exp_avg_sq', torch.zeros([2])],
        ]),
      );
      assert.throws(
        () => opt.loadStateDict({ ...sd, state: wrongShape }),
        /AdamW.loadStateDict: state\[1\].exp_avg: shape \[5\] does not match its parameter's \[2\]/,
      );
      const unknown = new Map(sd.state);
      unknown.set(7, new Map([['step', 1]]));
      assert.throws(
        () => opt.loadStateDict({ ...sd, state: unknown }),
        /state refers to parameter 7, which no parameter group lists/,
      );
      assert.throws(
        () =>
          opt.loadStateDict({
            ...sd,
            param_groups: [sd.param_groups[0]!, { ...sd.param_groups[1]!, betas: [2, 0.9] }],
          }),
        /param_groups\[1\]: AdamW expects 0 <= betas\[0\] < 1, got 2/,
      );
      // Nothing changed: the same hyperparameters and the very same state tensors.
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        [1e-3, 0.5],
      );
      for (const [id, st] of before.state)
        for (const [k, v] of st) assert.equal(opt.stateDict().state.get(id)!.get(k), v);
      for (const t of wrongShape.get(1)!.values()) if (t instanceof Tensor) t.dispose();
    } finally {
      opt.dispose();
      disposeAll(ps);
    }
  });
});

// ----- exchange with PyTorch -----

const RESUME_CASES = ['sgd_resume', 'adamw_resume', 'lars_resume'];

/** PyTorch's state dict from the manifest: state entries as StoredTensors (0-dim `step` included) or numbers. */
function pytorchStateDict(fx: Fixtures, c: OptCase): optim.OptimizerStateDictLike {
  const sd = c.state_dict!;
  const state: Record<string, Record<string, StoredTensor | number>> = {};
  for (const [id, entries] of Object.entries(sd.state)) {
    state[id] = {};
    for (const [k, v] of Object.entries(entries))
      state[id]![k] = typeof v === 'number' ? v : loadNpyFile(join(fx.dir, v.npy));
  }
  return { state, param_groups: sd.param_groups };
}

describe('optimizer state dicts exchange with PyTorch', { skip: SKIP_NO_TORCH }, () => {
  let fx: Fixtures;
  before(() => {
    fx = new Fixtures(...RESUME_CASES);
  });
  after(() => fx?.cleanup());

  for (const name of RESUME_CASES) {
    it(`${name}: PyTorch's state_dict after ${name === 'lars_resume' ? 2 : 3} steps loads and continues PyTorch's trajectory`, (t) => {
      const c = fx.optCase(name);
      const k = c.save_after!;
      const params = torch.unscoped(() => c.shapes.map((_, i) => fx.tensor(`${name}.p${k - 1}.${i}`).requiresGrad_()));
      const opt = makeOptimizer({ ...c, kwargs: { ...c.kwargs, lr: 9.5 } }, params);
      try {
        opt.loadStateDict(pytorchStateDict(fx, c));
        assert.deepEqual(
          opt.paramGroups.map((g) => g.lr),
          c.state_dict!.param_groups.map((g) => g['lr']),
        );
        const worst = replay(fx, c, opt, params, k, c.steps);
        t.diagnostic(`${name}: max |inkwell - PyTorch| after loading PyTorch's state = ${worst}`);
      } finally {
        opt.dispose();
        disposeAll(params);
      }
    });

    it(`${name}: inkwell's stateDict holds what PyTorch's does, and PyTorch loads it and continues identically`, (t) => {
      const c = fx.optCase(name);
      const k = c.save_after!;
      const params = initialParams(fx, c);
      const opt = makeOptimizer(c, params);
      const dir = mkdtempSync(join(tmpdir(), 'inkwell-optim-'));
      try {
        replay(fx, c, opt, params, 0, k);
        const ours = opt.stateDict();
        const theirs = c.state_dict!;

        // Same groups: keys, values (PyTorch's tuples are lists in JSON), parameter numbering.
        assert.equal(ours.param_groups.length, theirs.param_groups.length);
        ours.param_groups.forEach((g, gi) =>
          assert.deepEqual(JSON.parse(JSON.stringify(g)), theirs.param_groups[gi], `param_groups[${gi}]`),
        );
        // Same state: parameter ids, keys, numbers, tensors.
        assert.deepEqual([...ours.state.keys()].sort(), Object.keys(theirs.state).map(Number).sort());
        let worst = 0;
        for (const [id, st] of ours.state) {
          const ref = theirs.state[String(id)]!;
          assert.deepEqual([...st.keys()].sort(), Object.keys(ref).sort(), `state[${id}] keys`);
          for (const [key, v] of st) {
            const r = ref[key]!;
            const expected = typeof r === 'number' ? r : loadNpyFile(join(fx.dir, r.npy));
            if (v instanceof Tensor)
              worst = Math.max(worst, assertClose(v, expected as StoredTensor, `state[${id}].${key}`, F32_TOL));
            else
              assert.equal(
                v,
                typeof expected === 'number' ? expected : torch.tidy(() => torch.fromStored(expected).item()),
                `state[${id}].${key}`,
              );
          }
        }

        // Written as plain data (tensors as .npy), loaded by PyTorch's load_state_dict in the fixture script.
        const state: Record<string, Record<string, number | { npy: string }>> = {};
        for (const [id, st] of ours.state) {
          state[id] = {};
          for (const [key, v] of st) {
            if (v instanceof Tensor) {
              const file = `state.${id}.${key}.npy`;
              writeFileSync(join(dir, file), writeNpy(torch.toStored(v)));
              state[id]![key] = { npy: file };
            } else {
              state[id]![key] = v;
            }
          }
        }
        writeFileSync(join(dir, 'state.json'), JSON.stringify({ state, param_groups: ours.param_groups }));
        params.forEach((p, i) => writeFileSync(join(dir, `param.${i}.npy`), writeNpy(torch.toStored(p))));
        runPython('optim_fixtures.py', ['resume', join(dir, 'out'), name, dir]);
        const groups = JSON.parse(readFileSync(join(dir, 'out', 'groups.json'), 'utf8')) as Record<string, unknown>[];
        assert.deepEqual(
          groups.map((g) => g['lr']),
          ours.param_groups.map((g) => g['lr']),
        );
        for (const [i] of params.entries()) {
          worst = Math.max(
            worst,
            assertClose(
              loadNpyFile(join(dir, 'out', `resumed.${i}.npy`)),
              fx.stored(`${name}.p${c.steps - 1}.${i}`),
              `PyTorch resumed from inkwell's state: param ${i}`,
              F32_TOL,
            ),
          );
        }
        t.diagnostic(`${name}: max difference in state and resumed params = ${worst}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        opt.dispose();
        disposeAll(params);
      }
    });
  }
});
