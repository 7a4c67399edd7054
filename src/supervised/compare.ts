/**
 * "Does pretraining help?" as numbers: the same supervised protocol repeated for several encoders (random
 * init, pretraining checkpoints, external Kinetics weights) and seeds, summarised as mean +- std tables in
 * `results.json` ({comparisons: [{title, rows: [{encoder, seeds, f05, auc, precision, recall}], note}]}),
 * the file `inkwell report` renders.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { summarize } from '../util/stats.js';
import { comparisonVerdict } from '../report/report.js';
import type { SupervisedConfig } from './config.js';
import { trainSupervised, type SupervisedOptions, type ValidationScores } from './trainer.js';

export interface EncoderChoice {
  /** Row label, e.g. 'random', 'vicreg epoch 4', 'kinetics-700'. */
  label: string;
  /** Weights file, or null for random initialisation. */
  weights: string | null;
}

export interface ComparisonRow {
  encoder: string;
  seeds: number[];
  f05: number[];
  auc: number[];
  precision: number[];
  recall: number[];
  /** Checkpoint of each seed's run (the last epoch). */
  checkpoints: string[];
}

export interface Comparison {
  title: string;
  rows: ComparisonRow[];
  note?: string;
}

export interface ResultsFile {
  comparisons: Comparison[];
}

/** `label=path`, a bare path (labelled by its file name) or 'random'. */
export function parseEncoderChoice(text: string): EncoderChoice {
  if (text === 'random') return { label: 'random', weights: null };
  const eq = text.indexOf('=');
  if (eq > 0) {
    const weights = text.slice(eq + 1);
    return { label: text.slice(0, eq), weights: weights === 'random' ? null : weights };
  }
  return { label: text.split('/').at(-1)!.replace(/\.(pth|pt|ckpt|safetensors)$/, ''), weights: text };
}

/** Runs `base` once per encoder and seed (run folders `<base.name>/<label>-seed<s>`) and tabulates the validation scores. */
export async function compareEncoders(base: SupervisedConfig, encoders: readonly EncoderChoice[], seeds: readonly number[], title: string, opts: SupervisedOptions = {}): Promise<Comparison> {
  if (encoders.length === 0) throw new Error('compareEncoders: no encoders given');
  if (base.data.val.length === 0) throw new Error('compareEncoders: the protocol has no validation data (data.val)');
  const rows: ComparisonRow[] = [];
  for (const enc of encoders) {
    const row: ComparisonRow = { encoder: enc.label, seeds: [], f05: [], auc: [], precision: [], recall: [], checkpoints: [] };
    for (const seed of seeds) {
      const cfg: SupervisedConfig = {
        ...base, seed, out: join(base.out, base.name), name: `${enc.label.replace(/[^\w.-]+/g, '_')}-seed${seed}`,
        encoder: { ...base.encoder, weights: enc.weights },
      };
      const r = await trainSupervised(cfg, opts);
      const v: ValidationScores | null = r.final;
      if (!v) throw new Error(`compareEncoders: ${cfg.name} produced no validation scores`);
      row.seeds.push(seed);
      row.f05.push(v.f05);
      row.auc.push(v.auc ?? Number.NaN);
      row.precision.push(v.precision);
      row.recall.push(v.recall);
      row.checkpoints.push(r.lastCheckpoint ?? '');
    }
    rows.push(row);
  }
  return { title, rows };
}

/** The report's verdict on a table: best row by mean F0.5 and whether its lead exceeds the seed-to-seed spread. */
export function verdict(c: Comparison): string {
  return comparisonVerdict(c).text;
}

/** Adds (or replaces, by title) comparisons in `<dir>/results.json`, atomically. */
export async function recordComparisons(dir: string, comparisons: readonly Comparison[]): Promise<string> {
  const path = join(dir, 'results.json');
  const current: ResultsFile = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as ResultsFile : { comparisons: [] };
  for (const c of comparisons) {
    const i = current.comparisons.findIndex((x) => x.title === c.title);
    const withNote = { ...c, note: c.note ?? verdict(c) };
    if (i >= 0) current.comparisons[i] = withNote;
    else current.comparisons.push(withNote);
  }
  await writeFileAtomic(path, JSON.stringify(current, null, 1) + '\n');
  return path;
}

/** The table as text: encoder, F0.5, AUC, precision, recall (mean +- std). */
export function formatComparison(c: Comparison): string {
  const cell = (xs: number[]) => {
    const { n, mean, std } = summarize(xs);
    return n > 1 ? `${mean.toFixed(3)} +- ${std.toFixed(3)}` : mean.toFixed(3);
  };
  const rows = c.rows.map((r) => [r.encoder, cell(r.f05), cell(r.auc), cell(r.precision), cell(r.recall)]);
  const head = ['encoder', 'F0.5', 'AUC', 'precision', 'recall'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => x.padEnd(widths[i]!)).join('  ');
  return [c.title, line(head), ...rows.map(line), c.note ?? verdict(c)].join('\n');
}
