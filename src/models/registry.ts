/**
 * Architectures by name: `resnet3d-{10,18,34,50,101,152,200}` (kenshohara's networks) and the same depths with
 * `-reference` (the reference study's variant, earlier `-seed`: max pool (1,3,3)/(1,2,2), global max pool, InstanceNorm3d on the input, fc to 512
 * features as in `generate_model(model_depth=50, n_input_channels=1, n_classes=512)` of the reference study's notebook).
 * Explicit options override the preset's.
 */
import { type DepthPool, type OutputResolution, ProbeDecoder, SegmentationModel, UNetDecoder } from './decoders.js';
import { RESNET3D_DEPTHS, ResNet3D, type ResNet3DDepth, type ResNet3DOptions } from './resnet3d.js';

export type EncoderOptions = Omit<ResNet3DOptions, 'depth' | 'name'>;

const REFERENCE_VARIANT: EncoderOptions = {
  maxPool: 'reference',
  globalPool: 'max',
  inputNorm: 'instance',
  numClasses: 512,
};

/** Every architecture name createEncoder knows. */
export const ENCODER_ARCHS: readonly string[] = RESNET3D_DEPTHS.flatMap((d) => [
  `resnet3d-${d}`,
  `resnet3d-${d}-reference`,
]);

export interface ArchSpec {
  arch: string;
  depth: ResNet3DDepth;
  preset: EncoderOptions;
}

/** Resolves an architecture name; unknown names are an error that lists the known ones. */
export function parseArch(arch: string): ArchSpec {
  // `-seed` is the suffix's earlier name, still read from older configs and checkpoints.
  const m = /^resnet3d-(\d+)(-reference|-seed)?$/.exec(arch);
  const depth = m ? (Number(m[1]) as ResNet3DDepth) : null;
  if (!m || depth === null || !RESNET3D_DEPTHS.includes(depth)) {
    throw new Error(`unknown architecture '${arch}'; known: ${ENCODER_ARCHS.join(', ')}`);
  }
  return { arch, depth, preset: m[2] ? REFERENCE_VARIANT : {} };
}

/** `createEncoder('resnet3d-50', { inChannels: 1, widenFactor: 0.5 })`. */
export function createEncoder(arch: string, opts: EncoderOptions = {}): ResNet3D {
  let spec: ArchSpec;
  try {
    spec = parseArch(arch);
  } catch (err) {
    throw new Error(`createEncoder: ${(err as Error).message}`);
  }
  const merged: ResNet3DOptions = { ...spec.preset, depth: spec.depth, name: arch };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (merged as unknown as Record<string, unknown>)[k] = v;
  return new ResNet3D(merged);
}

export interface SegmentationModelOptions extends EncoderOptions {
  /** 'unet' (the 4th place / Grand Prize decoder, default) or 'probe' (light linear read-out for frozen encoders). */
  decoder?: 'unet' | 'probe';
  depthPool?: DepthPool;
  output?: OutputResolution;
}

/** Encoder of `arch` + decoder over layer1..layer4. */
export function createSegmentationModel(arch: string, opts: SegmentationModelOptions = {}): SegmentationModel {
  const { decoder = 'unet', depthPool, output, ...encoderOpts } = opts;
  if (decoder !== 'unet' && decoder !== 'probe')
    throw new Error(`createSegmentationModel: decoder must be 'unet' or 'probe', got '${String(decoder)}'`);
  const encoder = createEncoder(arch, encoderOpts);
  const stages = ['layer1', 'layer2', 'layer3', 'layer4'] as const;
  const dims = stages.map((s) => encoder.channels[s]);
  const dec = decoder === 'unet' ? new UNetDecoder(dims, stages) : new ProbeDecoder(dims, stages);
  return new SegmentationModel(encoder, dec, {
    ...(depthPool !== undefined ? { depthPool } : {}),
    ...(output !== undefined ? { output } : {}),
  });
}
