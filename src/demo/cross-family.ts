/**
 * Cross-family transfer: the demo's ink model, trained on family-A fragments only, run as a user
 * would run `inkwell infer` (rot90+flips TTA, no layer-order flag: Volume.open detects the order from the
 * density profile, src/data/layer-order.ts) on family-B fragments (docs/synthetic-data.md) drawn to cover
 * both bit depths and both sides of the papyrus, one of them stored in reverse order. It is scored at the
 * threshold chosen on the family-A validation fragment; nothing of family B reaches its training or selection.
 * Beside chance, two controls make the number readable: the hand-made surface statistic (its threshold also
 * chosen on the family-A validation fragment) and the in-family bound, the same recipe trained on other family-B
 * fragments (threshold on a family-B validation fragment), which says what this budget reaches on these
 * fragments when the family is not foreign. The interval is the study's bootstrap (src/study/scoring.ts) over
 * 64-px blocks of each fragment, the fragments being the folds.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SURFACE_Z_RANGE } from '../data/layout.js';
import { DEFAULT_NORMALIZE, parseNormalizeSpec } from '../data/normalize.js';
import { surfaceFollowingScore } from '../data/synth/calibrate.js';
import { synthesize, type FragmentVariant, type Manifest } from '../data/synth/write.js';
import { Volume } from '../data/volume.js';
import { bestThreshold, type ScoreResult } from '../eval/metrics.js';
import { readBinaryMap, readProbabilityMap } from '../eval/score-images.js';
import { chanceEntry, comparisonVerdict, entryOf, type StudyComparison } from '../study/comparison.js';
import { armScores, type ArmRun, type IntervalOptions } from '../study/scoring.js';
import type { Interval } from '../util/stats.js';

/**
 * Four fragments, both bit depths crossed with both sides of the papyrus (those with the papyrus before the
 * surface are stored reversed). Single fragments of this family vary by +-0.07 AUC under one model, so two
 * (as at first) said more about the fragments drawn than about the transfer.
 */
export const CROSS_FAMILY_VARIANTS: readonly FragmentVariant[] = [
  { bits: 8, papyrusSide: 'after' },
  { bits: 16, papyrusSide: 'before' },
  { bits: 8, papyrusSide: 'before' },
  { bits: 16, papyrusSide: 'after' },
];

/** The bootstrap's resampling unit inside a fragment: square blocks of this side (pixels). */
const BLOCK = 64;

export interface CrossFamilyFragment {
  id: string;
  bits: 8 | 16;
  papyrusSide: 'after' | 'before';
  /** Stored in reverse layer order (the reader must detect it). */
  reversed: boolean;
  auc: number | null;
  f05: number;
  /** The in-family bound's scores on this fragment (absent without the bound). */
  inFamily?: { auc: number | null; f05: number };
}

/** A control of the transfer table: mean over the fragments, 95% bootstrap over blocks. */
export interface CrossFamilyControl {
  auc: Interval;
  f05: Interval;
  /** The threshold its F0.5 is taken at, and the fragment it was chosen on. */
  threshold: number;
  thresholdFrom: string;
}

/** `scores.json`'s `crossFamily`: a model trained on one synthetic family scored on fragments of the other. */
export interface CrossFamily {
  trainFamily: 'a';
  scoreFamily: 'b';
  /** The family-A validation threshold the F0.5 is taken at. */
  threshold: number;
  layerOrder: 'detected (no flag)';
  fragments: CrossFamilyFragment[];
  /** Mean over the fragments, 95% bootstrap over blocks. */
  auc: Interval;
  f05: Interval;
  /** F0.5 of calling every pixel ink on the same pixels (chance). */
  chanceF05: number;
  /** The hand-made surface-following statistic on the same pixels. */
  surfaceStatistic: CrossFamilyControl;
  /** The same recipe trained on family B (null when the bound was not trained). */
  inFamily: CrossFamilyControl | null;
}

/** An ink model and the threshold chosen on its own validation fragment. */
export interface CrossFamilyModel {
  weights: string;
  threshold: number;
}

export interface CrossFamilyOptions {
  /** Folder for the scored family-B set (reused when its manifest exists). */
  data: string;
  size: number;
  seed: number;
  variants?: readonly FragmentVariant[];
  /** The family-A ink model and its family-A validation threshold. */
  model: CrossFamilyModel;
  /** The family-A validation fragment: the surface statistic's threshold is chosen there, as the model's was. */
  referenceFragment: string;
  /**
   * The in-family bound: `fragments` family-B fragments drawn into `data` (seeded apart from the scored set; all
   * but the last train, the last validates) and `train` fits the demo's recipe on them. Absent: no bound.
   */
  inFamily?: {
    data: string;
    fragments: number;
    train: (train: string[], val: string) => Promise<CrossFamilyModel>;
  };
  /**
   * Infers one fragment folder with `model` into `<predictions>/<id>_prob.png` and scores it at the model's
   * threshold (the demo's predictAndScore).
   */
  predict: (model: CrossFamilyModel, input: string, id: string) => Promise<ScoreResult>;
  predictions: string;
  intervals?: IntervalOptions;
  progress?: boolean;
  log?: (line: string) => void;
}

