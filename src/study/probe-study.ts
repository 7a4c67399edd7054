/**
 * The frozen-encoder linear-probe study (docs/study-design.md): leave-one-fragment-out over the labelled
 * fragments (fold k scores fragment k, chooses its weight decay and threshold on fragment k+1, trains on the
 * rest), every encoder's columns computed once per seed, and the controls computed on the same pixels:
 * chance, the hand-made surface statistic (fitted the same way on the same folds) and the probe on a
 * fine-tuned encoder (scored only on fragments its fine-tuning did not train on).
 */
import { bestThreshold } from '../eval/metrics.js';
import { surfaceFollowingScore } from '../data/synth/calibrate.js';
import type { ResNet3D, StageName } from '../models/resnet3d.js';
import type { Device } from '../torch/index.js';
import type { Columns, ProbeTiles } from './columns.js';
import { extractColumns, pixelRows } from './columns.js';
import { chanceEntry, comparisonVerdict, entryOf, type StudyComparison, type StudyEntry } from './comparison.js';
import { fitLinearProbe, predictProbe, type Readout } from './linear-probe.js';
import { armScores, type ArmRun, type ArmScores, type IntervalOptions } from './scoring.js';

export interface ProbeEncoder {
  label: string;
  /** 'arm' is compared; 'fine-tuned-frozen' is the upper-bound control. */
  role: 'arm' | 'fine-tuned-frozen';
  /** The frozen encoder of one seed (random init drawn from it, or that seed's pretraining); disposed after use. */
  build(seed: number): Promise<ResNet3D>;
  /** Folds (fragment indices) this encoder may be scored on; all when absent. */
  folds?: readonly number[];
}

export interface ProbeStudyOptions {
  title: string;
  fragments: readonly ProbeTiles[];
  encoders: readonly ProbeEncoder[];
  seeds: readonly number[];
  stages: readonly StageName[];
  readout: Readout;
  weightDecays?: readonly number[];
  maxIter?: number;
  /** Exactly what the seeds vary (for the report). */
  varies: string;
  intervals?: IntervalOptions;
  log?: (line: string) => void;
  /** Where the frozen encoders compute their features (default cpu); the probes themselves fit on the CPU. */
  device?: Device;
}

/** Train, validation and test fragment indices of fold k. */
export function foldSplit(k: number, n: number): { train: number[]; val: number; test: number } {
  if (n < 3) {
    throw new Error(`foldSplit: leave-one-fragment-out with a validation fragment needs >= 3 fragments, got ${n}`);
  }
  const val = (k + 1) % n;
  return { train: Array.from({ length: n }, (_, i) => i).filter((i) => i !== k && i !== val), val, test: k };
}

function concatColumns(parts: readonly Columns[]): Columns {
  const first = parts[0]!;
  const count = parts.reduce((a, p) => a + p.count, 0);
  const data = new Float32Array(count * first.channels * first.depth);
  const labels = new Uint8Array(count);
  const tileOf = new Int32Array(count);
  let o = 0;
  let tileBase = 0;
  for (const p of parts) {
    data.set(p.data, o * first.channels * first.depth);
    labels.set(p.labels, o);
    for (let i = 0; i < p.count; i++) tileOf[o + i] = p.tileOf[i]! + tileBase;
    tileBase += Math.max(0, ...p.tileOf) + 1;
    o += p.count;
  }
  return { data, count, channels: first.channels, depth: first.depth, labels, tileOf };
}

/** One fold: fit on train, weight decay and threshold from val, scores on test. */
function runFold(cols: readonly Columns[], k: number, seed: number, readout: Readout, o: ProbeStudyOptions): ArmRun {
  const split = foldSplit(k, cols.length);
  const probe = fitLinearProbe(concatColumns(split.train.map((i) => cols[i]!)), cols[split.val]!, {
    readout,
    ...(o.weightDecays ? { weightDecays: o.weightDecays } : {}),
    ...(o.maxIter ? { maxIter: o.maxIter } : {}),
  });
  const val = cols[split.val]!;
  const threshold = bestThreshold(predictProbe(probe, val), val.labels).threshold;
  const test = cols[k]!;
  return { seed, fold: k, scores: predictProbe(probe, test), labels: test.labels, tileOf: test.tileOf, threshold };
}

/**
 * The surface statistic's columns: per sampled pixel, the surface-following 3-layer mean of a 5x5 box
 * (src/data/synth/calibrate.ts) for both layer orders, as two channels of depth 1, so that the same logistic
 * fit picks order, sign and scale on training fragments only.
 */
