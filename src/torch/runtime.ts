/** Threads, devices and build facts of the libtorch underneath. */
import { native } from './native.js';

/** Intra-op threads libtorch uses (all cores by default; INKWELL_NUM_THREADS overrides at load). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  /**
   * Device `index`'s name, as torch.cuda.get_device_name(index) ("NVIDIA H100 80GB HBM3"); null where the addon
   * was built without the CUDA runtime's headers (native/torch-paths.cjs). Throws for a device it does not see.
   */
  deviceName: (index: number): string | null => native.cudaDeviceName(index),
};

/**
 * libtorch's version and its parallel/BLAS configuration (what `torch.__config__.show()` prints), and whether
 * the addon linked its CUDA half (see libtorch.ts).
 */
export function buildInfo(): { torchVersion: string; parallel: string; config: string; cudaLinked: boolean } {
  return native.buildInfo();
}
