/**
 * What the loaded libtorch is and can do: its version, build (CUDA, cuDNN, NCCL), where it came from, and why
 * CUDA is unavailable when it is. `inkwell doctor` prints these; device parsing uses `cudaMissing` so that
 * `--device cuda` on a CPU machine fails with one message that names what is missing.
 */
import { torchBuild } from './build.js';
import { native } from './native.js';

export interface LibtorchInfo {
  version: string;
  /** CUDA version the libtorch was built with (null: a CPU-only build). */
  cuda: string | null;
  cudnn: string | null;
  /** NCCL version of this addon's ProcessGroupNCCL (null: not built in). */
  nccl: string | null;
  /** Where it came from: "PyPI torch 2.15.0 in .torch/py", "Debian libtorch-dev", "TORCH_DIR=...". */
  source: string;
  /** Whether the addon linked the libtorch's CUDA half (libtorch_cuda): only where an NVIDIA driver was found. */
  cudaLinked: boolean;
  /** Collective backends built in ("gloo", "nccl"). */
  backends: string[];
}

// show_config()'s "Build settings: KEY=value, ..." line, as torch.__config__.show() prints it.
function buildSetting(config: string, key: string): string | null {
  const m = new RegExp(`\\b${key}=([^,\\s]*)`).exec(config);
  return m?.[1] ? m[1] : null;
}

export function libtorchInfo(): LibtorchInfo {
  const b = native.buildInfo();
  const useCuda = buildSetting(b.config, 'USE_CUDA');
  const cuda = useCuda === '1' || useCuda === 'ON' ? buildSetting(b.config, 'CUDA_VERSION') : null;
  return {
    version: b.torchVersion,
    cuda,
    cudnn: cuda ? buildSetting(b.config, 'CUDNN_VERSION') : null,
    nccl: native.ncclVersion ?? null,
    source: torchBuild()?.source ?? 'unknown (no torch.json beside the addon: rebuild with npm run bootstrap)',
    cudaLinked: b.cudaLinked,
    backends: native.distributedBackends.split(' ').filter((s) => s.length > 0),
  };
}

/**
 * Null when `cuda:<index>` can be used, else what is missing: a CPU-only libtorch, a CUDA libtorch linked
 * without its CUDA half (no driver where the addon was built), no visible device, or no device `index`.
 */
export function cudaMissing(index = 0): string | null {
  const info = libtorchInfo();
  if (!info.cuda) return `libtorch ${info.version} (${info.source}) is a CPU-only build: CUDA needs a CUDA build of PyTorch`;
  if (!info.cudaLinked) {
    return `the addon was built without libtorch's CUDA half (libtorch_cuda; no NVIDIA driver where it was built): ` +
      `rebuild it on the GPU machine ('npm run bootstrap', or INKWELL_CUDA=1)`;
  }
  const count = native.cudaDeviceCount();
  if (count === 0) return `libtorch ${info.version} is a CUDA ${info.cuda} build but sees no CUDA device (no driver, or CUDA_VISIBLE_DEVICES empty)`;
  if (index >= count) return `no device cuda:${index}: ${count} CUDA device${count === 1 ? '' : 's'} visible (cuda:0..cuda:${count - 1})`;
  return null;
}