export function surfaceColumns(tiles: ProbeTiles): Columns {
  const { depth: D, tile: T } = tiles;
  const { count, labels, tileOf, firstRow } = pixelRows(tiles);
  const data = new Float32Array(count * 2);
  tiles.images.forEach((img, t) => {
    const opts = { near: D >> 1, window: Math.max(1, (D >> 1) - 1) };
    const fwd = surfaceFollowingScore(img, D, T, T, opts);
    const rev = surfaceFollowingScore(img, D, T, T, { ...opts, reversed: true });
    const px = tiles.pixels[t]!;
    const row = firstRow[t]!;
    for (let k = 0; k < px.length; k++) {
      data[(row + k) * 2] = fwd[px[k]!]!;
      data[(row + k) * 2 + 1] = rev[px[k]!]!;
    }
  });
  return { data, count, channels: 2, depth: 1, labels, tileOf };
}

export interface ProbeStudyResult {
  comparison: StudyComparison;
  /** Every run by label: the arms, 'surface-statistic' and 'fine-tuned-frozen', for tables on fewer folds. */
  runs: Map<string, ArmRun[]>;
}

/**
 * The controls of a table that scores `folds` only: chance on the pixels `reference` scored, and the surface
 * statistic and fine-tuned-frozen probe runs of those folds.
 */
export function controlsOn(
  runs: ReadonlyMap<string, ArmRun[]>,
  folds: readonly number[],
  reference: ArmScores,
  intervals?: IntervalOptions,
): StudyEntry[] {
  const out = [chanceEntry(reference)];
  for (const [label, note] of CONTROL_NOTES) {
    const picked = (runs.get(label) ?? []).filter((r) => folds.includes(r.fold));
    if (picked.length) out.push(entryOf(label, armScores(picked, intervals), note));
  }
  return out;
}

const CONTROL_NOTES: readonly [string, string][] = [
  [
    'surface-statistic',
    'surface-following 3-layer mean, 5x5 box; order, sign and threshold fitted off the scored fragment',
  ],
  [
    'fine-tuned-frozen',
    'linear probe on the frozen fine-tuned encoder, scored only on fragments its fine-tuning did not train on',
  ],
];

export async function runProbeStudy(o: ProbeStudyOptions): Promise<ProbeStudyResult> {
  const log = o.log ?? (() => undefined);
  const n = o.fragments.length;
  const allFolds = Array.from({ length: n }, (_, i) => i);
  const arms: StudyEntry[] = [];
  const runs = new Map<string, ArmRun[]>();
  let reference: ArmScores | null = null;
  for (const enc of o.encoders) {
    const encRuns: ArmRun[] = [];
    const folds = enc.folds ?? allFolds;
    for (const seed of o.seeds) {
      const encoder = await enc.build(seed);
      let cols: Columns[];
      try {
        cols = o.fragments.map((f) => extractColumns(encoder, f, o.stages, { device: o.device ?? 'cpu' }));
      } finally {
        encoder.dispose();
      }
      for (const k of folds) encRuns.push(runFold(cols, k, seed, o.readout, o));
      log(`probe ${enc.label} seed ${seed}: ${folds.length} fold(s)`);
    }
    runs.set(enc.role === 'arm' ? enc.label : 'fine-tuned-frozen', encRuns);
    if (enc.role === 'arm') {
      const scores = armScores(encRuns, o.intervals);
      arms.push(entryOf(enc.label, scores));
      reference ??= scores;
    }
  }
  if (!reference) throw new Error('runProbeStudy: no encoder with role "arm"');
  const surface = o.fragments.map(surfaceColumns);
  runs.set(
    'surface-statistic',
    allFolds.map((k) => runFold(surface, k, o.seeds[0]!, 'mean', o)),
  );
  const upperFolds = o.encoders.find((e) => e.role === 'fine-tuned-frozen')?.folds ?? allFolds;
  const controls = controlsOn(runs, allFolds, reference, o.intervals).map((c) =>
    c.label === 'fine-tuned-frozen'
      ? { ...c, note: `${c.note} (fragment(s) ${upperFolds.map((k) => k + 1).join(', ')})` }
      : c,
  );
  const comparison: StudyComparison = {
    title: o.title,
    protocol: `linear probe on frozen ${o.stages.join('+')} features, ${o.readout} over depth, leave-one-fragment-out over ${n} fragments`,
    varies: o.varies,
    arms,
    controls,
    verdict: comparisonVerdict(arms, controls),
  };
  return { comparison, runs };
}
