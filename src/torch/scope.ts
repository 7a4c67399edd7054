/**
 * Native memory is invisible to the GC, so every tensor belongs to exactly one scope or is disposed
 * explicitly (docs/engine.md). Scopes nest: tensors created while a scope is open belong to it and are
 * disposed when it closes, except those returned from `tidy` (handed to the enclosing scope) and those
 * passed to `keep` (owned by the caller from then on). Modelled on tfjs's `tidy` and TorchSharp's
 * DisposeScope. The native handle's own finaliser remains a safety net only.
 */
import { type CudaMemoryStats, cudaMemoryStats, cudaStatus } from './device.js';
import { native } from './native.js';

/** What a scope needs of a tensor: implemented by Tensor (tensor.ts). */
export interface Owned {
  /** @internal the scope that owns this tensor, or null when the caller owns it. */
  scope: DisposeScope | null;
  dispose(): void;
}

const stack: DisposeScope[] = [];

export class DisposeScope implements Disposable {
  readonly #owned = new Set<Owned>();
  #closed = false;

  /** @internal adopt `t` (called for every tensor created while this scope is the innermost one). */
  adopt(t: Owned): void {
    if (this.#closed) throw new Error('scope: cannot adopt a tensor into a closed scope');
    this.#owned.add(t);
    t.scope = this;
  }

  /** @internal stop owning `t`. */
  release(t: Owned): void {
    this.#owned.delete(t);
    if (t.scope === this) t.scope = null;
  }

  /** Number of tensors this scope will dispose when it closes. */
  get size(): number {
    return this.#owned.size;
  }

  /** Closes the scope: disposes what it owns, except `survivors`, which move to the enclosing scope (or to the caller). */
  close(survivors: ReadonlySet<Owned> = new Set()): void {
    if (this.#closed) return;
    this.#closed = true;
    const i = stack.lastIndexOf(this);
    if (i >= 0) stack.splice(i, 1);
    const parent = stack.at(-1) ?? null;
    for (const t of this.#owned) {
      if (survivors.has(t)) {
        t.scope = null;
        if (parent) parent.adopt(t);
      } else {
        t.dispose();
      }
    }
    this.#owned.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** @internal the innermost open scope, which adopts every new tensor. */
export function currentScope(): DisposeScope | null {
  return stack.at(-1) ?? null;
}

/**
 * Opens a scope that owns every tensor created until it is closed; use with `using`:
 * `{ using _ = torch.scope(); ... }` or call `.close()` in a `finally`. Works across `await`s as long as
 * no other code creates tensors concurrently (training loops run one step at a time).
 */
export function scope(): DisposeScope {
  const s = new DisposeScope();
  stack.push(s);
  return s;
}

function collectOwned(value: unknown, out: Set<Owned>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('scope' in value && 'dispose' in value && typeof (value as Owned).dispose === 'function') {
    out.add(value as Owned);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectOwned(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collectOwned(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collectOwned(v, out, seen);
}

/**
 * Runs `fn` in a fresh scope and disposes every tensor it created except those it returns (found in the
 * result, in arrays, Maps and plain objects), which move to the enclosing scope. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const s = scope();
  let result: T;
  try {
    result = fn();
  } catch (err) {
    s.close();
    throw err;
  }
  if (result instanceof Promise) {
    s.close();
    throw new Error(
      'tidy: the function returned a Promise; tidy is synchronous (use `using s = torch.scope()` around awaits)',
    );
  }
  const survivors = new Set<Owned>();
  collectOwned(result, survivors, new Set());
  s.close(survivors);
  return result;
}

/** Takes `t` out of its scope: the caller now owns it and must dispose it (parameters, optimiser state). */
export function keep<T extends Owned>(t: T): T {
  t.scope?.release(t);
  return t;
}

/** Runs `fn` with no scope open, so what it creates is owned by the caller (e.g. module parameters). */
export function unscoped<T>(fn: () => T): T {
  const saved = stack.splice(0, stack.length);
  try {
    return fn();
  } finally {
    stack.push(...saved);
  }
}

export interface MemoryInfo {
  /** Tensor handles alive in native memory (views count once each). */
  liveTensors: number;
  /** Bytes referenced by live handles (a view counts its own elements). */
  liveBytes: number;
  /** Scopes currently open. */
  openScopes: number;
  /** Each visible GPU's caching-allocator statistics, in device order; absent without CUDA (or libtorch < 2.9). */
  cuda?: CudaMemoryStats[];
}

/** Live native tensors and bytes, as counted by the addon, and the CUDA allocators' statistics. */
export function memory(): MemoryInfo {
  const { devices } = cudaStatus();
  const cuda = Array.from({ length: devices }, (_, i) => cudaMemoryStats(i)).filter((s) => s !== null);
  return { ...native.stats(), openScopes: stack.length, ...(cuda.length > 0 ? { cuda } : {}) };
}
