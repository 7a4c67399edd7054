/**
 * The method registry: 'vicreg', 'byol', 'simsiam', 'masked' -> a builder that makes the heads from widths
 * and returns an SslMethod, so a training loop or a config file picks a method by name. The MLP heads are
 * src/models/heads.ts's ProjectionHead (lightly's layout, which the reference study used: Linear-BN-ReLU blocks, a
 * plain last Linear, parameters under `layers.*`).
 */
import { ProjectionHead, type ProjectionHeadOptions } from '../models/heads.js';
import { BatchNorm1d, Sequential } from '../torch/nn/layers.js';
import type { Module } from '../torch/nn/module.js';
import type { Tensor } from '../torch/tensor.js';
import { BYOLMethod } from './byol.js';
import { type BlockMaskOptions, LightDecoder3d, type LightDecoderOptions, MaskedMethod } from './masked.js';
import type { SslMethod, SslMethodName } from './method.js';
import { SimSiamMethod } from './simsiam.js';
import { VICRegMethod, type VICRegLossOptions } from './vicreg.js';

export interface SslMethodOptions {
  /** Builds a fresh encoder: pooled [N,F] features ('masked': a feature map [N,F,d,h,w]). BYOL calls it twice. */
  encoder: () => Module;
  /** F: the encoder's output features (channels of the feature map for 'masked'). */
  featureDim: number;
  /** Projector widths after F: hidden..., out (defaults per method, see SSL_METHODS). */
  projector?: readonly number[];
  /**
   * Biases of the projector's Linears (default lightly's, as the reference study: none before BatchNorm, one on the last;
   * VICReg's official expander is `{ hiddenBias: true, lastBias: false }`).
   */
  projectorBias?: ProjectionHeadOptions;
  /** Predictor hidden widths; its input and output are the projector's output width (BYOL, SimSiam). */
  predictorHidden?: readonly number[];
  vicreg?: VICRegLossOptions;
  byol?: { baseMomentum?: number };
  masked?: {
    mask?: BlockMaskOptions;
    fillValue?: number;
    views?: 'both' | 'first';
    featureMap?: (encoder: Module, x: Tensor) => Tensor;
    /** Channels of the input volume, reconstructed by the decoder (default 1). */
    inChannels?: number;
    decoder?: Omit<LightDecoderOptions, 'outChannels'>;
  };
}

export interface SslMethodEntry {
  readonly name: SslMethodName;
  readonly summary: string;
  /** The paper and official code the implementation follows. */
  readonly source: string;
  /** Default head widths after F (projector) and predictor hidden widths, where the method has them. */
  readonly defaults: { readonly projector?: readonly number[]; readonly predictorHidden?: readonly number[] };
  create(o: SslMethodOptions): SslMethod;
}

function checkFeatureDim(name: string, o: SslMethodOptions): void {
  if (typeof o.encoder !== 'function')
    throw new Error(`createMethod('${name}'): encoder must be a function that builds an encoder`);
  if (!Number.isInteger(o.featureDim) || o.featureDim < 1)
    throw new Error(`createMethod('${name}'): featureDim must be a positive integer, got ${String(o.featureDim)}`);
}

/** Builds networks in order and disposes those already built when a later one fails. */
function building<T>(fn: (own: <M extends Module>(m: M) => M) => T): T {
  const built: Module[] = [];
  try {
    return fn((m) => {
      built.push(m);
      return m;
    });
  } catch (err) {
    for (const m of built) m.dispose();
    throw err;
  }
}

const VICREG: SslMethodEntry = {
  name: 'vicreg',
  summary:
    "VICReg: invariance + variance + covariance on the projector outputs of two views (the reference study's method)",
  source: 'Bardes et al., ICLR 2022; facebookresearch/vicreg main_vicreg.py',
  // The reference study's projector: lightly's BarlowTwinsProjectionHead(512, 256, 512) = 512-256-256-512.
  defaults: { projector: [256, 256, 512] },
  create(o) {
    checkFeatureDim('vicreg', o);
    return building((own) => {
      const encoder = own(o.encoder());
      const projector = own(
        new ProjectionHead([o.featureDim, ...(o.projector ?? VICREG.defaults.projector!)], o.projectorBias ?? {}),
      );
      return new VICRegMethod({ encoder, projector, ...(o.vicreg ? { loss: o.vicreg } : {}) });
    });
  },
};

