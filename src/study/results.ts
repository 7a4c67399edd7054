/**
 * results.json of a study folder: `{comparisons: StudyComparison[], curves: EfficiencyCurve[]}` (shapes in
 * ./comparison.ts and ./data-efficiency.ts), merged by title so several commands can add to one folder, written
 * atomically; and its validation for the report, with errors that name the file and the offending path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import type { StudyComparison, StudyEntry } from './comparison.js';

export interface CurvePoint {
  budget: string;
  auc: { mean: number; low: number; high: number };
  f05: { mean: number; low: number; high: number };
}

/** A data-efficiency curve: one series per encoder over the label budgets, and one verdict per budget. */
export interface EfficiencyCurve {
  title: string;
  budgets: string[];
  series: { label: string; points: CurvePoint[] }[];
  verdicts: { budget: string; verdict: string }[];
  varies: string;
}

export interface ResultsFile {
  comparisons: StudyComparison[];
  curves: EfficiencyCurve[];
}

function merge<T extends { title: string }>(into: T[], items: readonly T[]): void {
  for (const c of items) {
    const i = into.findIndex((x) => x.title === c.title);
    if (i >= 0) into[i] = c;
    else into.push(c);
  }
}

/** Adds (or replaces, by title) comparisons and curves in `<dir>/results.json`. */
export async function recordResults(dir: string, add: Partial<ResultsFile>): Promise<string> {
  const path = join(dir, 'results.json');
  const current: ResultsFile = existsSync(path)
    ? parseResultsFile(JSON.parse(readFileSync(path, 'utf8')), path)
    : { comparisons: [], curves: [] };
  merge(current.comparisons, add.comparisons ?? []);
  merge(current.curves, add.curves ?? []);
  await writeFileAtomic(path, JSON.stringify(current, null, 1) + '\n');
  return path;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkInterval(v: unknown, where: string): void {
  if (!isObject(v) || !['mean', 'low', 'high'].every((k) => typeof v[k] === 'number' || v[k] === null)) {
    throw new Error(`${where}: expected {mean, low, high} numbers`);
  }
}

function checkEntry(e: unknown, where: string): StudyEntry {
  if (!isObject(e) || typeof e['label'] !== 'string') {
    throw new Error(`${where}: expected an object with a string 'label'`);
  }
  checkInterval(e['auc'], `${where}.auc`);
  checkInterval(e['f05'], `${where}.f05`);
  return e as unknown as StudyEntry;
}

/** Validates parsed results.json content. */
export function parseResultsFile(j: unknown, path: string): ResultsFile {
  if (!isObject(j) || !Array.isArray(j['comparisons'])) throw new Error(`${path}: expected {"comparisons": [...]}`);
  const comparisons = j['comparisons'].map((c: unknown, i: number) => {
    const where = `${path}: comparisons[${i}]`;
    if (!isObject(c) || typeof c['title'] !== 'string') {
      throw new Error(`${where}: expected an object with a string 'title'`);
    }
    if (!Array.isArray(c['arms']) || !Array.isArray(c['controls'])) {
      throw new Error(`${where}: expected 'arms' and 'controls' arrays`);
    }
    c['arms'].forEach((e: unknown, k: number) => checkEntry(e, `${where}.arms[${k}]`));
    c['controls'].forEach((e: unknown, k: number) => checkEntry(e, `${where}.controls[${k}]`));
    return c as unknown as StudyComparison;
  });
  const curves = Array.isArray(j['curves'])
    ? j['curves'].map((c: unknown, i: number) => {
        if (!isObject(c) || !Array.isArray(c['series']) || !Array.isArray(c['budgets'])) {
          throw new Error(`${path}: curves[${i}]: expected {title, budgets, series, verdicts}`);
        }
        return c as unknown as EfficiencyCurve;
      })
    : [];
  return { comparisons, curves };
}
