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

/** The loaded libtorch's major version (1 for Debian's 1.13, 2 for PyTorch 2.x). */
export function libtorchMajor(): number {
  return Number(native.buildInfo().torchVersion.split('.')[0]);
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
 * Null when `cuda:<index>` can be used, else what is missing, ending so that a caller can add "or use --device
 * cpu": a CPU-only libtorch, a CUDA libtorch linked without its CUDA half (no driver where the addon was built),
 * no visible GPU, or no device `index`.
 */
export function cudaMissing(index = 0): string | null {
  const info = libtorchInfo();
  const { built, devices } = native.cudaStatus();
  if (!info.cuda) {
    return (
      `this libtorch (${info.version}, ${info.source}) is a CPU-only build, so it has no CUDA backend; ` +
      'build inkwell against a CUDA build of PyTorch (docs/gpu.md)'
    );
  }
  if (!info.cudaLinked || !built) {
    return (
      `this libtorch (${info.version}, ${info.source}: CUDA ${info.cuda}, but the addon was linked without ` +
      'libtorch_cuda, as no NVIDIA driver was found where it was built) is a CPU-only build, so it has no CUDA ' +
      "backend; rebuild the addon on the GPU machine ('npm run bootstrap')"
    );
  }
  if (devices === 0) {
    return (
      `libtorch ${info.version} was built with CUDA but sees no GPU: no NVIDIA driver is loaded, or ` +
      'CUDA_VISIBLE_DEVICES hides every device; check nvidia-smi'
    );
  }
  if (index >= devices) {
    return (
      `there is no CUDA device ${index}; this process sees ${devices} ` +
      `(cuda:0${devices > 1 ? `..cuda:${devices - 1}` : ''})`
    );
  }
  return null;
}
