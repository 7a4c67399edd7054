/**
 * The demo's presets: how large each stage of the study is. 'default' targets <= 15 minutes on 2 idle cores
 * (docs/demo-budget.md) and varies the pretraining run with the seed in every arm (3 pretraining seeds);
 * 'full' adds masked-reconstruction pretraining, longer training and 3 seeds everywhere; 'tiny' is a smoke run
 * for tests.
 */
import type { StageName } from '../models/resnet3d.js';

export type DemoPreset = 'default' | 'full' | 'tiny';

export interface DemoScale {
  size: number;
  /** Labelled fragments: fine-tuning trains on all but the last two, validates on the next, tests on the last. */
  fragments: number;
  /**
   * Unlabelled segments: read at x0.5 (the fragments' scale), a 512-px segment gives ~40 tiles of 64 px at
   * stride 16, so 8 fill `maxPretrainTiles` 320 (5 VICReg batches of 64 an epoch).
   */
  segments: number;
  tile: number;
  depth: number;
  /** Side of the family-B fragments the cross-family transfer is scored on. */
  crossSize: number;
  /** Family-B fragments the in-family bound of the transfer is trained (all but one) and validated (one) on. */
  inFamilyFragments: number;
  widen: number;
  erode: number;
  pretrainEpochs: number;
  /** Independent pretraining runs (seeds); arm seed s probes pretraining run s mod this. */
  pretrainSeeds: number;
  /** VICReg batch: with a 64-d embedding, a batch of 64 gives the covariance term (nearly) full rank. */
  pretrainBatch: number;
  maxPretrainTiles: number;
  masked: boolean;
  /**
   * CKA tiles from the first segment: a 512-px segment read at x0.5 holds ~42 distinct 64-px tiles inside its
   * eroded mask at stride 16, so at most 40.
   */
  ckaSamples: number;
  /**
   * Fine-tuning epochs of the ink model (and of the cross-family bound): at 16 the family-A validation AUC was
   * still rising (0.918 -> 0.973 at 32 on fragment 6; docs/study-design.md).
   */
  finetuneEpochs: number;
  /**
   * Tiles per fine-tuning epoch (a seeded subset): tiles that straddle the mask border make ~4x the interior ones
   * of a 512-px fragment at stride 16, and 144 keeps an epoch at the interior tiles' count.
   */
  finetuneTiles: number;
  /** Linear probes: stages concatenated, seeds, tiles per fragment, pixels per tile, L-BFGS iterations. */
  probeStages: StageName[];
  probeSeeds: number;
  probeTiles: number;
  probePixels: number;
  probeIter: number;
  /** The reference study's protocol (frozen encoder + U-Net decoder): seeds and epochs (0 seeds: skipped). */
  refSeeds: number;
  refEpochs: number;
  /** Data efficiency: seeds, epochs at 'epoch tiles' tiles per epoch (0 seeds: skipped). */
  effSeeds: number;
  effEpochs: number;
  effEpochTiles: number;
  effBatch: number;
  resamples: number;
}

export const SCALES: Record<DemoPreset, DemoScale> = {
  default: {
    size: 512,
    fragments: 7,
    segments: 8,
    tile: 64,
    depth: 16,
    crossSize: 512,
    inFamilyFragments: 6,
    widen: 0.25,
    erode: 16,
    pretrainEpochs: 12,
    pretrainSeeds: 3,
    pretrainBatch: 64,
    maxPretrainTiles: 320,
    masked: false,
    ckaSamples: 40,
    finetuneEpochs: 32,
    finetuneTiles: 144,
    probeStages: ['stem', 'layer1', 'layer2'],
    probeSeeds: 3,
    probeTiles: 12,
    probePixels: 128,
    probeIter: 100,
    refSeeds: 2,
    refEpochs: 20,
    effSeeds: 2,
    effEpochs: 10,
    effEpochTiles: 128,
    effBatch: 16,
    resamples: 1000,
  },
  full: {
    size: 512,
    fragments: 7,
    segments: 10,
    tile: 64,
    depth: 16,
    crossSize: 512,
    inFamilyFragments: 6,
    widen: 0.25,
    erode: 16,
    pretrainEpochs: 16,
    pretrainSeeds: 3,
    pretrainBatch: 64,
    maxPretrainTiles: 384,
    masked: true,
    ckaSamples: 40,
    finetuneEpochs: 48,
    finetuneTiles: 144,
    probeStages: ['stem', 'layer1', 'layer2'],
    probeSeeds: 3,
    probeTiles: 16,
    probePixels: 192,
    probeIter: 150,
    refSeeds: 3,
    refEpochs: 30,
    effSeeds: 3,
    effEpochs: 16,
    effEpochTiles: 144,
    effBatch: 16,
    resamples: 2000,
  },
  tiny: {
    size: 384,
    fragments: 5,
    segments: 2,
    tile: 32,
    depth: 8,
    crossSize: 192,
    inFamilyFragments: 3,
    widen: 0.125,
    erode: 4,
    pretrainEpochs: 2,
    pretrainSeeds: 1,
    pretrainBatch: 16,
    maxPretrainTiles: 16,
    masked: false,
    ckaSamples: 8,
    finetuneEpochs: 1,
    finetuneTiles: 32,
    probeStages: ['stem', 'layer1'],
    probeSeeds: 2,
    probeTiles: 4,
    probePixels: 32,
    probeIter: 20,
    refSeeds: 1,
    refEpochs: 1,
    effSeeds: 1,
    effEpochs: 1,
    effEpochTiles: 8,
    effBatch: 4,
    resamples: 200,
  },
};
