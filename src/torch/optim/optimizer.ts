/**
 * The optimiser base: parameter groups with per-group hyperparameters, per-parameter state, and state dicts
 * in torch.optim.Optimizer's layout (torch/optim/optimizer.py, 1.13), so that checkpoints move both ways
 * between inkwell and PyTorch.
 *
 * Memory: state tensors are `keep()`-ed and owned by the optimiser until `dispose()`; `step()` runs every
 * parameter's update inside its own `tidy`, so temporaries die as soon as that parameter is done.
 *
 * Nothing here is global or assumes one process: `step()` reads only each parameter's `.grad`, so data-parallel
 * training averages gradients in place (allreduce) between `backward()` and `step()`, and every replica that
 * steps on the same averaged gradients keeps identical parameters and state.
 */
import { noGrad } from '../autograd.js';
import { fromStored } from '../ops/creation.js';
import { keep, tidy } from '../scope.js';
import type { StoredTensor } from '../serialization/stored.js';
import { Tensor } from '../tensor.js';

/** A per-parameter state entry: a tensor (momentum buffer, moments) or a number (the step count). */
export type StateValue = Tensor | number;
export type ParamState = Map<string, StateValue>;

/** What every optimiser's hyperparameters have; learning-rate schedulers rely on it. */
export interface BaseHyperparameters {
  lr: number;
}

/**
 * A live parameter group: its parameters, its hyperparameters (camelCase), and any further keys, which are
 * kept and written to state dicts as they are. Schedulers store PyTorch-named keys there (`initial_lr`,
 * `max_lr`...) exactly as PyTorch's schedulers do, so those keys survive a checkpoint exchange too.
 */
export type ParamGroup<H extends BaseHyperparameters> = H & { params: Tensor[]; [extra: string]: unknown };

/** A parameter group as given to a constructor or `addParamGroup`: omitted hyperparameters take the defaults. */
export type ParamGroupSpec<H extends BaseHyperparameters> = Partial<H> & {
  params: Iterable<Tensor>;
  [extra: string]: unknown;
};

/** Parameters for an optimiser: a plain list (one group) or a list of groups. */
export type Params<H extends BaseHyperparameters> = Iterable<Tensor> | readonly ParamGroupSpec<H>[];

/**
 * An optimiser state dict in PyTorch's layout: `state` maps the parameter's index (numbered across groups in
 * order, as Optimizer.state_dict does) to its state; `param_groups` holds each group's hyperparameters under
 * PyTorch's names plus `params`, the indices of its parameters. Tensors are the optimiser's own (not copies):
 * read or serialise them, do not dispose them; clone them for a snapshot that must outlive further steps.
 */
export interface OptimizerStateDict {
  state: Map<number, Map<string, StateValue>>;
  param_groups: Array<Record<string, unknown> & { params: number[] }>;
}

/**
 * What `loadStateDict` accepts: an OptimizerStateDict, or the same structure as read from a checkpoint (dicts as
 * Maps or plain objects, tensors as Tensors or StoredTensors, numbers possibly boxed or as 1-element tensors).
 */
export type OptimizerStateDictLike =
  | OptimizerStateDict
  | Map<unknown, unknown>
  | { state: unknown; param_groups: unknown };

/** Converts one hyperparameter between inkwell's value and the value stored in a PyTorch state dict. */
export interface HyperCodec<V> {
  toPy(value: V): unknown;
  /** `current` is the group's present value, for codecs (callables) that cannot be restored from data. */
  fromPy(value: unknown, current: V, where: string): V;
}

/** For each hyperparameter: its PyTorch name and codec. */
export type HyperSpec<H> = { readonly [K in keyof H]-?: readonly [pyKey: string, codec: HyperCodec<H[K]>] };

export const numberCodec: HyperCodec<number> = {
  toPy: (v) => v,
  fromPy: (v, _current, where) => toNumber(v, where),
};

export const booleanCodec: HyperCodec<boolean> = {
  toPy: (v) => v,
  fromPy: (v, _current, where) => {
    if (typeof v !== 'boolean') throw new Error(`${where}: expected a boolean, got ${describe(v)}`);
    return v;
  },
};

