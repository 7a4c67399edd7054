/**
 * Cross-family transfer: the demo's ink model, trained on family-A fragments only, run as a user
 * would run `inkwell infer` (rot90+flips TTA, no layer-order flag: Volume.open detects the order from the
 * density profile, src/data/layer-order.ts) on family-B fragments (docs/synthetic-data.md) drawn to cover
 * both bit depths and both sides of the papyrus, one of them stored in reverse order. It is scored at the
 * threshold chosen on the family-A validation fragment; nothing of family B reaches training or selection.
 * The interval is the study's bootstrap (src/study/scoring.ts) over 64-px blocks of each fragment, the
 * fragments being the folds.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { synthesize, type FragmentVariant, type Manifest } from '../data/synth/write.js';
import type { ScoreResult } from '../eval/metrics.js';
import { readBinaryMap, readProbabilityMap } from '../eval/score-images.js';
import { chanceEntry, comparisonVerdict, entryOf, type StudyComparison } from '../study/comparison.js';
import { armScores, type ArmRun, type IntervalOptions } from '../study/scoring.js';
import type { Interval } from '../util/stats.js';

/** Two fragments: 8-bit with the papyrus after the surface, 16-bit with it before (stored reversed). */
export const CROSS_FAMILY_VARIANTS: readonly FragmentVariant[] = [
  { bits: 8, papyrusSide: 'after' },
  { bits: 16, papyrusSide: 'before' },
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
}

export interface CrossFamilyOptions {
  /** Folder for the family-B set (reused when its manifest exists). */
  data: string;
  size: number;
  seed: number;
  variants?: readonly FragmentVariant[];
  threshold: number;
  /** Infers one fragment folder into `<predictions>/<id>_prob.png` and scores it (the demo's predictAndScore). */
  predict: (input: string, id: string) => Promise<ScoreResult>;
  predictions: string;
  intervals?: IntervalOptions;
  progress?: boolean;
  log?: (line: string) => void;
}

/** Synthesises (or reuses) the family-B fragments, runs the model on each and scores the transfer. */
export async function runCrossFamily(
  o: CrossFamilyOptions,
): Promise<{ crossFamily: CrossFamily; comparison: StudyComparison }> {
  const variants = o.variants ?? CROSS_FAMILY_VARIANTS;
  const manifestPath = join(o.data, 'manifest.json');
  const manifest: Manifest = existsSync(manifestPath)
    ? (JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest)
    : await synthesize({
        out: o.data,
        family: 'b',
        fragments: variants.length,
        segments: 0,
        height: o.size,
        width: o.size,
        seed: o.seed,
        fragmentVariants: variants,
        ...(o.progress === undefined ? {} : { progress: o.progress }),
      });
  if (manifest.family !== 'b' || manifest.fragments.length === 0) {
    throw new Error(
      `crossFamily: ${manifestPath} holds no family-B fragments (family '${manifest.family}'); ` +
        'delete the folder to redraw it',
    );
  }
  const runs: ArmRun[] = [];
  const fragments: CrossFamilyFragment[] = [];
  for (const [fold, f] of manifest.fragments.entries()) {
    const id = `family-b-${f.id}`;
    const input = join(o.data, f.path);
    const scored = await o.predict(input, id);
    fragments.push({
      id,
      bits: f.dtype === 'uint16' ? 16 : 8,
      papyrusSide: f.papyrusSide ?? 'after',
      reversed: f.reversed,
      auc: scored.auc,
      f05: scored.f05,
    });
    o.log?.(
      `family-B fragment ${f.id} (${f.dtype}, papyrus ${f.papyrusSide ?? '?'} the surface` +
        `${f.reversed ? ', stored reversed' : ''}): ` +
        `F0.5 ${scored.f05.toFixed(3)}, AUC ${scored.auc?.toFixed(3) ?? '-'}`,
    );
    runs.push(await blockRun(join(o.predictions, `${id}_prob.png`), input, o.threshold, fold));
  }
  const scores = armScores(runs, o.intervals);
  const arm = entryOf(
    'family-A ink model',
    scores,
    'no layer-order flag; threshold from the family-A validation fragment',
  );
  const chance = chanceEntry(scores);
  const comparison: StudyComparison = {
    title: 'Cross-family transfer: family-A ink model on family-B fragments',
    protocol:
      `fine-tuned on family A, inferred with rot90+flips TTA on ${fragments.length} family-B fragments ` +
      '(both bit depths, papyrus on both sides, one stored reversed) at the family-A validation threshold',
    varies: 'nothing (one model); the interval is over 64-px blocks of each fragment',
    arms: [arm],
    controls: [chance],
    verdict: comparisonVerdict([arm], [chance]),
  };
  return {
    crossFamily: {
      trainFamily: 'a',
      scoreFamily: 'b',
      threshold: o.threshold,
      layerOrder: 'detected (no flag)',
      fragments,
      auc: scores.auc,
      f05: scores.f05,
      chanceF05: chance.f05.mean,
    },
    comparison,
  };
}

/** A prediction image as a study run: every masked pixel, grouped in BLOCK x BLOCK tiles. */
async function blockRun(pred: string, fragment: string, threshold: number, fold: number): Promise<ArmRun> {
  const [p, labels, mask] = await Promise.all([
    readProbabilityMap(pred, 'crossFamily (prediction)'),
    readBinaryMap(join(fragment, 'inklabels.png'), 'crossFamily (labels)'),
    readBinaryMap(join(fragment, 'mask.png'), 'crossFamily (mask)'),
  ]);
  const { width: W, height: H } = p;
  if (labels.width !== W || labels.height !== H || mask.width !== W || mask.height !== H) {
    throw new Error(
      `crossFamily: ${pred} is ${H}x${W} but the labels/mask of ${fragment} are ` +
        `${labels.height}x${labels.width}/${mask.height}x${mask.width}; expected the same size`,
    );
  }
  const n = mask.data.reduce((a, v) => a + (v ? 1 : 0), 0);
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
      if (!mask.data[i]) continue;
      run.scores[k] = p.data[i]!;
      run.labels[k] = labels.data[i]!;
      run.tileOf[k++] = Math.floor(y / BLOCK) * blocksPerRow + Math.floor(x / BLOCK);
    }
  }
  return run;
}
