/**
 * inkwell's tensor engine: `import { torch } from 'inkwell'`, then `torch.zeros(...)`, `torch.nn.Conv3d`,
 * `torch.optim.SGD`, `torch.F.conv3d`, `torch.tidy(...)`.
 */
export { Tensor, type MemoryFormat, type TensorLike, type ToOptions } from './tensor.js';
export {
  type Device,
  type CudaMemoryStats,
  type CudaStatus,
  isDevice,
  parseDevice,
  canonicalDevice,
  sameDevice,
  cudaIndex,
  cudaStatus,
  requireDevice,
  setCudnnBenchmark,
  cudnnBenchmark,
  cudaMemoryStats,
  synchronize,
} from './device.js';
export * as amp from './amp.js';
export { type DType, DTYPES } from './dtype.js';
export { tidy, keep, scope, unscoped, memory, DisposeScope, type MemoryInfo } from './scope.js';
export { noGrad, enableGrad, isGradEnabled, reachedBy } from './autograd.js';
export { setNumThreads, getNumThreads, cuda, buildInfo } from './runtime.js';
export { libtorchInfo, libtorchMajor, cudaMissing, type LibtorchInfo } from './libtorch.js';
export { torchBuild, torchPython, type TorchBuild } from './build.js';
export * from './ops/creation.js';
export * from './ops/shape.js';
export * as F from './ops/functional.js';
export * as nn from './nn/index.js';
export {
  save,
  load,
  readStateDict,
  loadNpy,
  saveNpy,
  saveNpySync,
  type SaveValue,
  type LoadedValue,
  type LoadStateDictOptions,
} from './save-load.js';
export * as serialization from './serialization/index.js';
export { checkFiniteWeights, nonFiniteTensors, type FiniteWeightsOptions, type NonFiniteTensor } from './finite.js';
export * as optim from './optim/index.js';
export * as distributed from './distributed.js';
