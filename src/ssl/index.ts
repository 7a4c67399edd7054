/**
 * Self-supervised pretraining methods: `import { ssl } from 'inkwell'`.
 * - Losses as pure functions on [N,D] embeddings: vicregLoss, byolLoss, simsiamLoss, and
 *   maskedReconstructionLoss on volumes.
 * - Methods behind one interface (SslMethod: step / afterOptimizerStep / stateDict), built by name through
 *   the registry: createMethod('vicreg' | 'byol' | 'simsiam' | 'masked', options).
 * - Collapse monitor: embeddingStd, collapseStatus, checkCollapse.
 */
export {
  vicregLoss,
  offDiagonal,
  VICRegMethod,
  VICREG_DEFAULTS,
  VICREG_REFERENCE,
  type VICRegLoss,
  type VICRegLossOptions,
  type VICRegMethodOptions,
} from './vicreg.js';
export {
  byolLoss,
  byolRegression,
  byolMomentum,
  emaUpdate_,
  BYOLMethod,
  BYOL_BASE_MOMENTUM,
  type BYOLLoss,
  type BYOLMethodOptions,
} from './byol.js';
export { simsiamLoss, SimSiamMethod, type SimSiamLoss, type SimSiamMethodOptions } from './simsiam.js';
export {
  randomBlockMask,
  maskedReconstructionLoss,
  LightDecoder3d,
  MaskedMethod,
  MASK_DEFAULTS,
  type BlockMaskOptions,
  type LightDecoderOptions,
  type MaskedMethodOptions,
} from './masked.js';
export { embeddingStd, collapseStatus, checkCollapse, COLLAPSE_RATIO, type CollapseStatus } from './monitor.js';
export { SslModules, type SslMethod, type SslMethodName, type SslStepOutput } from './method.js';
export {
  SSL_METHODS,
  createMethod,
  methodEntry,
  sslMethodNames,
  isSslMethodName,
  type SslMethodEntry,
  type SslMethodOptions,
} from './registry.js';
