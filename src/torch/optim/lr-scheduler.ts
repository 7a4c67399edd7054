/**
 * Learning-rate schedulers with PyTorch's stepping protocol (torch/optim/lr_scheduler.py, 1.13, _LRScheduler):
 * constructing one records each group's `initial_lr` (if not already there) and performs the initial step, which
 * sets epoch 0's learning rate; each `step()` then advances one epoch (or iteration) and writes the new rates into
 * the optimiser's groups. Call it after `optimizer.step()`.
 *
 * StepLR, CosineAnnealingLR and OneCycleLR compute exactly what PyTorch's classes compute (StepLR and
 * CosineAnnealingLR in PyTorch's recursive, chainable form, from each group's current lr), so their sequences
 * agree with PyTorch's to the last bit or two. LinearWarmupCosine is the closed form of PyTorch's
 * SequentialLR(LinearLR, CosineAnnealingLR) composition.
 *
 * State dicts are plain JSON-able objects with PyTorch's attribute names (`last_epoch`, `base_lrs`, `_step_count`,
 * `_last_lr`...). As in PyTorch, loading one restores the scheduler only: the groups' current learning rates come
 * back with the optimiser's state dict.
 */
import type { BaseHyperparameters, ParamGroup } from './optimizer.js';

export type JsonValue = number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type SchedulerStateDict = { [key: string]: JsonValue };

/** What a scheduler needs of an optimiser: its groups (with `lr`) and its defaults (which say whether it has momentum or betas). */
export interface SchedulableOptimizer {
  readonly name: string;
  readonly paramGroups: readonly ParamGroup<BaseHyperparameters>[];
  readonly defaults: object;
}

export abstract class LRScheduler {
  readonly optimizer: SchedulableOptimizer;
  /** Each group's `initial_lr`, taken when the scheduler was made. */
  baseLrs: number[] = [];
  /** Index of the current epoch (iteration): 0 after construction, +1 per `step()`. */
  lastEpoch = -1;
  /** Steps taken, the initial one included (PyTorch's `_step_count`). */
  protected stepCount = 0;
  #lastLr: number[] = [];

  protected constructor(
    readonly name: string,
    optimizer: SchedulableOptimizer,
  ) {
    if (optimizer === null || typeof optimizer !== 'object' || !Array.isArray(optimizer.paramGroups)) {
      throw new Error(`${name}: expected an optimiser (an object with paramGroups)`);
    }
    this.optimizer = optimizer;
  }

  /** The schedule: each group's learning rate at `lastEpoch` (called by `step()` after the counters advance). */
  protected abstract computeLr(): number[];
  /** This scheduler's own attributes for its state dict, under PyTorch's names. */
  protected abstract ownState(): SchedulerStateDict;
  protected abstract loadOwnState(sd: Record<string, unknown>, who: string): void;

  /** Subclasses call this at the end of their constructor, once their own fields are set (PyTorch's `_initial_step`). */
  protected initialStep(): void {
    for (const group of this.optimizer.paramGroups)
      if (group['initial_lr'] === undefined) group['initial_lr'] = group.lr;
    this.baseLrs = this.optimizer.paramGroups.map((g, i) =>
      groupNumber(g, 'initial_lr', `${this.name}: param group ${i}`),
    );
    this.lastEpoch = -1;
    this.stepCount = 0;
    this.step();
  }