/** A pair such as Adam's betas: written as a two-element array (PyTorch's tuple unpacks the same way). */
export const pairCodec: HyperCodec<readonly [number, number]> = {
  toPy: (v) => [v[0], v[1]],
  fromPy: (v, _current, where) => {
    const items = isIterable(v) ? Array.from(v) : null;
    if (items === null || items.length !== 2)
      throw new Error(`${where}: expected a pair of numbers, got ${describe(v)}`);
    return [toNumber(items[0], `${where}[0]`), toNumber(items[1], `${where}[1]`)] as const;
  },
};

export abstract class Optimizer<H extends BaseHyperparameters> {
  /** The optimiser's name, used in error messages. */
  readonly name: string;
  readonly defaults: Readonly<H>;
  readonly paramGroups: ParamGroup<H>[] = [];
  #state = new Map<Tensor, ParamState>();
  readonly #spec: HyperSpec<H>;
  readonly #pyConstants: Readonly<Record<string, unknown>>;

  /**
   * @param spec maps each hyperparameter to its PyTorch name and codec.
   * @param pyConstants keys PyTorch's class keeps in every group that have no meaning here (`foreach`,
   *   `differentiable`, `capturable`): written with PyTorch's default values so PyTorch can load inkwell's
   *   state dicts, and ignored when loading.
   */
  protected constructor(
    name: string,
    params: Params<H>,
    defaults: H,
    spec: HyperSpec<H>,
    pyConstants: Record<string, unknown> = {},
  ) {
    this.name = name;
    this.defaults = Object.freeze({ ...defaults });
    this.#spec = spec;
    this.#pyConstants = Object.freeze({ ...pyConstants });
    for (const group of normaliseParams(name, params)) this.addParamGroup(group);
  }

  /** Checks one group's hyperparameters; throws an error naming the optimiser and what was expected. */
  protected abstract validateGroup(group: Readonly<H>, where: string): void;

