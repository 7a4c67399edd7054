/** Optimisers, gradient clipping and learning-rate schedulers: `torch.optim.SGD`, `torch.optim.clipGradNorm_`... */
export {
  Optimizer,
  numberCodec,
  booleanCodec,
  pairCodec,
  type BaseHyperparameters,
  type ParamGroup,
  type ParamGroupSpec,
  type Params,
  type ParamState,
  type StateValue,
  type OptimizerStateDict,
  type OptimizerStateDictLike,
  type HyperCodec,
  type HyperSpec,
} from './optimizer.js';
export { SGD, type SGDHyperparameters, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWHyperparameters, type AdamWOptions } from './adamw.js';
export { LARS, excludeBiasAndNorm, type LARSHyperparameters, type LARSOptions, type LarsFilter } from './lars.js';
export { clipGradNorm_, type ClipGradNormOptions } from './clip-grad.js';
export {
  LRScheduler,
  StepLR,
  CosineAnnealingLR,
  LinearWarmupCosine,
  OneCycleLR,
  type LinearWarmupCosineOptions,
  type OneCycleLROptions,
  type SchedulableOptimizer,
  type SchedulerStateDict,
  type JsonValue,
} from './lr-scheduler.js';
