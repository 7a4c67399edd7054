/**
 * Shared by the optim-*.test.ts files: runs test/fixtures/optim_fixtures.py (PyTorch 1.13 at /usr/bin/python3),
 * reads its manifest and .npy files, builds the inkwell optimiser a case describes and replays the case's steps.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { optim, type Tensor } from '../../src/torch/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { assertClose, loadNpyFile } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

export const SKIP_NO_TORCH: string | false = hasTorchPython() ? false : NO_TORCH_REASON;

/** float32 parity: |inkwell - PyTorch| <= 1e-6 + 1e-6 * |PyTorch| element-wise. */
export const F32_TOL = { rtol: 1e-6, atol: 1e-6 };

type Kwargs = Record<string, unknown>;

export interface OptCase {
  name: string;
  opt: 'SGD' | 'AdamW' | 'LARS';
  kwargs: Kwargs;
  groups?: (Kwargs & { params: number[] })[];
  shapes: number[][];
  steps: number;
  missing?: [number, number][];
  save_after?: number;
  state_dict?: {
    state: Record<string, Record<string, number | { npy: string }>>;
    param_groups: (Kwargs & { params: number[] })[];
  };
}

export interface ClipCase {
  name: string;
  max_norm: number;
  norm_type: number | 'inf';
  shapes: number[][];
  missing?: number[];
  total_norm: number;
}

export interface SchedCase {
  name: string;
  opt: 'SGD' | 'AdamW';
  opt_kwargs: Kwargs;
  group_lrs: number[];
  sched: 'StepLR' | 'CosineAnnealingLR' | 'LinearWarmupCosine' | 'OneCycleLR';
  kwargs: Kwargs;
  steps: number;
  lrs: number[][];
  momenta: number[][];
}

export interface Manifest {
  torch: string;
  optimizers: Record<string, OptCase>;
  clip: Record<string, ClipCase>;
  schedulers: Record<string, SchedCase>;
}

export class Fixtures {
  readonly dir: string;
  readonly manifest: Manifest;
  constructor(...prefixes: string[]) {
    this.dir = makeFixtures('optim_fixtures.py', ...prefixes);
    this.manifest = JSON.parse(readFileSync(join(this.dir, 'manifest.json'), 'utf8')) as Manifest;
  }
  has(name: string): boolean {
    return existsSync(join(this.dir, `${name}.npy`));
  }
  stored(name: string): StoredTensor {
    return loadNpyFile(join(this.dir, `${name}.npy`));
  }
  /** A live tensor from `<name>.npy`, owned by the current scope (or the caller). */
  tensor(name: string): Tensor {
    return torch.fromStored(this.stored(name));
  }
  optCase(name: string): OptCase {
    const c = this.manifest.optimizers[name];
    if (c === undefined) throw new Error(`no optimiser case ${name} in the fixtures`);
    return c;
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** PyTorch keyword arguments as inkwell options (snake_case to camelCase; the LARS case's `filters` flag to both filters). */
export function toOptions(kwargs: Kwargs): Kwargs {
  const out: Kwargs = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === 'params') continue;
    if (k === 'filters') {
      out['weightDecayFilter'] = v ? optim.excludeBiasAndNorm : null;
      out['larsAdaptationFilter'] = v ? optim.excludeBiasAndNorm : null;
    } else {
      out[camel(k)] = v;
    }
  }
  return out;
}

export type AnyOptimizer = optim.SGD | optim.AdamW | optim.LARS;

export function makeOptimizer(c: Pick<OptCase, 'opt' | 'kwargs' | 'groups'>, params: Tensor[]): AnyOptimizer {
  const groups = c.groups?.map((g) => ({ ...toOptions(g), params: g.params.map((i) => params[i]!) }));
  const options = toOptions(c.kwargs);
  switch (c.opt) {
    case 'SGD':
      return new optim.SGD((groups ?? params) as optim.Params<optim.SGDHyperparameters>, options as optim.SGDOptions);
    case 'AdamW':
      return new optim.AdamW(
        (groups ?? params) as optim.Params<optim.AdamWHyperparameters>,
        options as optim.AdamWOptions,
      );
    case 'LARS':
      return new optim.LARS(
        (groups ?? params) as optim.Params<optim.LARSHyperparameters>,
        options as optim.LARSOptions,
      );
  }
}

/** The case's initial parameters, as leaf tensors requiring grad (owned by the caller). */
export function initialParams(fx: Fixtures, c: OptCase): Tensor[] {
  return torch.unscoped(() => c.shapes.map((_, i) => fx.tensor(`${c.name}.p_init.${i}`).requiresGrad_()));
}

/** Sets step `s`'s gradients (null where the case drops one). */
export function setGrads(fx: Fixtures, c: OptCase, params: Tensor[], s: number): void {
  torch.tidy(() => {
    params.forEach((p, i) => {
      const name = `${c.name}.g${s}.${i}`;
      p.grad = fx.has(name) ? fx.tensor(name) : null;
    });
  });
}

/** Steps `from..to-1` of a case, checking every parameter against PyTorch after each; returns the max abs difference. */
export function replay(
  fx: Fixtures,
  c: OptCase,
  opt: AnyOptimizer,
  params: Tensor[],
  from: number,
  to: number,
): number {
  let worst = 0;
  for (let s = from; s < to; s++) {
    setGrads(fx, c, params, s);
    opt.step();
    torch.tidy(() => {
      params.forEach((p, i) => {
        worst = Math.max(
          worst,
          assertClose(p, fx.stored(`${c.name}.p${s}.${i}`), `${c.name}: param ${i} after step ${s}`, F32_TOL),
        );
      });
    });
  }
  return worst;
}

/** What a case's extra assertions get after its whole trajectory matched. */
export interface ReplayedCase {
  name: string;
  c: OptCase;
  fx: Fixtures;
  opt: AnyOptimizer;
  params: Tensor[];
}

/**
 * A suite of one test per case (fixture name, what it checks): the optimiser the case describes replays every
 * step against the stored trajectory of `reference`, then `check` adds the case's own assertions.
 */
export function describeReplay(
  title: string,
  prefix: string,
  cases: readonly [string, string][],
  o: { reference?: string; check?: (r: ReplayedCase) => void } = {},
): void {
  describe(title, { skip: SKIP_NO_TORCH }, () => {
    let fx: Fixtures;
    before(() => {
      fx = new Fixtures(prefix);
    });
    after(() => fx?.cleanup());

    for (const [name, what] of cases) {
      it(`${what} (${name})`, (t) => {
        const c = fx.optCase(name);
        const params = initialParams(fx, c);
        const opt = makeOptimizer(c, params);
        try {
          const worst = replay(fx, c, opt, params, 0, c.steps);
          t.diagnostic(`${name}: max |inkwell - ${o.reference ?? 'PyTorch'}| = ${worst}`);
          o.check?.({ name, c, fx, opt, params });
        } finally {
          opt.dispose();
          disposeAll(params);
        }
      });
    }
  });
}

export function disposeAll(ts: Iterable<Tensor>): void {
  for (const t of ts) t.dispose();
}