  /**
   * Updates one parameter from its gradient, in place. Runs under noGrad inside a tidy (temporaries are
   * freed afterwards); `state` is this parameter's state, empty on its first update: tensors put there
   * must be `keep()`-ed (use `keepState`).
   */
  protected abstract updateParam(param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** Adds a parameter group (e.g. unfreezing a backbone mid-training); missing hyperparameters take the defaults. */
  addParamGroup(spec: ParamGroupSpec<H>): void {
    const where = `${this.name}: parameter group ${this.paramGroups.length}`;
    const { params: given, ...options } = spec;
    if (isIterable(given) === false || given instanceof Tensor)
      throw new Error(`${where}: 'params' must be a list of tensors`);
    const params = Array.from(given);
    if (params.length === 0) throw new Error(`${where} has no parameters`);
    const seen = new Set<Tensor>();
    for (const group of this.paramGroups) for (const p of group.params) seen.add(p);
    for (const [i, p] of params.entries()) {
      if (!(p instanceof Tensor)) throw new Error(`${where}: params[${i}] is ${describe(p)}, expected a Tensor`);
      if (!p.isLeaf)
        throw new Error(`${where}: params[${i}] is not a leaf tensor (optimisers update leaves; detach it first)`);
      if (seen.has(p))
        throw new Error(`${where}: params[${i}] appears more than once (in this group or an earlier one)`);
      seen.add(p);
    }
    // A snake_case spelling would otherwise be kept as an inert extra key and silently ignored.
    for (const [key, [pyKey]] of Object.entries(this.#spec) as [string, readonly [string, unknown]][]) {
      if (pyKey !== key && pyKey in options)
        throw new Error(`${where}: option '${pyKey}' is spelled '${key}' in inkwell`);
    }
    const group = { ...this.defaults, ...options, params } as ParamGroup<H>;
    this.validateGroup(group, where);
    this.paramGroups.push(group);
  }

  /** Every parameter, in group order: the order state dicts number them in (and a natural allreduce order). */
  parameters(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** This parameter's state (read-only view for inspection and tests), or undefined before its first update. */
  stateOf(param: Tensor): ReadonlyMap<string, StateValue> | undefined {
    return this.#state.get(param);
  }

  /** One optimisation step over every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    noGrad(() => {
      for (const [gi, group] of this.paramGroups.entries()) {
        // Groups are mutable (schedulers, user code): check them where a bad value would bite.
        this.validateGroup(group, `${this.name}: parameter group ${gi}`);
        for (const p of group.params) {
          tidy(() => {
            const grad = p.grad;
            if (grad === null) return;
            const existing = this.#state.get(p);
            const state: ParamState = existing ?? new Map();
            this.updateParam(p, grad, group, state);
            if (existing === undefined && state.size > 0) this.#state.set(p, state);
          });
        }
      }
    });
  }

  /**
   * Moves every state tensor to its parameter's device (and floating dtype) in place, for after the parameters
   * were moved (`module.to`): the state follows its parameters, as PyTorch's load_state_dict casts it.
   */
  followParameters(): void {
    noGrad(() => {
      for (const [p, st] of this.#state) {
        for (const v of st.values()) {
          if (!(v instanceof Tensor)) continue;
          tidy(() => {
            const moved = v.to({
              device: p.device,
              dtype: v.isFloatingPoint() && p.isFloatingPoint() ? p.dtype : v.dtype,
            });
            if (!moved.isAliasOf(v)) v.setData(moved);
          });
        }
      }
    });
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /** The optimiser's state in PyTorch's state-dict layout (see OptimizerStateDict). */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const param_groups = this.paramGroups.map((group) => {
      const packed: Record<string, unknown> = {};
      for (const [key, [pyKey, codec]] of this.#specEntries()) packed[pyKey] = codec.toPy(group[key]);
      Object.assign(packed, this.#pyConstants);
      for (const [key, value] of Object.entries(group)) {
        if (key !== 'params' && !(key in this.#spec)) packed[key] = value;
      }
      const params = group.params.map((p) => {
        let i = index.get(p);
        if (i === undefined) index.set(p, (i = index.size));
        return i;
      });
      return { ...packed, params };
    });
    const state = new Map<number, Map<string, StateValue>>();
    for (const [p, i] of index) {
      const s = this.#state.get(p);
      if (s !== undefined) state.set(i, new Map(s));
    }
    return { state, param_groups };
  }

  /**
   * Loads a state dict made by `stateDict()` here or by PyTorch's `optimizer.state_dict()`: the same number of
   * groups with the same numbers of parameters, matched by position (as Optimizer.load_state_dict does).
   * Hyperparameters are replaced by the saved ones; state tensors are copied to each parameter's device and,
   * for floating-point parameters, its dtype; `step` becomes a number. Nothing changes if anything is invalid.
   */
  loadStateDict(stateDict: OptimizerStateDictLike): void {
    const who = `${this.name}.loadStateDict`;
    const { state: savedState, groups: savedGroups } = readStateDict(stateDict, who);
    if (savedGroups.length !== this.paramGroups.length) {
      throw new Error(
        `${who}: the state dict has ${savedGroups.length} parameter groups, this optimiser has ${this.paramGroups.length}`,
      );
    }
    const idToParam = new Map<number, Tensor>();
    const nextGroups = this.paramGroups.map((group, gi) => {
      const saved = savedGroups[gi]!;
      const where = `${who}: param_groups[${gi}]`;
      const ids = saved.get('params');
      const list = isIterable(ids) ? Array.from(ids, (v, i) => toIndex(v, `${where}.params[${i}]`)) : null;
      if (list === null) throw new Error(`${where}.params: expected a list of parameter indices, got ${describe(ids)}`);
      if (list.length !== group.params.length) {
        throw new Error(
          `${where} has ${list.length} parameters, this optimiser's group ${gi} has ${group.params.length}`,
        );
      }
      list.forEach((id, i) => idToParam.set(id, group.params[i]!));
      const next: Record<string, unknown> = { ...group };
      const pyToKey = new Map<string, string>();
      for (const [key, [pyKey, codec]] of this.#specEntries()) {
        pyToKey.set(pyKey, key);
        if (saved.has(pyKey)) next[key] = codec.fromPy(saved.get(pyKey), group[key], `${where}.${pyKey}`);
      }
      for (const [key, value] of saved) {
        if (key !== 'params' && !pyToKey.has(key) && !(key in this.#pyConstants)) next[key] = value;
      }
      this.validateGroup(next as unknown as H, where);
      return next;
    });

    const nextState = new Map<Tensor, ParamState>();
    try {
      for (const [id, entries] of savedState) {
        const param = idToParam.get(id);
        if (param === undefined)
          throw new Error(`${who}: state refers to parameter ${id}, which no parameter group lists`);
        const st: ParamState = new Map();
        nextState.set(param, st);
        for (const [key, value] of entries) {
          const where = `${who}: state[${id}].${key}`;
          if (value === null || value === undefined) continue; // PyTorch's SGD stores momentum_buffer=None when momentum is 0
          if (key === 'step' || !isTensorLike(value)) st.set(key, toNumber(value, where));
          else st.set(key, keep(copyStateTensor(value, param, where)));
        }
      }
    } catch (err) {
      disposeState(nextState);
      throw err;
    }

    disposeState(this.#state);
    this.#state = nextState;
    for (const [gi, group] of this.paramGroups.entries()) {
      const next = nextGroups[gi]!;
      for (const key of Object.keys(group)) if (!(key in next)) delete group[key];
      Object.assign(group, next);
    }
  }

  /** Frees every state tensor (the optimiser starts afresh if stepped again). */
  dispose(): void {
    disposeState(this.#state);
    this.#state.clear();
  }

  /** Stores `t` under `key` in `state`, taking it out of the step's scope so that it outlives the step. */
  protected keepState(state: ParamState, key: string, t: Tensor): Tensor {
    state.set(key, keep(t));
    return t;
  }

  /** The tensor stored under `key`, or an error naming the optimiser (e.g. state loaded from another optimiser). */
  protected tensorState(state: ParamState, key: string): Tensor {
    const v = state.get(key);
    if (!(v instanceof Tensor))
      throw new Error(
        `${this.name}: a parameter's state has no tensor '${key}' (state loaded from another kind of optimiser?)`,
      );
    return v;
  }

  #specEntries(): [keyof H & string, readonly [string, HyperCodec<H[keyof H]>]][] {
    return Object.entries(this.#spec) as [keyof H & string, readonly [string, HyperCodec<H[keyof H]>]][];
  }
}

// ----- helpers -----

function normaliseParams<H extends BaseHyperparameters>(name: string, params: Params<H>): ParamGroupSpec<H>[] {
  if (params instanceof Tensor || !isIterable(params))
    throw new Error(`${name}: params must be a list of tensors or of parameter groups, got ${describe(params)}`);
  const items: unknown[] = Array.from(params as Iterable<unknown>);
  if (items.length === 0) throw new Error(`${name}: got an empty parameter list`);
  if (items.every((x) => x instanceof Tensor)) return [{ params: items as Tensor[] } as unknown as ParamGroupSpec<H>];
  const firstTensor = items.findIndex((x) => x instanceof Tensor);
  if (firstTensor >= 0)
    throw new Error(
      `${name}: params mixes tensors (params[${firstTensor}]) and parameter groups; give one or the other`,
    );
  for (const [i, g] of items.entries()) {
    if (g === null || typeof g !== 'object' || !('params' in g)) {
      throw new Error(
        `${name}: params[${i}] is ${describe(g)}, expected a Tensor or a parameter group ({ params, ... })`,
      );
    }
  }
  return items as ParamGroupSpec<H>[];
}

function disposeState(state: Map<Tensor, ParamState>): void {
  for (const st of state.values()) for (const v of st.values()) if (v instanceof Tensor) v.dispose();
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return (
    v !== null && typeof v === 'object' && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
  );
}

function isStored(v: unknown): v is StoredTensor {
  return (
    v !== null &&
    typeof v === 'object' &&
    !(v instanceof Tensor) &&
    (v as StoredTensor).data instanceof Uint8Array &&
    Array.isArray((v as StoredTensor).shape) &&
    typeof (v as StoredTensor).dtype === 'string'
  );
}

function isTensorLike(v: unknown): v is Tensor | StoredTensor {
  return v instanceof Tensor || isStored(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Tensor) return v.toString();
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return `an object (${v.constructor?.name ?? 'no prototype'})`;
  if (typeof v === 'function') return 'a function';
  return `${typeof v} ${String(v)}`;
}

/** A number from a JS number, a bigint, a boxed number (the unpickler's PyFloat) or a one-element tensor. */
function toNumber(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Tensor) {
    if (v.numel !== 1) throw new Error(`${where}: expected a number or a one-element tensor, got ${v.toString()}`);
    return v.item();
  }
  if (isStored(v)) {
    if (v.data.byteLength === 0 || v.shape.reduce((a, b) => a * b, 1) !== 1)
      throw new Error(`${where}: expected a one-element tensor, got shape [${v.shape.join(', ')}]`);
    return tidy(() => fromStored(v).item());
  }
  if (v !== null && typeof v === 'object' && typeof (v as { valueOf(): unknown }).valueOf() === 'number')
    return (v as { valueOf(): number }).valueOf();
  throw new Error(`${where}: expected a number, got ${describe(v)}`);
}

function toIndex(v: unknown, where: string): number {
  const n = toNumber(v, where);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${where}: expected a parameter index, got ${n}`);
  return n;
}

/** A copy of a saved state tensor on the parameter's device (and dtype, for floating-point parameters). */
function copyStateTensor(v: Tensor | StoredTensor, param: Tensor, where: string): Tensor {
  return tidy(() => {
    const src = v instanceof Tensor ? v : fromStored(v, { device: param.device });
    const shape = src.shape;
    if (shape.length !== param.rank || shape.some((d, i) => d !== param.shape[i])) {
      throw new Error(
        `${where}: shape [${shape.join(', ')}] does not match its parameter's [${param.shape.join(', ')}]`,
      );
    }
    // Optimizer.load_state_dict casts floating state to the parameter's dtype (its `cast` helper).
    return src.to({ device: param.device, dtype: param.isFloatingPoint() ? param.dtype : src.dtype, copy: true });
  });
}

/** Reads the two halves of a state dict, whichever container types the source used. */
function readStateDict(
  sd: OptimizerStateDictLike,
  who: string,
): { state: [number, [string, unknown][]][]; groups: Map<string, unknown>[] } {
  const top = toEntryMap(sd, `${who}: the state dict`);
  if (top === null) throw new Error(`${who}: expected an object with 'state' and 'param_groups', got ${describe(sd)}`);
  const rawGroups = top.get('param_groups');
  if (!Array.isArray(rawGroups)) throw new Error(`${who}: 'param_groups' must be a list, got ${describe(rawGroups)}`);
  const groups = rawGroups.map((g, i) => {
    const m = toEntryMap(g, `${who}: param_groups[${i}]`);
    if (m === null) throw new Error(`${who}: param_groups[${i}] must be a dict, got ${describe(g)}`);
    return m;
  });
  const rawState = top.get('state') ?? new Map();
  const stateMap = toEntryMap(rawState, `${who}: state`);
  if (stateMap === null) throw new Error(`${who}: 'state' must be a dict, got ${describe(rawState)}`);
  const state: [number, [string, unknown][]][] = [];
  for (const [k, v] of stateMap) {
    const entries = toEntryMap(v, `${who}: state[${k}]`);
    if (entries === null) throw new Error(`${who}: state[${k}] must be a dict, got ${describe(v)}`);
    state.push([
      toIndex(typeof k === 'string' && /^\d+$/.test(k) ? Number(k) : k, `${who}: state key ${k}`),
      [...entries],
    ]);
  }
  return { state, groups };
}

/** A Map or a plain object as a Map (string keys, or numbers/bigints for the state's parameter indices). */
function toEntryMap(v: unknown, where: string): Map<string, unknown> | null {
  if (v instanceof Map) {
    const out = new Map<string, unknown>();
    for (const [k, val] of v as Map<unknown, unknown>) {
      if (typeof k !== 'string' && typeof k !== 'number' && typeof k !== 'bigint')
        throw new Error(`${where}: unexpected key ${describe(k)}`);
      out.set(String(k), val);
    }
    return out;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Tensor) && !isStored(v)) {
    return new Map(Object.entries(v));
  }
  return null;
}
