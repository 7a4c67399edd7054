/**
 * Models: 3D-ResNet encoders with kenshohara's parameter names, checkpoint loading with conv1 adaptation,
 * depth-pooled 2D decoders, self-supervised heads and a registry by name.
 */
export {
  ResNet3D,
  RESNET3D_DEPTHS,
  RESNET3D_LAYERS,
  STAGES,
  type ResNet3DDepth,
  type ResNet3DOptions,
  type StageFeatures,
  type StageName,
} from './resnet3d.js';
export {
  BasicBlock,
  Bottleneck,
  ZeroPadShortcut,
  makeStage,
  conv1x1x1,
  conv3x3x3,
  type BlockClass,
  type ResidualBlock,
  type Shortcut,
  type ShortcutType,
} from './blocks.js';
export {
  adaptConv1Weight,
  describeArchGuess,
  describeEncoderLoad,
  inferResNet3DArch,
  loadEncoderStateDict,
  loadEncoderWeights,
  type Conv1Adaptation,
  type EncoderLoadReport,
  type LoadEncoderOptions,
  type ResNet3DArchGuess,
} from './encoder-weights.js';
export {
  poolDepth,
  ProbeDecoder,
  SegmentationModel,
  UNetDecoder,
  type Decoder2D,
  type DepthPool,
  type OutputResolution,
  type SegmentationOptions,
} from './decoders.js';
export {
  barlowTwinsProjector,
  byolPredictor,
  byolProjector,
  createHead,
  HEAD_PRESETS,
  ProjectionHead,
  simsiamPredictor,
  vicregExpander,
  type HeadPreset,
  type ProjectionHeadOptions,
} from './heads.js';
export {
  createEncoder,
  createSegmentationModel,
  ENCODER_ARCHS,
  parseArch,
  type ArchSpec,
  type EncoderOptions,
  type SegmentationModelOptions,
} from './registry.js';
