/**
 * The contract every self-supervised method implements, so that one training loop can drive VICReg, BYOL,
 * SimSiam and masked reconstruction alike:
 *
 *   const method = ssl.createMethod('vicreg', { encoder: () => makeEncoder(), featureDim: 512 });
 *   const opt = new torch.optim.SGD(method.modules.parameters(), { lr: 0.05, momentum: 0.9 });
 *   for (const [k, [v1, v2]] of batches.entries()) {
 *     torch.tidy(() => {
 *       const out = method.step(v1, v2);          // forward of both views and the loss
 *       out.loss.backward();
 *       opt.step(); opt.zeroGrad();
 *       method.afterOptimizerStep((k + 1) / K);   // BYOL: EMA of the target network
 *       monitor(ssl.embeddingStd(out.embeddings));
 *     });
 *   }
 *
 * Checkpoints: `method.modules.stateDict()` (the trainable networks, keys `encoder.*`, `projector.*`, ...)
 * plus `method.stateDict()` (method-specific state: BYOL's target network, keys `target.*`; empty otherwise).
 */
import { Module, type StateDictSource } from '../torch/nn/module.js';
import type { Tensor } from '../torch/tensor.js';

export type SslMethodName = 'vicreg' | 'byol' | 'simsiam' | 'masked';

export interface SslStepOutput {
  /** The scalar to back-propagate (attached to the graph of the trainable modules). */
  loss: Tensor;
  /** The loss's parts as detached scalar tensors, for logging (names depend on the method). */
  terms: Record<string, Tensor>;
  /** Detached [N,D] embeddings of the first view, for the collapse monitor (`embeddingStd`). */
  embeddings: Tensor;
}

export interface SslMethod {
  readonly name: SslMethodName;
  /**
   * The trainable networks (encoder, projector, predictor or decoder) as children of one module: give
   * `modules.parameters()` to the optimiser, save `modules.stateDict()`; `modules.get('encoder')` is the
   * network to keep after pretraining.
   */
  readonly modules: SslModules;
  /**
   * Runs both views through the networks and returns the loss, its terms and embeddings for monitoring.
   * `gather`, in data-parallel training, concatenates a tensor over the workers (with gradients flowing back to
   * each worker's share): a method whose loss couples the samples of a batch (VICReg's variance and
   * covariance) uses it to see the global batch; the others, whose losses are per-sample means, ignore it.
   */
  step(view1: Tensor, view2: Tensor, gather?: (z: Tensor) => Tensor): SslStepOutput;
  /**
   * Call after every optimiser step with the training progress k/K in [0, 1] (k steps done of K):
   * BYOL moves its target network towards the online one; the other methods do nothing.
   */
  afterOptimizerStep(progress: number): void;
  /**
   * Networks the method owns outside `modules` that run in training mode and follow the trainable ones (BYOL's
   * target): data-parallel training converts their batch norm to SyncBatchNorm and starts them from rank 0's
   * weights, as it does `modules`. Empty for the other methods.
   */
  readonly followers: readonly Module[];
  /** Training (true) or evaluation mode for every network, including method-owned ones (BYOL's target). */
  train(mode?: boolean): void;
  /** Method-specific state that is not in `modules` (BYOL: the target network, keys `target.*`). */
  stateDict(): Map<string, Tensor>;
  loadStateDict(source: StateDictSource, opts?: { strict?: boolean }): void;
  /** Frees every network the method holds (the trainable ones included). */
  dispose(): void;
}

/**
 * A container that registers named networks as children (so state-dict keys read `encoder.conv1.weight`,
 * `projector.0.weight`); it has no forward of its own.
 */
export class SslModules extends Module {
  readonly #byName = new Map<string, Module>();
  constructor(parts: Readonly<Record<string, Module>>) {
    super();
    for (const [name, m] of Object.entries(parts)) this.#byName.set(name, this.registerModule(name, m));
  }
  /** The child called `name`; throws listing the children when there is none. */
  get(name: string): Module {
    const m = this.#byName.get(name);
    if (!m) throw new Error(`SslModules: no module '${name}' (have ${[...this.#byName.keys()].join(', ')})`);
    return m;
  }
  has(name: string): boolean {
    return this.#byName.has(name);
  }
  names(): string[] {
    return [...this.#byName.keys()];
  }
  forward(): Tensor {
    throw new Error(
      `SslModules: has no forward; call the method's step(view1, view2) or run a child (${this.names().join(', ')})`,
    );
  }
}

/** Throws unless `progress` (k/K) is a number in [0, 1]. */
export function checkProgress(fn: string, progress: number): void {
  if (typeof progress !== 'number' || !Number.isFinite(progress) || progress < 0 || progress > 1) {
    throw new Error(`${fn}: progress must be k/K in [0, 1], got ${String(progress)}`);
  }
}

/** Runs `net` on `x` and checks that it returns pooled [N,F] features (the contract of a pooled encoder). */
export function pooledFeatures(fn: string, net: Module, x: Tensor): Tensor {
  const y = net.forward(x);
  if (y.rank !== 2 || y.shape[0] !== x.shape[0]) {
    throw new Error(
      `${fn}: the encoder must return pooled features [N,F] for input [${x.shape.join(',')}], got [${y.shape.join(',')}]`,
    );
  }
  return y;
}

/**
 * What the methods without state outside their modules (VICReg, SimSiam, masked reconstruction) share: no
 * followers, nothing to do after an optimiser step but check the progress, and an empty state dict.
 */
export abstract class StatelessSslMethod implements SslMethod {
  abstract readonly name: SslMethodName;
  readonly modules: SslModules;
  readonly followers: readonly Module[] = [];
  /** The class name that errors start with. */
  readonly #what: string;

  constructor(what: string, modules: SslModules) {
    this.#what = what;
    this.modules = modules;
  }

  abstract step(view1: Tensor, view2: Tensor, gather?: (z: Tensor) => Tensor): SslStepOutput;

  afterOptimizerStep(progress: number): void {
    checkProgress(`${this.#what}.afterOptimizerStep`, progress);
  }

  train(mode = true): void {
    this.modules.train(mode);
  }

  stateDict(): Map<string, Tensor> {
    return new Map();
  }

  /** Accepts only an empty state dict (when strict). */
  loadStateDict(source: StateDictSource, opts: { strict?: boolean } = {}): void {
    const keys = source instanceof Map ? [...source.keys()] : Object.keys(source);
    if (keys.length && (opts.strict ?? true)) {
      throw new Error(
        `${this.#what}.loadStateDict: this method keeps no state outside its modules, got ${keys.length} key(s) (${keys.slice(0, 5).join(', ')})`,
      );
    }
  }

  dispose(): void {
    this.modules.dispose();
  }
}
