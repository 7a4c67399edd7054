/**
 * Tables of trained segmentation models (docs/study-design.md): the reference study's protocol (frozen encoder
 * + full U-Net decoder; its random-encoder row shows what the decoder learns alone) and the data-efficiency
 * curve (full fine-tuning from each encoder at several label budgets; pretraining is expected to matter most
 * where labels are scarce, as the SimCLR, BYOL and VICReg papers' 1% and 10% label experiments show). Every
 * model is scored on one held-out fragment at a threshold chosen on another, with the probe study's controls
 * for that fragment.
 */
import { loadTileSet, type TileDatasetSpec } from '../data/dataset-tile-source.js';
import { trainPerEncoder, type EncoderChoice, type EncoderRun } from '../supervised/compare.js';
import type { SupervisedConfig } from '../supervised/config.js';
import type { SupervisedOptions } from '../supervised/trainer.js';
import type { Device } from '../torch/index.js';
import type { ProbeTiles } from './columns.js';
import { comparisonVerdict, entryOf, type StudyComparison, type StudyEntry } from './comparison.js';
import { controlsOn } from './probe-study.js';
import type { EfficiencyCurve } from './results.js';
import { type ArmRun, type ArmScores, armScores, type IntervalOptions } from './scoring.js';
import { segmentationRun } from './segmentation-scores.js';

export interface ScoredFragment {
  /** Threshold fragment and scored fragment (cached tiles), and the scored fragment's fold index in the probe study. */
  val: ProbeTiles;
  test: ProbeTiles;
  fold: number;
  /** The probe study's runs, for the controls on this fold. */
  probeRuns: ReadonlyMap<string, ArmRun[]>;
  intervals?: IntervalOptions;
  /** Where the trained models run to be scored (default cpu). */
  device?: Device;
}

/** Scores trained runs (several seeds per encoder) on the held-out fragment as one table. */
export async function segmentationTable(
  title: string,
  protocol: string,
  varies: string,
  runs: readonly EncoderRun[],
  s: ScoredFragment,
): Promise<StudyComparison> {
  const labels = [...new Set(runs.map((r) => r.encoder))];
  const arms: StudyEntry[] = [];
  let reference: ArmScores | null = null;
  for (const label of labels) {
    const armRuns: ArmRun[] = [];
    for (const r of runs.filter((x) => x.encoder === label))
      armRuns.push(await segmentationRun(r.checkpoint, s.val, s.test, r.seed, s.fold, s.device));
    const scores = armScores(armRuns, s.intervals);
    reference ??= scores;
    arms.push(entryOf(label, scores));
  }
  if (!reference) throw new Error(`segmentationTable(${title}): no runs`);
  const controls = controlsOn(s.probeRuns, [s.fold], reference, s.intervals);
  return { title, protocol, varies, arms, controls, verdict: comparisonVerdict(arms, controls) };
}

export interface Budget {
  label: string;
  train: TileDatasetSpec[];
}

export interface EfficiencyOptions {
  /** The fine-tuning config for a budget (name and train set filled in per budget). */
  base: (budget: Budget) => SupervisedConfig | Promise<SupervisedConfig>;
  budgets: readonly Budget[];
  encoders: readonly EncoderChoice[];
  seeds: readonly number[];
  /** Per-seed weights (e.g. that seed's pretraining run). */
  weightsFor?: (e: EncoderChoice, seed: number) => string | null;
  varies: string;
  scored: ScoredFragment;
  train?: SupervisedOptions;
  log?: (line: string) => void;
}

/** Fine-tunes every encoder at every budget and seed; one table per budget and the curve across them. */
export async function runDataEfficiency(
  o: EfficiencyOptions,
): Promise<{ comparisons: StudyComparison[]; curve: EfficiencyCurve }> {
  const comparisons: StudyComparison[] = [];
  for (const budget of o.budgets) {
    o.log?.(`data efficiency: budget '${budget.label}'`);
    const runs = await trainPerEncoder(await o.base(budget), o.encoders, o.seeds, o.train ?? {}, o.weightsFor);
    comparisons.push(
      await segmentationTable(
        `Data efficiency: fine-tuning with ${budget.label}`,
        `full fine-tuning (U-Net decoder) on ${budget.label}; threshold on one held-out fragment, scored on another`,
        o.varies,
        runs,
        o.scored,
      ),
    );
  }
  const labels = o.encoders.map((e) => e.label);
  const curve: EfficiencyCurve = {
    title: 'Data efficiency: held-out AUC against label budget',
    budgets: o.budgets.map((b) => b.label),
    varies: o.varies,
    series: labels.map((label) => ({
      label,
      points: comparisons.map((c, i) => {
        const e = c.arms.find((a) => a.label === label)!;
        return { budget: o.budgets[i]!.label, auc: e.auc, f05: e.f05 };
      }),
    })),
    verdicts: comparisons.map((c, i) => ({ budget: o.budgets[i]!.label, verdict: c.verdict })),
  };
  return { comparisons, curve };
}

/**
 * Epochs that give a budget the same number of optimiser steps as `epochs` epochs of `epochTiles` tiles: a
 * smaller budget repeats its tiles, so the curve compares label budgets, not training lengths.
 */
export async function epochsForBudget(
  train: TileDatasetSpec[],
  o: {
    tile: number;
    stride: number;
    erode: number;
    minMaskFraction?: number;
    depth: number;
    epochs: number;
    epochTiles: number;
  },
): Promise<number> {
  const { tiles } = await loadTileSet({
    datasets: train,
    tile: o.tile,
    stride: o.stride,
    erode: o.erode,
    ...(o.minMaskFraction === undefined ? {} : { minMaskFraction: o.minMaskFraction }),
    depth: o.depth,
    augment: null,
    views: 1,
  });
  return Math.ceil((o.epochs * o.epochTiles) / Math.min(tiles.length, o.epochTiles));
}
