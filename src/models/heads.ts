/**
 * Self-supervised heads: MLPs of Linear-BatchNorm1d-ReLU blocks ending in a plain Linear, laid out as the
 * `lightly` library's ProjectionHead (lightly/models/modules/heads.py: one `layers` Sequential, so parameters are
 * `layers.0.weight`, `layers.1.*`, ...), which the reference study used.
 *
 * Presets:
 * - `reference-projector` 512-256-256-512: lightly's BarlowTwinsProjectionHead(512, 256, 512), the reference study's VICReg
 *   projector (younader/VesuviusPretraining `pretraining.ipynb`). Three Linear layers; lightly drops the bias of a
 *   Linear followed by BatchNorm, so 512*256 + 2*256 + 256*256 + 2*256 + 256*512 + 512 = 329,216 parameters
 *   (the write-up's "329K"; a two-Linear 512-256-512 head would have 263 K).
 * - `vicreg-expander` 2048-8192-8192-8192: VICReg's Projector (facebookresearch/vicreg `main_vicreg.py`): hidden
 *   Linears with bias, the last without.
 * - `byol-projector` 512-1024-256 and `byol-predictor` 256-1024-256: lightly's BYOLProjectionHead /
 *   BYOLPredictionHead with the sizes of the reference study's failed BYOL run.
 * - `simsiam-predictor` 2048-512-2048: the bottleneck predictor of SimSiam (Chen & He 2021; lightly's
 *   SimSiamPredictionHead): hidden width a quarter of the output.
 */
import { formatShape } from '../torch/dtype.js';
import { nn, type Tensor } from '../torch/index.js';

export interface ProjectionHeadOptions {
  /** Bias on the Linear layers followed by BatchNorm (lightly: false, the BN shift makes it redundant; VICReg: true). */
  hiddenBias?: boolean;
  /** Bias on the last Linear (lightly: true; VICReg's expander: false). */
  lastBias?: boolean;
}

/** dims [in, h1, ..., out]: Linear-BN-ReLU for every hidden width, then a plain Linear to `out`. */
export class ProjectionHead extends nn.Module {
  readonly layers: nn.Sequential;
  readonly dims: readonly number[];

  constructor(dims: readonly number[], opts: ProjectionHeadOptions = {}) {
    super();
    if (dims.length < 2 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`ProjectionHead: dims must be at least [in, out] positive integers, got [${dims.join(',')}]`);
    }
    this.dims = [...dims];
    const mods: nn.Module[] = [];
    for (let i = 0; i < dims.length - 2; i++) {
      mods.push(
        new nn.Linear(dims[i]!, dims[i + 1]!, { bias: opts.hiddenBias ?? false }),
        new nn.BatchNorm1d(dims[i + 1]!),
        new nn.ReLU(),
      );
    }
    mods.push(new nn.Linear(dims[dims.length - 2]!, dims[dims.length - 1]!, { bias: opts.lastBias ?? true }));
    this.layers = this.registerModule('layers', new nn.Sequential(...mods));
  }

  get inFeatures(): number {
    return this.dims[0]!;
  }

  get outFeatures(): number {
    return this.dims[this.dims.length - 1]!;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(
        `ProjectionHead.forward: input must be [N,${this.inFeatures}] (pooled features), got ${formatShape(x.shape)}`,
      );
    }
    return this.layers.forward(x);
  }
}

export const HEAD_PRESETS = {
  'reference-projector': { dims: [512, 256, 256, 512], opts: {} },
  'vicreg-expander': { dims: [2048, 8192, 8192, 8192], opts: { hiddenBias: true, lastBias: false } },
  'byol-projector': { dims: [512, 1024, 256], opts: {} },
  'byol-predictor': { dims: [256, 1024, 256], opts: {} },
  'simsiam-predictor': { dims: [2048, 512, 2048], opts: {} },
} as const satisfies Record<string, { dims: readonly number[]; opts: ProjectionHeadOptions }>;

export type HeadPreset = keyof typeof HEAD_PRESETS;

/**
 * A preset head; `inFeatures` replaces its input width (e.g. the encoder's featureDim), `dims` replaces all
 * widths. Unknown names are an error listing the presets.
 */
export function createHead(
  preset: HeadPreset,
  o: { inFeatures?: number; dims?: readonly number[] } = {},
): ProjectionHead {
  const p = (HEAD_PRESETS as Record<string, { dims: readonly number[]; opts: ProjectionHeadOptions }>)[preset];
  if (!p)
    throw new Error(`createHead: unknown head '${String(preset)}'; known: ${Object.keys(HEAD_PRESETS).join(', ')}`);
  const dims = o.dims ? [...o.dims] : [...p.dims];
  if (o.inFeatures !== undefined) dims[0] = o.inFeatures;
  return new ProjectionHead(dims, p.opts);
}

/** lightly's BarlowTwinsProjectionHead layout: in-hidden-hidden-out (the reference study: 512-256-256-512). */
export function barlowTwinsProjector(inFeatures = 512, hidden = 256, out = 512): ProjectionHead {
  return new ProjectionHead([inFeatures, hidden, hidden, out]);
}

/** VICReg's expander: in-h-h-out, hidden Linears with bias, last Linear without (default 2048-8192-8192-8192). */
export function vicregExpander(inFeatures = 2048, hidden = 8192, out = 8192): ProjectionHead {
  return new ProjectionHead([inFeatures, hidden, hidden, out], { hiddenBias: true, lastBias: false });
}

/** BYOL projector (Linear-BN-ReLU-Linear), default sizes of the reference study's run 512-1024-256. */
export function byolProjector(inFeatures = 512, hidden = 1024, out = 256): ProjectionHead {
  return new ProjectionHead([inFeatures, hidden, out]);
}

/** BYOL predictor (Linear-BN-ReLU-Linear), default 256-1024-256. */
export function byolPredictor(inFeatures = 256, hidden = 1024, out = 256): ProjectionHead {
  return new ProjectionHead([inFeatures, hidden, out]);
}

/** SimSiam's bottleneck predictor: dim - dim/4 - dim (2048-512-2048 in the paper). */
export function simsiamPredictor(dim = 2048, bottleneck: number = Math.max(1, Math.floor(dim / 4))): ProjectionHead {
  return new ProjectionHead([dim, bottleneck, dim]);
}
