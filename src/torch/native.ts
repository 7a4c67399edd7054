/**
 * The native addon (native/), loaded once. Everything that touches libtorch goes through `native.call`
 * (the generic dispatcher entry point) or the few special entry points typed here.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { ADDON_PATH, REPO_ROOT } from './build.js';
import type { DType } from './dtype.js';

/** An opaque native tensor reference (see native/inkwell.h). */
export interface TensorHandle {
  dispose(): void;
  readonly disposed: boolean;
  readonly shape: number[];
  readonly strides: number[];
  readonly dtype: DType;
  readonly device: string;
  requiresGrad: boolean;
  readonly isLeaf: boolean;
  readonly gradFn: string | null;
  grad(): TensorHandle | null;
  setGrad(g: TensorHandle | null): void;
  isContiguous(memoryFormat?: string): boolean;
  sameStorage(other: TensorHandle): boolean;
  storageOffset(): number;
}

export type NativeValue = TensorHandle | number | boolean | string | null | NativeValue[];

export interface NativeAddon {
  call(
    name: string,
    overload: string,
    args: unknown[],
    kwargs?: Record<string, unknown> | null,
    discardResult?: boolean,
  ): NativeValue | undefined;
  schemas(prefix?: string): { name: string; overload: string; schema: string }[];
  fromBuffer(
    data: ArrayBufferView | ArrayBuffer,
    shape: readonly number[],
    dtype: DType,
    device?: string,
  ): TensorHandle;
  toBuffer(t: TensorHandle): ArrayBuffer;
  backward(tensors: TensorHandle[], grads: (TensorHandle | null)[], retainGraph?: boolean, createGraph?: boolean): void;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  manualSeed(seed: number | bigint): void;
  getRngState(): TensorHandle;
  setRngState(state: TensorHandle): void;
  reachedBy(output: TensorHandle, leaves: TensorHandle[]): boolean[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  stats(): { liveTensors: number; liveBytes: number };
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  /** The libtorch's version and show_config(), and whether libtorch_cuda is linked. */
  buildInfo(): { torchVersion: string; parallel: string; config: string; cudaLinked: boolean };
  /** device.cc: autocast state per device type ('cpu' | 'cuda'); enter returns the state it replaced. */
  autocastEnter(deviceType: string, enabled: boolean, dtype: DType): { enabled: boolean; dtype: DType };
  autocastExit(deviceType: string, prevEnabled: boolean, prevDType: DType): void;
  autocastState(deviceType: string): { enabled: boolean; dtype: DType };
  /** Sets torch.backends.cudnn.benchmark when given a value; returns the previous one. */
  cudnnBenchmark(enabled?: boolean): boolean;
  cudaStatus(): { built: boolean; devices: number };
  cudaGetRngState(index: number): TensorHandle;
  cudaSetRngState(index: number, state: TensorHandle): void;
  /** Device `index`'s name (cudaDeviceProp.name), or null where the addon was built without CUDA's headers. */
  cudaDeviceName(index: number): string | null;
  cudaMemoryStats(
    index: number,
  ): { allocated: number; reserved: number; peakAllocated: number; peakReserved: number } | null;
  TensorHandle: abstract new () => TensorHandle;
  initProcessGroup(opts: {
    backend: string;
    rank: number;
    worldSize: number;
    masterAddr: string;
    masterPort: number;
    timeoutMs: number;
  }): Promise<ProcessGroupHandle>;
  /** DDP's initial gradient buckets (parameter indices, allreduce order). */
  ddpBuckets(params: TensorHandle[], capBytes: number): number[][];
  /** Space-separated backends compiled in: "gloo", or "gloo nccl" in CUDA builds. */
  distributedBackends: string;
  /** NCCL's version, in builds with ProcessGroupNCCL. */
  ncclVersion?: string;
}

export interface ProcessGroupHandle {
  readonly rank: number;
  readonly size: number;
  allreduce(tensors: TensorHandle[], op: string): Promise<void>;
  broadcast(tensors: TensorHandle[], root: number): Promise<void>;
  allgather(t: TensorHandle): Promise<TensorHandle[]>;
  barrier(): Promise<void>;
  /** Training-mode batch norm with statistics over every rank (blocking; autograd-aware). */
  syncBatchNorm(
    x: TensorHandle,
    weight: TensorHandle | null,
    bias: TensorHandle | null,
    runningMean: TensorHandle | null,
    runningVar: TensorHandle | null,
    momentum: number,
    eps: number,
  ): TensorHandle;
  /** Every rank's x concatenated along dim 0; backward sums over ranks and keeps this rank's slice (blocking). */
  gather(x: TensorHandle): TensorHandle;
  /** c10d's DDP Reducer over these parameters (hooks on their gradient accumulators). */
  reducer(
    params: TensorHandle[],
    bucketCapBytes: number,
    findUnusedParameters: boolean,
    names: string[],
  ): ReducerHandle;
  shutdown(): void;
}

export interface ReducerHandle {
  /** Rebuilds buckets once (in gradient-arrival order) and starts an iteration; true when it rebuilt them. */
  prepareForForward(): boolean;
  /** The next backward allreduces; `outputs` are searched for unused parameters when the reducer finds them. */
  prepareForBackward(outputs: TensorHandle[]): void;
  bucketBytes(): number[];
  backwardStats(): number[];
  close(): void;
}

function loadAddon(): NativeAddon {
  if (!existsSync(ADDON_PATH)) {
    throw new Error(
      `inkwell: the native addon is not built (${ADDON_PATH} is missing); run 'npm run bootstrap' in ${REPO_ROOT}`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(ADDON_PATH) as NativeAddon;
}

export const native: NativeAddon = loadAddon();
