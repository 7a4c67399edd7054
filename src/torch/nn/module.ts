/**
 * nn.Module: parameters, buffers and submodules registered under the same dotted names PyTorch uses
 * (`layer1.0.conv1.weight`), so that state dicts move both ways between inkwell and PyTorch.
 * Parameters and buffers are owned by the module (outside every scope) until `dispose()`.
 */
import { formatShape } from '../dtype.js';
import { noGrad } from '../autograd.js';
import { fromStored } from '../ops/creation.js';
import { keep, tidy } from '../scope.js';
import type { StoredTensor } from '../serialization/stored.js';
import { type Device, isDevice, requireDevice } from '../device.js';
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
  shapeMismatches: { key: string; expected: number[]; got: number[] }[];
}

export type StateDictSource = Map<string, Tensor | StoredTensor> | Record<string, Tensor | StoredTensor>;

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #nonPersistent = new Set<string>();
  readonly #modules = new Map<string, Module>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Registers `t` (or an absent optional parameter) as parameter `name`; the module owns it from now on. */
  protected registerParameter(name: string, t: Tensor): Tensor;
  protected registerParameter(name: string, t: null): null;
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    checkName(name, this.#params, this.#buffers, this.#modules);
    if (t) {
      keep(t);
      if (!t.isLeaf) throw new Error(`registerParameter(${name}): parameters must be leaf tensors (detach first)`);
      t.requiresGrad = true;
    }
    this.#params.set(name, t);
    return t;
  }

  /** Registers a buffer (running statistics...); non-persistent buffers stay out of the state dict. */
  protected registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor | null {
    checkName(name, this.#params, this.#buffers, this.#modules);
    if (t) keep(t);
    this.#buffers.set(name, t);
    if (!persistent) this.#nonPersistent.add(name);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    checkName(name, this.#params, this.#buffers, this.#modules);
    this.#modules.set(name, m);
    return m;
  }

  /**
   * Puts `m` in place of the registered child `name` (same name and position, so state-dict keys and order stay
   * as they were) and in every own field of this module that refers to the old child, directly or as an element
   * of an array, so that forward() calls the new one (as torch.nn.SyncBatchNorm.convert_sync_batchnorm does by
   * setattr). Returns the old child; its tensors are not disposed (the new child may share them).
   */
  replaceChild(name: string, m: Module): Module {
    const old = this.#modules.get(name);
    if (!old)
      throw new Error(
        `Module.replaceChild: no child '${name}' (children: ${[...this.#modules.keys()].join(', ') || 'none'})`,
      );
    this.#modules.set(name, m);
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const v = fields[key];
      if (v === old) fields[key] = m;
      else if (Array.isArray(v))
        v.forEach((x, i) => {
          if (x === old) v[i] = m;
        });
    }
    return old;
  }

  /** @internal replaces the tensor behind a registered buffer (e.g. num_batches_tracked after an update). */
  protected getBuffer(name: string): Tensor | null {
    return this.#buffers.get(name) ?? null;
  }

  *namedChildren(): IterableIterator<[string, Module]> {
    yield* this.#modules.entries();
  }

  /** This module and every descendant, with dotted paths ('' for this one). */
  *namedModules(prefix = ''): IterableIterator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#modules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(prefix = '', recurse = true): IterableIterator<[string, Tensor]> {
    for (const [name, p] of this.#params) if (p) yield [prefix ? `${prefix}.${name}` : name, p];
    if (recurse) for (const [name, m] of this.#modules) yield* m.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  parameters(recurse = true): Tensor[] {
    return Array.from(this.namedParameters('', recurse), ([, p]) => p);
  }

  *namedBuffers(prefix = '', recurse = true): IterableIterator<[string, Tensor]> {
    for (const [name, b] of this.#buffers) if (b) yield [prefix ? `${prefix}.${name}` : name, b];
    if (recurse) for (const [name, m] of this.#modules) yield* m.namedBuffers(prefix ? `${prefix}.${name}` : name);
  }

  buffers(recurse = true): Tensor[] {
    return Array.from(this.namedBuffers('', recurse), ([, b]) => b);
  }

  /** Number of parameter elements (trainable and frozen). */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /** Sets training mode on this module and every descendant (dropout, batch norm). */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter of this subtree. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * Parameters and persistent buffers by dotted name, in registration order, like PyTorch's state_dict().
   * The tensors are the module's own (not copies): read them, do not dispose them.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.#collectState('', out);
    return out;
  }

  #collectState(prefix: string, out: Map<string, Tensor>): void {
    for (const [name, p] of this.#params) if (p) out.set(prefix + name, p);
    for (const [name, b] of this.#buffers) if (b && !this.#nonPersistent.has(name)) out.set(prefix + name, b);
    for (const [name, m] of this.#modules) m.#collectState(`${prefix}${name}.`, out);
  }

  /**
   * Copies values from `source` into this module's parameters and buffers. With `strict` (the default) any
   * missing, unexpected or mis-shaped key is an error listing the first few; otherwise matching keys load and
   * the report says what did not.
   */
  loadStateDict(source: StateDictSource, opts: { strict?: boolean } = {}): LoadResult {
    const entries = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const result: LoadResult = { missingKeys: [], unexpectedKeys: [], shapeMismatches: [] };
    for (const key of own.keys()) if (!entries.has(key)) result.missingKeys.push(key);
    for (const [key, value] of entries) {
      const target = own.get(key);
      if (!target) {
        result.unexpectedKeys.push(key);
        continue;
      }
      const shape = value instanceof Tensor ? value.shape : value.shape;
      if (shape.length !== target.rank || shape.some((s, i) => s !== target.shape[i])) {
        result.shapeMismatches.push({ key, expected: [...target.shape], got: [...shape] });
      }
    }
    if (
      (opts.strict ?? true) &&
      (result.missingKeys.length || result.unexpectedKeys.length || result.shapeMismatches.length)
    ) {
      throw new Error(`loadStateDict: ${describeLoad(result)}`);
    }
    const mismatched = new Set(result.shapeMismatches.map((m) => m.key));
    noGrad(() => {
      for (const [key, value] of entries) {
        const target = own.get(key);
        if (!target || mismatched.has(key)) continue;
        tidy(() => {
          const src = value instanceof Tensor ? value : fromStored(value);
          target.copy_(src);
        });
      }
    });
    return result;
  }

  /**
   * Moves or casts every parameter and buffer in place (floating-point ones only for a dtype), as module.to():
   * the tensors keep their identity (optimisers hold them), and those already there are left alone.
   */
  to(target: Device | DType): this {
    const device = isDevice(target);
    if (device) requireDevice(target, 'Module.to');
    this.#relay((t) => (device || t.isFloatingPoint() ? t.to(target as Device & DType) : null));
    return this;
  }

  /** Re-lays every 5-D parameter and buffer in channels_last_3d (model.to(memory_format=torch.channels_last_3d)). */
  toChannelsLast3d(): this {
    this.#relay((t) => (t.rank === 5 ? t.contiguous('channels_last_3d') : null));
    return this;
  }

  /** Points each parameter and buffer at `change(t)` (null: unchanged) in place, as param.data = ... */
  #relay(change: (t: Tensor) => Tensor | null): void {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        tidy(() => {
          const moved = change(t);
          if (moved !== null && !(moved.isAliasOf(t) && moved.strides.every((s, i) => s === t.strides[i]))) {
            t.setData(moved);
          }
        });
      }
    });
  }

  /** Frees every parameter and buffer of this subtree. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const p of m.#params.values()) p?.dispose();
      for (const b of m.#buffers.values()) b?.dispose();
    }
  }
}

function checkName(name: string, ...maps: Map<string, unknown>[]): void {
  if (!name || name.includes('.')) throw new Error(`Module: invalid name '${name}' (non-empty, no dots)`);
  if (maps.some((m) => m.has(name))) throw new Error(`Module: '${name}' is already registered`);
}

/** "2 missing keys (fc.weight, fc.bias); 1 unexpected key (...); 1 shape mismatch (conv1.weight: expected [64,1,7,7,7], got [64,3,7,7,7])". */
export function describeLoad(r: LoadResult, show = 5): string {
  const parts: string[] = [];
  const list = (keys: string[]) =>
    keys.slice(0, show).join(', ') + (keys.length > show ? `, ... ${keys.length - show} more` : '');
  if (r.missingKeys.length) parts.push(`${r.missingKeys.length} missing key(s) (${list(r.missingKeys)})`);
  if (r.unexpectedKeys.length) parts.push(`${r.unexpectedKeys.length} unexpected key(s) (${list(r.unexpectedKeys)})`);
  if (r.shapeMismatches.length) {
    parts.push(
      `${r.shapeMismatches.length} shape mismatch(es) (${r.shapeMismatches
        .slice(0, show)
        .map((m) => `${m.key}: expected ${formatShape(m.expected)}, got ${formatShape(m.got)}`)
        .join('; ')})`,
    );
  }
  return parts.length ? parts.join('; ') : 'all keys matched';
}