/** Reuses the family-B set in `data` when its manifest is complete, else draws it. */
async function familyBSet(
  data: string,
  o: { size: number; seed: number; fragments: number; variants?: readonly FragmentVariant[]; progress?: boolean },
): Promise<Manifest> {
  const manifestPath = join(data, 'manifest.json');
  const manifest: Manifest = existsSync(manifestPath)
    ? (JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest)
    : await synthesize({
        out: data,
        family: 'b',
        fragments: o.fragments,
        segments: 0,
        height: o.size,
        width: o.size,
        seed: o.seed,
        ...(o.variants ? { fragmentVariants: o.variants } : {}),
        ...(o.progress === undefined ? {} : { progress: o.progress }),
      });
  if (manifest.family !== 'b' || manifest.fragments.length !== o.fragments) {
    throw new Error(
      `crossFamily: ${manifestPath} holds ${manifest.fragments.length} fragment(s) of family '${manifest.family}', ` +
        `expected ${o.fragments} of family 'b'; delete the folder to redraw it`,
    );
  }
  return manifest;
}

/** Synthesises (or reuses) the family-B fragments, runs the model and the controls on each and scores the transfer. */
export async function runCrossFamily(
  o: CrossFamilyOptions,
): Promise<{ crossFamily: CrossFamily; comparison: StudyComparison }> {
  const variants = o.variants ?? CROSS_FAMILY_VARIANTS;
  const progress = o.progress === undefined ? {} : { progress: o.progress };
  const manifest = await familyBSet(o.data, {
    size: o.size,
    seed: o.seed,
    fragments: variants.length,
    variants,
    ...progress,
  });
  let bound: CrossFamilyModel | null = null;
  if (o.inFamily) {
    const n = o.inFamily.fragments;
    if (!(Number.isInteger(n) && n >= 2)) {
      throw new Error(`crossFamily: the in-family bound needs >= 2 fragments (train and validate), got ${n}`);
    }
    // Seeded apart from the scored set, so that no scored fragment is trained on.
    const set = await familyBSet(o.inFamily.data, { size: o.size, seed: o.seed + 1000, fragments: n, ...progress });
    const dirs = set.fragments.map((f) => join(o.inFamily!.data, f.path));
    o.log?.(`in-family bound: training the same recipe on ${n - 1} family-B fragment(s), validating on 1`);
    bound = await o.inFamily.train(dirs.slice(0, -1), dirs.at(-1)!);
  }
  const surfaceThreshold = await surfaceStatisticThreshold(o.referenceFragment);
  const runs: ArmRun[] = [];
  const boundRuns: ArmRun[] = [];
  const surfaceRuns: ArmRun[] = [];
  const fragments: CrossFamilyFragment[] = [];
  for (const [fold, f] of manifest.fragments.entries()) {
    const id = `family-b-${f.id}`;
    const input = join(o.data, f.path);
    const scored = await o.predict(o.model, input, id);
    const entry: CrossFamilyFragment = {
      id,
      bits: f.dtype === 'uint16' ? 16 : 8,
      papyrusSide: f.papyrusSide ?? 'after',
      reversed: f.reversed,
      auc: scored.auc,
      f05: scored.f05,
    };
    const labelled = await labelledPixels(input);
    runs.push(
      blockRun(
        await readProbabilityMap(join(o.predictions, `${id}_prob.png`), 'crossFamily'),
        labelled,
        o.model.threshold,
        fold,
      ),
    );
    if (bound) {
      const boundId = `${id}-in-family`;
      const s = await o.predict(bound, input, boundId);
      entry.inFamily = { auc: s.auc, f05: s.f05 };
      const pred = await readProbabilityMap(join(o.predictions, `${boundId}_prob.png`), 'crossFamily');
      boundRuns.push(blockRun(pred, labelled, bound.threshold, fold));
    }
    surfaceRuns.push(blockRun(await surfaceStatisticMap(input), labelled, surfaceThreshold, fold));
    fragments.push(entry);
    o.log?.(
      `family-B fragment ${f.id} (${f.dtype}, papyrus ${f.papyrusSide ?? '?'} the surface` +
        `${f.reversed ? ', stored reversed' : ''}): ` +
        `F0.5 ${scored.f05.toFixed(3)}, AUC ${scored.auc?.toFixed(3) ?? '-'}` +
        (entry.inFamily ? `; in-family bound AUC ${entry.inFamily.auc?.toFixed(3) ?? '-'}` : ''),
    );
  }
  const scores = armScores(runs, o.intervals);
  const arm = entryOf(
    'family-A ink model',
    scores,
    'no layer-order flag; threshold from the family-A validation fragment',
  );
  const chance = chanceEntry(scores);
  const surfaceScores = armScores(surfaceRuns, o.intervals);
  const surface = entryOf(
    'surface-statistic',
    surfaceScores,
    'surface-following 3-layer mean, 5x5 box; threshold from the family-A validation fragment',
  );
  const boundScores = bound ? armScores(boundRuns, o.intervals) : null;
  const controls = [chance, surface];
  if (boundScores) {
    controls.push(
      entryOf(
        'in-family',
        boundScores,
        `the same recipe trained on ${o.inFamily!.fragments - 1} other family-B fragment(s), threshold from a family-B validation fragment (the upper bound)`,
      ),
    );
  }
  const comparison: StudyComparison = {
    title: 'Cross-family transfer: family-A ink model on family-B fragments',
    protocol:
      `fine-tuned on family A, inferred with rot90+flips TTA on ${fragments.length} family-B fragments ` +
      '(both bit depths, papyrus on both sides, those with it before the surface stored reversed) at the family-A validation threshold',
    varies: 'nothing (one model per row); the interval is over 64-px blocks of each fragment',
    arms: [arm],
    controls,
    verdict: comparisonVerdict([arm], controls),
  };
  const control = (s: { auc: Interval; f05: Interval }, threshold: number, thresholdFrom: string) => ({
    auc: s.auc,
    f05: s.f05,
    threshold,
    thresholdFrom,
  });
  return {
    crossFamily: {
      trainFamily: 'a',
      scoreFamily: 'b',
      threshold: o.model.threshold,
      layerOrder: 'detected (no flag)',
      fragments,
      auc: scores.auc,
      f05: scores.f05,
      chanceF05: chance.f05.mean,
      surfaceStatistic: control(surfaceScores, surfaceThreshold, 'family-A validation fragment'),
      inFamily: boundScores && bound ? control(boundScores, bound.threshold, 'family-B validation fragment') : null,
    },
    comparison,
  };
}

