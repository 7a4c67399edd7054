/**
 * Training checkpoints: everything needed to continue a run exactly (modules, optimiser, scheduler, libtorch's
 * RNG state, epoch/step, the resolved config), in PyTorch's `.pth` format. The encoder's weights sit under
 * 'state_dict' as in kenshohara's checkpoints, so `inkwell embed --weights epoch_0003.pth` and PyTorch's
 * `torch.load(f)['state_dict']` read them directly; the other modules sit under 'modules'.
 */
import * as torch from '../torch/index.js';
import type { nn } from '../torch/index.js';
import type { optim } from '../torch/index.js';
import type { SaveValue } from '../torch/index.js';

/** A NaN or infinite loss stopped a trainer before the weights changed; the message names the step and the last good checkpoint. */
export class NonFiniteLossError extends Error {}

export interface TrainingState {
  epoch: number;
  step: number;
  /** Modules by name; `encoder` (if present) is also written as the top-level 'state_dict'. */
  modules: Record<string, nn.Module>;
  optimizer?: { stateDict(): optim.OptimizerStateDict; loadStateDict(sd: optim.OptimizerStateDictLike): void };
  scheduler?: optim.LRScheduler;
  config: unknown;
  /** Anything else the trainer needs back (e.g. the last good loss). */
  extra?: Record<string, SaveValue>;
}

/** Writes `state` atomically to `path` (a reader sees the previous file or this one, never half of it). */
export async function saveTrainingCheckpoint(path: string, state: TrainingState): Promise<void> {
  const rng = torch.getRngState();
  // Each GPU's generator too when CUDA is in use, so that dropout and augmentation on the GPU resume in step.
  const cudaRng = torch.getCudaRngStates();
  try {
    // The encoder is written once, under 'state_dict' (where embed and PyTorch users look); the rest under 'modules'.
    const modules: Record<string, SaveValue> = {};
    for (const [name, m] of Object.entries(state.modules)) if (name !== 'encoder') modules[name] = m.stateDict();
    const value: Record<string, SaveValue> = {
      epoch: state.epoch,
      step: state.step,
      ...(state.modules['encoder'] ? { state_dict: state.modules['encoder'].stateDict() } : {}),
      modules,
      rng: { torch: rng, ...(cudaRng.length > 0 ? { cuda: cudaRng } : {}) },
      config: JSON.stringify(state.config),
      ...(state.optimizer ? { optimizer: state.optimizer.stateDict() as unknown as SaveValue } : {}),
      ...(state.scheduler ? { scheduler: state.scheduler.stateDict() as unknown as SaveValue } : {}),
      ...(state.extra ? { extra: state.extra } : {}),
    };
    await torch.save(path, value);
  } finally {
    rng.dispose();
    for (const t of cudaRng) t.dispose();
  }
}

/**
 * fp16's loss scaler for a checkpoint's 'extra' (under 'grad_scaler', with PyTorch's GradScaler.state_dict()
 * keys), so that a resumed run does not start over from 2^16 and skip steps finding the scale again; nothing
 * without a scaler (bf16 and fp32 need none). Both trainers' checkpoints carry it (src/train/loop.ts).
 */
export function gradScalerExtra(scaler: torch.amp.GradScaler | null): Record<string, SaveValue> {
  return scaler ? { grad_scaler: { ...scaler.stateDict() } } : {};
}

/**
 * Restores the loss scale and growth tracker that `gradScalerExtra` saved into `scaler` (for `onExtra`). A
 * checkpoint without one (written without fp16) leaves the scaler at its start, as does a run without a scaler.
 */
export function restoreGradScaler(
  extra: Map<unknown, unknown>,
  scaler: torch.amp.GradScaler | null,
  path: string,
): void {
  const saved = extra.get('grad_scaler');
  if (!scaler || saved === undefined) return;
  if (!(saved instanceof Map)) {
    throw new Error(`loadTrainingCheckpoint(${path}): 'extra.grad_scaler' is not a dict (got ${typeof saved})`);
  }
  try {
    scaler.loadStateDict(Object.fromEntries(saved as Map<string, number>));
  } catch (err) {
    throw new Error(`loadTrainingCheckpoint(${path}): 'extra.grad_scaler': ${(err as Error).message}`);
  }
}

export interface RestoredState {
  epoch: number;
  step: number;
  config: unknown;
  /** The non-tensor entries of 'extra' (counters and the like); tensors in it go to `onExtra`. */
  extra: Map<unknown, unknown>;
}