  /** Advances one epoch (or iteration) and sets every group's learning rate. */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    const lrs = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i]!;
    });
    this.#lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The learning rates the last step set, one per group. */
  getLastLr(): number[] {
    return [...this.#lastLr];
  }

  stateDict(): SchedulerStateDict {
    return {
      ...this.ownState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      verbose: false,
      _step_count: this.stepCount,
      _get_lr_called_within_step: false,
      _last_lr: [...this.#lastLr],
    };
  }

  loadStateDict(sd: Record<string, unknown>): void {
    const who = `${this.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object') throw new Error(`${who}: expected an object, got ${String(sd)}`);
    const n = this.optimizer.paramGroups.length;
    const baseLrs = numberList(sd['base_lrs'], `${who}: base_lrs`);
    const lastLr = numberList(sd['_last_lr'], `${who}: _last_lr`);
    if (baseLrs.length !== n || lastLr.length !== n) {
      throw new Error(
        `${who}: the state has ${baseLrs.length} base_lrs and ${lastLr.length} _last_lr, the optimiser has ${n} parameter groups`,
      );
    }
    const lastEpoch = integer(sd['last_epoch'], `${who}: last_epoch`);
    const stepCount = integer(sd['_step_count'], `${who}: _step_count`);
    this.loadOwnState(sd, who);
    this.baseLrs = baseLrs;
    this.#lastLr = lastLr;
    this.lastEpoch = lastEpoch;
    this.stepCount = stepCount;
  }

  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/** Multiplies the learning rate by `gamma` every `stepSize` epochs, as torch.optim.lr_scheduler.StepLR. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: { stepSize: number; gamma?: number }) {
    super('StepLR', optimizer);
    this.stepSize = positiveInteger(opts.stepSize, 'StepLR: stepSize');
    this.gamma = finite(opts.gamma ?? 0.1, 'StepLR: gamma');
    this.initialStep();
  }

  protected computeLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }
  protected ownState(): SchedulerStateDict {
    return { step_size: this.stepSize, gamma: this.gamma };
  }
  protected loadOwnState(sd: Record<string, unknown>, who: string): void {
    (this as { stepSize: number }).stepSize = positiveInteger(sd['step_size'], `${who}: step_size`);
    (this as { gamma: number }).gamma = finite(sd['gamma'], `${who}: gamma`);
  }
}

/**
 * Cosine annealing from each group's initial lr to `etaMin` over `tMax` epochs (SGDR without restarts,
 * Loshchilov & Hutter 2017), as torch.optim.lr_scheduler.CosineAnnealingLR, including its recursive update and
 * its continuation past tMax (the rate rises again along the cosine).
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: SchedulableOptimizer, opts: { tMax: number; etaMin?: number }) {
    super('CosineAnnealingLR', optimizer);
    this.tMax = positiveInteger(opts.tMax, 'CosineAnnealingLR: tMax');
    this.etaMin = finite(opts.etaMin ?? 0, 'CosineAnnealingLR: etaMin');
    this.initialStep();
  }

  protected computeLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin } = this;
    if (e === 0) return this.groupLrs();
    if (this.stepCount === 1 && e > 0) {
      return this.baseLrs.map((base) => etaMin + ((base - etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    }
    if ((e - 1 - T) % (2 * T) === 0) {
      return this.optimizer.paramGroups.map(
        (g, i) => g.lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / T))) / 2,
      );
    }
    return this.groupLrs().map(
      (lr) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin,
    );
  }
  protected ownState(): SchedulerStateDict {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }
  protected loadOwnState(sd: Record<string, unknown>, who: string): void {
    (this as { tMax: number }).tMax = positiveInteger(sd['T_max'], `${who}: T_max`);
    (this as { etaMin: number }).etaMin = finite(sd['eta_min'], `${who}: eta_min`);
  }
}

export interface LinearWarmupCosineOptions {
  /** Epochs (iterations) of linear warmup; 0 for none. */
  warmupSteps: number;
  /** Length of the whole schedule, warmup included: the cosine phase spans totalSteps - warmupSteps. */
  totalSteps: number;
  /** Fraction of the initial lr the warmup starts from (default 0.1: ten times lower). */
  startFactor?: number;
  /** The rate the cosine ends at (absolute, as CosineAnnealingLR's eta_min). */
  etaMin?: number;
}

/**
 * Linear warmup from lr * startFactor to lr over `warmupSteps`, then cosine annealing to `etaMin` at `totalSteps`:
 *
 *   t < W:        lr * (startFactor + (1 - startFactor) * t / W)                       (LinearLR's closed form)
 *   W <= t <= N:  etaMin + (lr - etaMin) * (1 + cos(pi * (t - W) / (N - W))) / 2       (CosineAnnealingLR's)
 *   t > N:        etaMin
 *
 * which is PyTorch's SequentialLR([LinearLR(startFactor, 1, W), CosineAnnealingLR(N - W, etaMin)], [W]) up to
 * rounding in its recursive updates, except past the end, where PyTorch's cosine would rise again and this one
 * stays at etaMin.
 */
export class LinearWarmupCosine extends LRScheduler {
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly startFactor: number;
  readonly etaMin: number;

  constructor(optimizer: SchedulableOptimizer, opts: LinearWarmupCosineOptions) {
    super('LinearWarmupCosine', optimizer);
    const o = validateWarmupCosine(
      opts.warmupSteps,
      opts.totalSteps,
      opts.startFactor ?? 0.1,
      opts.etaMin ?? 0,
      'LinearWarmupCosine',
    );
    this.warmupSteps = o.warmupSteps;
    this.totalSteps = o.totalSteps;
    this.startFactor = o.startFactor;
    this.etaMin = o.etaMin;
    this.initialStep();
  }

  protected computeLr(): number[] {
    const t = this.lastEpoch;
    const W = this.warmupSteps;
    const N = this.totalSteps;
    return this.baseLrs.map((base) => {
      if (t < W) return base * (this.startFactor + ((1 - this.startFactor) * t) / W);
      if (t <= N) return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * (t - W)) / (N - W)))) / 2;
      return this.etaMin;
    });
  }
  protected ownState(): SchedulerStateDict {
    return {
      warmup_steps: this.warmupSteps,
      total_steps: this.totalSteps,
      start_factor: this.startFactor,
      eta_min: this.etaMin,
    };
  }
  protected loadOwnState(sd: Record<string, unknown>, who: string): void {
    const o = validateWarmupCosine(sd['warmup_steps'], sd['total_steps'], sd['start_factor'], sd['eta_min'], who);
    Object.assign(this, o);
  }
}

function validateWarmupCosine(
  warmupSteps: unknown,
  totalSteps: unknown,
  startFactor: unknown,
  etaMin: unknown,
  who: string,
) {
  const W = integer(warmupSteps, `${who}: warmupSteps`);
  const N = integer(totalSteps, `${who}: totalSteps`);
  if (W < 0) throw new Error(`${who}: warmupSteps must be >= 0, got ${W}`);
  if (!(N > W)) throw new Error(`${who}: totalSteps (${N}) must be greater than warmupSteps (${W})`);
  const f = finite(startFactor, `${who}: startFactor`);
  if (!(f > 0 && f <= 1)) throw new Error(`${who}: startFactor must be in (0, 1], got ${f}`);
  return { warmupSteps: W, totalSteps: N, startFactor: f, etaMin: finite(etaMin, `${who}: etaMin`) };
}

export interface OneCycleLROptions {
  /** Peak learning rate, one for all groups or one per group. */
  maxLr: number | readonly number[];
  /** Length of the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the rate (default 0.3). */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** Cycle momentum (or Adam's beta1) inversely to the rate, between baseMomentum and maxMomentum (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
  /** initial lr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** min lr = initial lr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** fast.ai's three-phase variant (default false). */
  threePhase?: boolean;
}

interface OneCyclePhase {
  end_step: number;
  start_lr: string;
  end_lr: string;
  start_momentum: string;
  end_momentum: string;
}

/**
 * The 1cycle policy (Smith & Topin, "Super-Convergence", 2018) as torch.optim.lr_scheduler.OneCycleLR: the rate
 * rises from maxLr/divFactor to maxLr over pctStart of the cycle, then anneals to initial/finalDivFactor; momentum
 * moves the other way. Like PyTorch it stores initial_lr, max_lr, min_lr (and max_momentum, base_momentum) in the
 * param groups and reads them from there, and it refuses to step past totalSteps.
 */
export class OneCycleLR extends LRScheduler {
  readonly totalSteps: number;
  readonly annealStrategy: 'cos' | 'linear';
  readonly cycleMomentum: boolean;
  /** True when the optimiser has Adam-style betas, whose beta1 plays the momentum's part. */
  readonly useBeta1: boolean;
  #phases: OneCyclePhase[];

  constructor(optimizer: SchedulableOptimizer, opts: OneCycleLROptions) {
    super('OneCycleLR', optimizer);
    const who = 'OneCycleLR';
    if (opts.totalSteps !== undefined) {
      this.totalSteps = positiveInteger(opts.totalSteps, `${who}: totalSteps`);
    } else if (opts.epochs !== undefined && opts.stepsPerEpoch !== undefined) {
      this.totalSteps =
        positiveInteger(opts.epochs, `${who}: epochs`) * positiveInteger(opts.stepsPerEpoch, `${who}: stepsPerEpoch`);
    } else {
      throw new Error(`${who}: give either totalSteps or both epochs and stepsPerEpoch`);
    }
    const pctStart = finite(opts.pctStart ?? 0.3, `${who}: pctStart`);
    if (pctStart < 0 || pctStart > 1) throw new Error(`${who}: pctStart must be between 0 and 1, got ${pctStart}`);
    const strategy = opts.annealStrategy ?? 'cos';
    if (strategy !== 'cos' && strategy !== 'linear')
      throw new Error(`${who}: annealStrategy must be 'cos' or 'linear', got ${String(strategy)}`);
    this.annealStrategy = strategy;
    const N = this.totalSteps;
    this.#phases = opts.threePhase
      ? [
          {
            end_step: pctStart * N - 1,
            start_lr: 'initial_lr',
            end_lr: 'max_lr',
            start_momentum: 'max_momentum',
            end_momentum: 'base_momentum',
          },
          {
            end_step: 2 * pctStart * N - 2,
            start_lr: 'max_lr',
            end_lr: 'initial_lr',
            start_momentum: 'base_momentum',
            end_momentum: 'max_momentum',
          },
          {
            end_step: N - 1,
            start_lr: 'initial_lr',
            end_lr: 'min_lr',
            start_momentum: 'max_momentum',
            end_momentum: 'max_momentum',
          },
        ]
      : [
          {
            end_step: pctStart * N - 1,
            start_lr: 'initial_lr',
            end_lr: 'max_lr',
            start_momentum: 'max_momentum',
            end_momentum: 'base_momentum',
          },
          {
            end_step: N - 1,
            start_lr: 'max_lr',
            end_lr: 'min_lr',
            start_momentum: 'base_momentum',
            end_momentum: 'max_momentum',
          },
        ];

    const groups = optimizer.paramGroups;
    const divFactor = finite(opts.divFactor ?? 25, `${who}: divFactor`);
    const finalDivFactor = finite(opts.finalDivFactor ?? 1e4, `${who}: finalDivFactor`);
    const maxLrs = perGroup(opts.maxLr, groups.length, `${who}: maxLr`);
    groups.forEach((g, i) => {
      g['initial_lr'] = maxLrs[i]! / divFactor;
      g['max_lr'] = maxLrs[i]!;
      g['min_lr'] = (g['initial_lr'] as number) / finalDivFactor;
    });

    this.cycleMomentum = opts.cycleMomentum ?? true;
    this.useBeta1 = 'betas' in optimizer.defaults;
    if (this.cycleMomentum) {
      if (!('momentum' in optimizer.defaults) && !this.useBeta1) {
        throw new Error(
          `${who}: cycleMomentum needs an optimiser with momentum or betas, and ${optimizer.name} has neither (pass cycleMomentum: false)`,
        );
      }
      const maxMomenta = perGroup(opts.maxMomentum ?? 0.95, groups.length, `${who}: maxMomentum`);
      const baseMomenta = perGroup(opts.baseMomentum ?? 0.85, groups.length, `${who}: baseMomentum`);
      groups.forEach((g, i) => {
        this.#setMomentum(g, maxMomenta[i]!, `${who}: param group ${i}`);
        g['max_momentum'] = maxMomenta[i]!;
        g['base_momentum'] = baseMomenta[i]!;
      });
    }
    this.initialStep();
  }

  #anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    const cosOut = Math.cos(Math.PI * pct) + 1;
    return end + ((start - end) / 2.0) * cosOut;
  }

  #setMomentum(g: ParamGroup<BaseHyperparameters>, m: number, where: string): void {
    if (this.useBeta1) {
      const betas = g['betas'];
      if (!Array.isArray(betas) || betas.length !== 2)
        throw new Error(`${where}: expected betas to be a pair, got ${String(betas)}`);
      g['betas'] = [m, betas[1] as number];
    } else {
      g['momentum'] = m;
    }
  }

  protected computeLr(): number[] {
    const step = this.lastEpoch;
    if (step > this.totalSteps) {
      throw new Error(`OneCycleLR: tried to step ${step + 1} times; the schedule has ${this.totalSteps} total steps`);
    }
    return this.optimizer.paramGroups.map((g, gi) => {
      const where = `OneCycleLR: param group ${gi}`;
      let startStep = 0;
      let lr = Number.NaN;
      for (const [i, phase] of this.#phases.entries()) {
        const endStep = phase.end_step;
        if (step <= endStep || i === this.#phases.length - 1) {
          const pct = (step - startStep) / (endStep - startStep);
          lr = this.#anneal(groupNumber(g, phase.start_lr, where), groupNumber(g, phase.end_lr, where), pct);
          if (this.cycleMomentum) {
            this.#setMomentum(
              g,
              this.#anneal(groupNumber(g, phase.start_momentum, where), groupNumber(g, phase.end_momentum, where), pct),
              where,
            );
          }
          break;
        }
        startStep = phase.end_step;
      }
      return lr;
    });
  }

  protected ownState(): SchedulerStateDict {
    return {
      total_steps: this.totalSteps,
      _schedule_phases: this.#phases.map((p) => ({ ...p })),
      anneal_strategy: this.annealStrategy,
      cycle_momentum: this.cycleMomentum,
      use_beta1: this.useBeta1,
    };
  }

  protected loadOwnState(sd: Record<string, unknown>, who: string): void {
    const total = positiveInteger(sd['total_steps'], `${who}: total_steps`);
    const rawPhases = sd['_schedule_phases'];
    if (!Array.isArray(rawPhases) || rawPhases.length === 0)
      throw new Error(`${who}: _schedule_phases must be a non-empty list`);
    const phases = rawPhases.map((p: unknown, i): OneCyclePhase => {
      const o = (p instanceof Map ? Object.fromEntries(p) : p) as Record<string, unknown> | null;
      if (o === null || typeof o !== 'object') throw new Error(`${who}: _schedule_phases[${i}] must be a dict`);
      const name = (k: string): string => {
        const v = o[k];
        if (typeof v !== 'string')
          throw new Error(`${who}: _schedule_phases[${i}].${k} must be a group key name, got ${String(v)}`);
        return v;
      };
      return {
        end_step: finite(o['end_step'], `${who}: _schedule_phases[${i}].end_step`),
        start_lr: name('start_lr'),
        end_lr: name('end_lr'),
        start_momentum: name('start_momentum'),
        end_momentum: name('end_momentum'),
      };
    });
    // PyTorch's state holds the bound anneal function instead of a name; absent, the current strategy stays.
    const strategy = sd['anneal_strategy'] ?? this.annealStrategy;
    if (strategy !== 'cos' && strategy !== 'linear')
      throw new Error(`${who}: anneal_strategy must be 'cos' or 'linear', got ${String(strategy)}`);
    const cycle = sd['cycle_momentum'];
    if (typeof cycle !== 'boolean') throw new Error(`${who}: cycle_momentum must be a boolean`);
    const self = this as {
      totalSteps: number;
      annealStrategy: 'cos' | 'linear';
      cycleMomentum: boolean;
      useBeta1: boolean;
    };
    self.totalSteps = total;
    self.annealStrategy = strategy;
    self.cycleMomentum = cycle;
    if (typeof sd['use_beta1'] === 'boolean') self.useBeta1 = sd['use_beta1'];
    this.#phases = phases;
  }
}

// ----- helpers -----

function groupNumber(g: ParamGroup<BaseHyperparameters>, key: string, where: string): number {
  const v = g[key];
  if (typeof v !== 'number') throw new Error(`${where}: expected a number under '${key}', got ${String(v)}`);
  return v;
}

function finite(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${what} must be a finite number, got ${String(v)}`);
  return v;
}

function integer(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} must be an integer, got ${String(v)}`);
  return v;
}

function positiveInteger(v: unknown, what: string): number {
  const n = integer(v, what);
  if (n <= 0) throw new Error(`${what} must be a positive integer, got ${n}`);
  return n;
}

function numberList(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be a list of numbers, got ${String(v)}`);
  return v.map((x, i) => finite(x, `${what}[${i}]`));
}

function perGroup(v: number | readonly number[], n: number, what: string): number[] {
  if (typeof v === 'number') return new Array<number>(n).fill(finite(v, what));
  if (!Array.isArray(v) || v.length !== n)
    throw new Error(
      `${what}: expected ${n} values (one per parameter group), got ${Array.isArray(v) ? v.length : String(v)}`,
    );
  return v.map((x, i) => finite(x, `${what}[${i}]`));
}