interface LabelledPixels {
  fragment: string;
  width: number;
  height: number;
  labels: Uint8Array;
  mask: Uint8Array;
}

async function labelledPixels(fragment: string): Promise<LabelledPixels> {
  const [labels, mask] = await Promise.all([
    readBinaryMap(join(fragment, 'inklabels.png'), 'crossFamily (labels)'),
    readBinaryMap(join(fragment, 'mask.png'), 'crossFamily (mask)'),
  ]);
  if (labels.width !== mask.width || labels.height !== mask.height) {
    throw new Error(
      `crossFamily: ${fragment} has labels of ${labels.height}x${labels.width} and a mask of ${mask.height}x${mask.width}; expected the same size`,
    );
  }
  return { fragment, width: labels.width, height: labels.height, labels: labels.data, mask: mask.data };
}

/** A score map of a fragment as a study run: every masked pixel, grouped in BLOCK x BLOCK tiles. */
function blockRun(
  map: { width: number; height: number; data: Float32Array; path?: string },
  px: LabelledPixels,
  threshold: number,
  fold: number,
): ArmRun {
  const { width: W, height: H } = px;
  if (map.width !== W || map.height !== H) {
    throw new Error(
      `crossFamily: ${map.path ?? 'a score map'} is ${map.height}x${map.width} but the labels/mask of ${px.fragment} are ${H}x${W}; expected the same size`,
    );
  }
  const n = px.mask.reduce((a, v) => a + (v ? 1 : 0), 0);
  const run: ArmRun = {
    seed: 0,
    fold,
    threshold,
    scores: new Float32Array(n),
    labels: new Uint8Array(n),
    tileOf: new Int32Array(n),
  };
  const blocksPerRow = Math.ceil(W / BLOCK);
  let k = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!px.mask[i]) continue;
      run.scores[k] = map.data[i]!;
      run.labels[k] = px.labels[i]!;
      run.tileOf[k++] = Math.floor(y / BLOCK) * blocksPerRow + Math.floor(x / BLOCK);
    }
  }
  return run;
}

/**
 * The hand-made baseline over a whole fragment at full resolution: the surface-following 3-layer mean of a 5x5
 * box (src/data/synth/calibrate.ts) on the layers every reader takes, normalised and ordered as the ink model
 * reads them (DEFAULT_NORMALIZE, detected layer order), so that no knowledge of the family enters.
 */
async function surfaceStatisticMap(fragment: string): Promise<{ width: number; height: number; data: Float32Array }> {
  const [z0, z1] = SURFACE_Z_RANGE;
  const vol = await Volume.open(fragment, { z: [z0, z1], scale: 1, normalize: parseNormalizeSpec(DEFAULT_NORMALIZE) });
  try {
    const [D, H, W] = vol.shape;
    const { data } = await vol.readWindowNormalized(0, D, 0, H, 0, W);
    // The surface sits at layer 32 of 65 in canonical order (src/data/layout.ts): index 32 - z0 of the view.
    return { width: W, height: H, data: surfaceFollowingScore(data, D, H, W, { near: 32 - z0, window: 8 }) };
  } finally {
    await vol.close();
  }
}

/** The statistic's F0.5-best threshold on the family-A validation fragment, inside its mask. */
async function surfaceStatisticThreshold(fragment: string): Promise<number> {
  const map = await surfaceStatisticMap(fragment);
  const px = await labelledPixels(fragment);
  return bestThreshold(map.data, px.labels, px.mask).threshold;
}