/**
 * Loads `path` into the given modules/optimiser/scheduler (strictly: the architecture must match) and restores
 * libtorch's RNG state, so that the next epoch draws the same numbers as an uninterrupted run would. The file
 * is read onto the CPU and copied into the modules wherever they are, so a checkpoint saved on CUDA loads on a
 * CPU-only machine (its CUDA generator states are then left unused) and a CPU one onto a GPU.
 */
export async function loadTrainingCheckpoint(path: string, into: TrainingTargets): Promise<RestoredState> {
  const { value } = await torch.load(path);
  return restoreTrainingState(value, path, into);
}

export type TrainingTargets = Omit<TrainingState, 'epoch' | 'step' | 'config' | 'extra'> & {
  /** Receives the checkpoint's 'extra' entries while their tensors are alive (they are freed afterwards). */
  onExtra?: (extra: Map<unknown, unknown>) => void;
};

/** The config a loaded checkpoint was written with (parsed from its JSON), or null. */
export function checkpointConfig(value: torch.LoadedValue): Record<string, unknown> | null {
  const text = value instanceof Map ? value.get('config') : undefined;
  return typeof text === 'string' ? (JSON.parse(text) as Record<string, unknown>) : null;
}

function plainExtra(extra: unknown, onExtra: TrainingTargets['onExtra']): Map<unknown, unknown> {
  if (!(extra instanceof Map)) return new Map();
  onExtra?.(extra);
  return new Map([...extra].filter(([, v]) => typeof v !== 'object' || v === null));
}

/** Frees every tensor of a loaded checkpoint tree. */
export function disposeLoaded(v: unknown): void {
  if (v instanceof torch.Tensor) v.dispose();
  else if (v instanceof Map) for (const x of v.values()) disposeLoaded(x);
  else if (Array.isArray(v)) for (const x of v) disposeLoaded(x);
}

/** Copies an already loaded checkpoint into `into`, then frees the loaded tensors. */
export function restoreTrainingState(value: torch.LoadedValue, path: string, into: TrainingTargets): RestoredState {
  try {
    return restore(value, path, into);
  } finally {
    disposeLoaded(value);
  }
}

function restore(value: torch.LoadedValue, path: string, into: TrainingTargets): RestoredState {
  return torch.tidy(() => {
    if (!(value instanceof Map))
      throw new Error(`loadTrainingCheckpoint(${path}): not an inkwell training checkpoint (top level is not a dict)`);
    const modules = value.get('modules');
    if (!(modules instanceof Map))
      throw new Error(`loadTrainingCheckpoint(${path}): no 'modules' entry (is this an inkwell training checkpoint?)`);
    const available = [...(value.has('state_dict') ? ['encoder'] : []), ...modules.keys()];
    for (const [name, m] of Object.entries(into.modules)) {
      const sd = name === 'encoder' ? value.get('state_dict') : modules.get(name);
      if (!(sd instanceof Map))
        throw new Error(
          `loadTrainingCheckpoint(${path}): no weights for module '${name}' (has: ${available.join(', ')})`,
        );
      try {
        m.loadStateDict(sd as Map<string, torch.Tensor>);
      } catch (err) {
        throw new Error(`loadTrainingCheckpoint(${path}): module '${name}': ${(err as Error).message}`);
      }
    }
    if (into.optimizer) {
      const o = value.get('optimizer');
      if (!o) throw new Error(`loadTrainingCheckpoint(${path}): no optimizer state`);
      into.optimizer.loadStateDict(o as Map<unknown, unknown>);
    }
    if (into.scheduler) {
      const s = value.get('scheduler');
      if (!(s instanceof Map)) throw new Error(`loadTrainingCheckpoint(${path}): no scheduler state`);
      into.scheduler.loadStateDict(Object.fromEntries(s as Map<string, unknown>));
    }
    const rngs = value.get('rng') as Map<string, unknown> | undefined;
    const rng = rngs?.get('torch');
    if (rng instanceof torch.Tensor) torch.setRngState(rng);
    const cudaRng = rngs?.get('cuda');
    if (Array.isArray(cudaRng) && cudaRng.length <= torch.cudaStatus().devices) {
      torch.setCudaRngStates(cudaRng.filter((t): t is torch.Tensor => t instanceof torch.Tensor));
    }
    return {
      epoch: Number(value.get('epoch')),
      step: Number(value.get('step')),
      config: checkpointConfig(value),
      extra: plainExtra(value.get('extra'), into.onExtra),
    };
  });
}
