/**
 * Prediction, label and mask images for scoring, decoded with the data readers (src/data/io/image.ts, sharp):
 * predictions become probabilities (8-bit / 255, 16-bit / 65535, rounded to float32), labels and masks 0/1 (> 0).
 */
import { decodeBinary, decodeGrey } from '../data/io/image.js';
import { scoreMapsDetailed, type ScoreOptions, type ScoreReport } from './metrics.js';

export interface ProbabilityMap {
  path: string;
  width: number;
  height: number;
  bits: 8 | 16;
  data: Float32Array;
}

export interface BinaryMap {
  path: string;
  width: number;
  height: number;
  data: Uint8Array;
}

/** A grey 8- or 16-bit image as probabilities: value / 255 or value / 65535. */
export async function readProbabilityMap(path: string, op = 'readProbabilityMap'): Promise<ProbabilityMap> {
  const img = await decodeGrey(path, op);
  const scale = img.bits === 16 ? 65535 : 255;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i]! / scale;
  return { path, width: img.width, height: img.height, bits: img.bits, data };
}

/** A label or mask image as 0/1 (set where the grey value is > 0). */
export async function readBinaryMap(path: string, op = 'readBinaryMap'): Promise<BinaryMap> {
  const img = await decodeBinary(path, op);
  return { path, width: img.width, height: img.height, data: img.data };
}

function sameSize(
  op: string,
  a: { path: string; width: number; height: number },
  b: { path: string; width: number; height: number },
  what: string,
): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(
      `${op}: ${what} ${b.path} is ${b.height}x${b.width} (HxW) but the prediction ${a.path} is ${a.height}x${a.width}; expected images of the same size`,
    );
  }
}

export interface ScoreFilesReport extends ScoreReport {
  width: number;
  height: number;
  bits: 8 | 16;
}

/** Reads a prediction PNG, its labels and an optional mask, checks that their sizes agree, and scores them (scoreMaps). */
export async function scoreImageFiles(
  files: { pred: string; labels: string; mask?: string },
  opts: ScoreOptions = {},
): Promise<ScoreFilesReport> {
  const op = 'score';
  const [pred, labels, mask] = await Promise.all([
    readProbabilityMap(files.pred, `${op} (prediction)`),
    readBinaryMap(files.labels, `${op} (labels)`),
    files.mask === undefined ? Promise.resolve(null) : readBinaryMap(files.mask, `${op} (mask)`),
  ]);
  sameSize(op, pred, labels, 'labels');
  if (mask !== null) sameSize(op, pred, mask, 'mask');
  const report = scoreMapsDetailed(pred.data, labels.data, mask?.data ?? null, pred.width, pred.height, opts);
  if (report.counts.positives === 0 && opts.bestThreshold) {
    // Every threshold gives F0.5 = 0 without ink: "maximising" it picks an arbitrary number.
    const why = noInkMessage(files, report.counts.pixels);
    throw new Error(`${op}: ${why}; there is no best threshold to choose, expected labels with ink`);
  }
  return { ...report, width: pred.width, height: pred.height, bits: pred.bits };
}

/** What `score` says when the evaluated pixels hold no ink label. */
export function noInkMessage(files: { labels: string; mask?: string }, pixels: number): string {
  const inside = files.mask !== undefined ? ` inside ${files.mask}` : '';
  return `the labels ${files.labels} hold no ink (no pixel > 0) among the ${pixels} evaluated pixels${inside}`;
}
