/**
 * Devices: parsing `cpu`, `cuda` and `cuda:N`, checking that the libtorch underneath can reach one (with an
 * error that names what is missing), cuDNN benchmark mode, CUDA generator states and allocator statistics.
 * `cuda` means the current CUDA device, which inkwell never changes from 0 (as torch.device('cuda') does in
 * a process that never calls torch.cuda.set_device).
 */
import { native, type TensorHandle } from './native.js';
import { cudaMissing } from './libtorch.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

const DEVICE_RE = /^(cpu|cuda)(?::(\d+))?$/;

/** True for the device strings inkwell accepts. */
export function isDevice(s: string): s is Device {
  const m = DEVICE_RE.exec(s);
  return m !== null && !(m[1] === 'cpu' && m[2] !== undefined);
}

/** `s` as a Device, or an error naming `what` (a flag or config key) and the accepted forms. */
export function parseDevice(s: string, what = 'device'): Device {
  const t = s.trim().toLowerCase();
  if (isDevice(t)) return t;
  throw new Error(`${what}: '${s}' is not a device; expected 'cpu', 'cuda' or 'cuda:N' (N a device index)`);
}

/** The same device with its index spelled out ('cuda' -> 'cuda:0'), so that two spellings compare equal. */
export function canonicalDevice(d: Device): Device {
  return d === 'cuda' ? 'cuda:0' : d;
}

export function sameDevice(a: Device, b: Device): boolean {
  return canonicalDevice(a) === canonicalDevice(b);
}

/** The device's CUDA index (0 for bare 'cuda'), or null for the CPU. */
export function cudaIndex(d: Device): number | null {
  if (d === 'cpu') return null;
  return d === 'cuda' ? 0 : Number(d.slice('cuda:'.length));
}

export interface CudaStatus {
  /** libtorch's CUDA backend is loaded (a CUDA build of libtorch). */
  built: boolean;
  /** GPUs it sees (0 without a driver, or with CUDA_VISIBLE_DEVICES hiding them). */
  devices: number;
}

export function cudaStatus(): CudaStatus {
  return native.cudaStatus();
}

/**
 * `d` when this process can use it; otherwise one error saying what is missing (cudaMissing): a CUDA build of
 * libtorch, its CUDA half in the addon, a visible GPU (driver), or device N. `what` names the flag or config key
 * that asked for it.
 */
export function requireDevice(d: Device, what = 'device'): Device {
  const index = cudaIndex(d);
  if (index === null) return d;
  const missing = cudaMissing(index);
  if (missing !== null) throw new Error(`${what} ${d}: ${missing}, or use --device cpu`);
  return d;
}

/**
 * Waits for the work queued on `device` (torch.cuda.synchronize for the current stream), for timing: reading
 * one element back is a device-to-host copy, which waits for the stream. Nothing to wait for on the CPU.
 */
export function synchronize(device: Device): void {
  if (device === 'cpu') return;
  const h = native.call('aten::zeros', '', [[1]], { device }) as TensorHandle;
  try {
    native.toBuffer(h);
  } finally {
    h.dispose();
  }
}

/** cuDNN's autotuner (torch.backends.cudnn.benchmark): picks the fastest convolution algorithm per shape. */
export function setCudnnBenchmark(enabled: boolean): boolean {
  return native.cudnnBenchmark(enabled);
}
export function cudnnBenchmark(): boolean {
  return native.cudnnBenchmark();
}

export interface CudaMemoryStats {
  /** Bytes in live tensors (torch.cuda.memory_allocated). */
  allocated: number;
  /** Bytes the caching allocator holds from the driver (torch.cuda.memory_reserved). */
  reserved: number;
  peakAllocated: number;
  peakReserved: number;
}

/** The caching allocator's statistics of CUDA device `index`, or null without CUDA (or on a libtorch < 2.9). */
export function cudaMemoryStats(index = 0): CudaMemoryStats | null {
  const { built, devices } = cudaStatus();
  if (!built || index >= devices) return null;
  return native.cudaMemoryStats(index);
}