const BYOL: SslMethodEntry = {
  name: 'byol',
  summary: "BYOL: online predictor regresses an EMA target's projection (2 - 2 cos, symmetrised)",
  source: 'Grill et al., NeurIPS 2020; deepmind-research byol/',
  // The reference study's failed BYOL run: projector 512-1024-256, predictor 256-1024-256.
  defaults: { projector: [1024, 256], predictorHidden: [1024] },
  create(o) {
    checkFeatureDim('byol', o);
    const dims = [o.featureDim, ...(o.projector ?? BYOL.defaults.projector!)];
    const out = dims[dims.length - 1]!;
    return building((own) => {
      const encoder = own(o.encoder());
      const projector = own(new ProjectionHead(dims, o.projectorBias ?? {}));
      const predictor = own(new ProjectionHead([out, ...(o.predictorHidden ?? BYOL.defaults.predictorHidden!), out]));
      return new BYOLMethod({
        encoder,
        projector,
        predictor,
        makeTarget: () =>
          building((ownTarget) => ({
            encoder: ownTarget(o.encoder()),
            projector: ownTarget(new ProjectionHead(dims, o.projectorBias ?? {})),
          })),
        ...(o.byol?.baseMomentum !== undefined ? { baseMomentum: o.byol.baseMomentum } : {}),
      });
    });
  },
};

const SIMSIAM: SslMethodEntry = {
  name: 'simsiam',
  summary: 'SimSiam: predictor + stop-gradient, symmetrised negative cosine',
  source: 'Chen & He, CVPR 2021; facebookresearch/simsiam',
  // The official 3-layer projector and D/4 bottleneck predictor, at the reference study's 512 width.
  defaults: { projector: [512, 512], predictorHidden: [128] },
  create(o) {
    checkFeatureDim('simsiam', o);
    const dims = [o.featureDim, ...(o.projector ?? SIMSIAM.defaults.projector!)];
    const out = dims[dims.length - 1]!;
    return building((own) => {
      const encoder = own(o.encoder());
      // Official layout (simsiam/builder.py): the projector ends in BatchNorm1d(affine=False) after a Linear
      // whose bias that BN makes redundant; children '0' (the MLP) and '1' (the BN).
      const projector = own(
        new Sequential(
          new ProjectionHead(dims, { lastBias: false, ...o.projectorBias }),
          new BatchNorm1d(out, { affine: false }),
        ),
      );
      const predictor = own(
        new ProjectionHead([out, ...(o.predictorHidden ?? SIMSIAM.defaults.predictorHidden!), out]),
      );
      return new SimSiamMethod({ encoder, projector, predictor });
    });
  },
};

const MASKED: SslMethodEntry = {
  name: 'masked',
  summary:
    'Masked reconstruction: hide random 3D blocks, reconstruct them through a light decoder, MSE on hidden voxels',
  source: 'MAE (He et al. 2022) / SimMIM (Xie et al. 2022), adapted to 3D blocks and a CNN encoder',
  defaults: {},
  create(o) {
    checkFeatureDim('masked', o);
    const m = o.masked ?? {};
    return building((own) => {
      const encoder = own(o.encoder());
      const decoder = own(new LightDecoder3d(o.featureDim, { ...m.decoder, outChannels: m.inChannels ?? 1 }));
      return new MaskedMethod({
        encoder,
        decoder,
        ...(m.mask ? { mask: m.mask } : {}),
        ...(m.fillValue !== undefined ? { fillValue: m.fillValue } : {}),
        ...(m.views ? { views: m.views } : {}),
        ...(m.featureMap ? { featureMap: m.featureMap } : {}),
      });
    });
  },
};

/** Every method by name. */
export const SSL_METHODS: Readonly<Record<SslMethodName, SslMethodEntry>> = Object.freeze({
  vicreg: VICREG,
  byol: BYOL,
  simsiam: SIMSIAM,
  masked: MASKED,
});

export function sslMethodNames(): SslMethodName[] {
  return Object.keys(SSL_METHODS) as SslMethodName[];
}

export function isSslMethodName(name: string): name is SslMethodName {
  return Object.hasOwn(SSL_METHODS, name);
}

/** The registry entry for `name`; throws listing the known names otherwise. */
export function methodEntry(name: string): SslMethodEntry {
  if (!isSslMethodName(name)) throw new Error(`ssl: unknown method '${name}' (known: ${sslMethodNames().join(', ')})`);
  return SSL_METHODS[name];
}

/** Builds method `name` with its heads: `createMethod('vicreg', { encoder: () => net(), featureDim: 512 })`. */
export function createMethod(name: string, o: SslMethodOptions): SslMethod {
  return methodEntry(name).create(o);
}
