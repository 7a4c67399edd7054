/**
 * `inkwell report`: one self-contained HTML page per run folder (or per folder of runs) that answers "did
 * pretraining help?" with numbers and pictures. Everything is inline: images as data: URIs (downscaled with
 * sharp to fit 1024 x 1024), charts as SVG, CSS in a <style> block; a Content-Security-Policy forbids any
 * network access and scripts. Every string read from a file is HTML-escaped.
 *
 * What a folder may hold (every part optional; the page says what is missing instead of failing):
 * - `config.yaml`: the resolved run config (shown verbatim, with a one-line summary);
 * - `metrics.jsonl`: one `{kind, step, time, ...numbers}` per line; one small multiple per numeric field and
 *   kind (x = epoch for kinds ending in `_epoch`, else step); the collapse monitor uses `embedding_std` and
 *   `embedding_std_ratio` (std * sqrt(D)) with the warning ratio from `monitor.collapseRatio` (default 0.25);
 * - `cka/cka.json` ({labels, linear, rbf, rbfThreshold?, debiased?}) with `cka_linear.png` / `cka_rbf.png`;
 * - `predictions/<id>_{prob,labels,ir,mask}.png` (+ optional `<id>_score.json`, the `inkwell score --json`
 *   object), or the same files in subfolders `predictions/<name>/` (one probability map per name, e.g. per
 *   encoder, shown side by side for each fragment id);
 * - `results.json`: `{comparisons: [{title, rows: [{encoder, seeds, f05, auc, precision, recall}], note?}]}`,
 *   one table per comparison with mean +- std over seeds and a plainly worded verdict.
 * Run folders (those with metrics.jsonl) are found one level down; a subfolder without metrics.jsonl whose own
 * subfolders are runs (e.g. `probe/<encoder>-seed<s>/`, as compareEncoders writes them) is a group, whose
 * runs' curves are overlaid (one line per run, coloured by encoder).
 * Kinds ending in `_epoch` and validation kinds (`val`, `val_*`, `*_val`) are plotted per epoch.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import YAML from 'yaml';
import { writeFileAtomic } from '../util/atomic.js';
import { median, summarize, type Summary } from '../util/stats.js';
export { summarize, type Summary } from '../util/stats.js';
import { escapeXml, extent, formatNumber, intervalChart, lineChart, PALETTE, type LineSeries, type Point, type RefLine } from './charts.js';

/** The collapse warning ratio when the config names none (COLLAPSE_RATIO in src/ssl/monitor.ts). */
export const DEFAULT_COLLAPSE_RATIO = 0.25;
/** Inlined images fit inside MAX_IMAGE_SIDE x MAX_IMAGE_SIDE pixels. */
export const MAX_IMAGE_SIDE = 1024;

export const escapeHtml = escapeXml;

// ---------------------------------------------------------------------------------------------------------
// Data read from a folder

/**
 * Kinds logged once per epoch (their `step` is the epoch): names ending in `_epoch`, and validation kinds
 * (`val`, `val_*`, `*_val`), which the supervised trainer logs with the epoch as step.
 */
export function isPerEpochKind(kind: string): boolean {
  return kind.endsWith('_epoch') || kind === 'val' || kind.startsWith('val_') || kind.endsWith('_val');
}

export interface MetricSeries {
  kind: string;
  /** See isPerEpochKind: x = epoch; otherwise x = step. */
  perEpoch: boolean;
  /** Numeric fields in order of first appearance (without kind, step, time, and epoch for per-step kinds). */
  fields: string[];
  steps: number[];
  /** Per field, one value per record (NaN where the record lacks it or holds null). */
  values: Record<string, number[]>;
  times: number[];
}

export interface MetricsData {
  kinds: MetricSeries[];
  lines: number;
  /** 1-based numbers of lines that were not `{kind: string, step: number, ...}` JSON. */
  badLines: number[];
}

export interface InlineImage {
  /** data: URI (PNG, or JPEG when that is less than half the PNG's size). */
  src: string;
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
  file: string;
}

export interface CkaData {
  labels: string[];
  linear: number[][] | null;
  rbf: number[][] | null;
  rbfThreshold?: number;
  debiased?: boolean;
  linearPng?: InlineImage;
  rbfPng?: InlineImage;
}

export interface ScoreJson {
  f05?: number;
  precision?: number;
  recall?: number;
  iou?: number;
  dice?: number;
  auc?: number | null;
  threshold?: number;
}

export interface PredictionMap {
  /** The subfolder of predictions/ ('' for files directly in it). */
  group: string;
  image: InlineImage;
  score?: ScoreJson;
}

export interface PredictionFragment {
  id: string;
  ir?: InlineImage;
  labels?: InlineImage;
  mask?: InlineImage;
  probs: PredictionMap[];
}

export interface PredictionsData {
  groups: string[];
  fragments: PredictionFragment[];
  /** Files in predictions/ that match none of the names read. */
  ignored: string[];
}

export interface ComparisonRow {
  encoder: string;
  seeds: number[];
  f05: (number | null)[];
  auc: (number | null)[];
  precision: (number | null)[];
  recall: (number | null)[];
}

export interface Comparison {
  title: string;
  rows: ComparisonRow[];
  note?: string;
}

export interface FolderData {
  /** Path relative to the report's root ('.' for the root itself). */
  name: string;
  dir: string;
  /** For a run two levels down (e.g. probe/random-seed1): the folder that groups it (probe). */
  group?: string;
  config?: { text: string; parsed: unknown };
  metrics?: MetricsData;
  cka?: CkaData;
  predictions?: PredictionsData;
  comparisons?: Comparison[];
  /** Problems met while reading (unreadable or malformed files), each naming the file. */
  problems: string[];
}

export interface ReportData {
  root: string;
  title: string;
  generatedAt: Date;
  /** The root first, then run folders one level down in the order they started. */
  folders: FolderData[];
}

// ---------------------------------------------------------------------------------------------------------
// Reading

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const errText = (err: unknown): string => (err instanceof Error ? err.message.split('\n')[0]! : String(err));

/** Parses metrics.jsonl text; malformed lines (e.g. a half-written last line) are counted, not fatal. */
export function parseMetrics(text: string): MetricsData {
  const byKind = new Map<string, { steps: number[]; times: number[]; rows: Record<string, number>[]; fields: string[] }>();
  const badLines: number[] = [];
  const lines = text.split('\n');
  let count = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    count++;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      badLines.push(i + 1);
      return;
    }
    if (!isObject(rec) || typeof rec['kind'] !== 'string' || typeof rec['step'] !== 'number' || !Number.isFinite(rec['step'])) {
      badLines.push(i + 1);
      return;
    }
    const kind = rec['kind'];
    let k = byKind.get(kind);
    if (!k) {
      k = { steps: [], times: [], rows: [], fields: [] };
      byKind.set(kind, k);
    }
    const perEpoch = isPerEpochKind(kind);
    const row: Record<string, number> = {};
    for (const [key, v] of Object.entries(rec)) {
      if (key === 'kind' || key === 'step' || key === 'time' || (!perEpoch && key === 'epoch')) continue;
      if (typeof v !== 'number' && v !== null) continue;
      if (!k.fields.includes(key)) k.fields.push(key);
      row[key] = typeof v === 'number' ? v : Number.NaN;
    }
    k.steps.push(rec['step']);
    k.times.push(typeof rec['time'] === 'number' ? rec['time'] : Number.NaN);
    k.rows.push(row);
  });
  const kinds: MetricSeries[] = [...byKind.entries()].map(([kind, k]) => {
    const values: Record<string, number[]> = {};
    for (const f of k.fields) values[f] = k.rows.map((r) => r[f] ?? Number.NaN);
    return { kind, perEpoch: isPerEpochKind(kind), fields: k.fields, steps: k.steps, values, times: k.times };
  });
  return { kinds, lines: count, badLines };
}

async function readText(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  return readFile(path, 'utf8');
}

/**
 * Reads an image and returns it as a data: URI, downscaled (never enlarged) to fit `maxSide` x `maxSide`.
 * PNG unless JPEG (quality 85) comes out at less than half the PNG's size.
 */
export async function inlineImage(path: string, maxSide = MAX_IMAGE_SIDE): Promise<InlineImage> {
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (err) {
    throw new Error(`${path}: not a readable image (${errText(err)}); expected a PNG`);
  }
  const ow = meta.width ?? 0;
  const oh = meta.height ?? 0;
  if (!(ow > 0 && oh > 0)) throw new Error(`${path}: image has no size; expected a PNG with width and height > 0`);
  const base = (): Sharp => sharp(path).resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true });
  const png = await base().png({ compressionLevel: 9 }).toBuffer({ resolveWithObject: true });
  let data = png.data;
  let mime = 'image/png';
  if (png.data.length > 64 * 1024) {
    const jpg = await base().flatten({ background: '#000' }).jpeg({ quality: 85 }).toBuffer();
    if (jpg.length * 2 < png.data.length) {
      data = jpg;
      mime = 'image/jpeg';
    }
  }
  return { src: `data:${mime};base64,${data.toString('base64')}`, width: png.info.width, height: png.info.height, originalWidth: ow, originalHeight: oh, file: path };
}

function numberMatrix(v: unknown, n: number): number[][] | null {
  if (!Array.isArray(v) || v.length !== n) return null;
  const out: number[][] = [];
  for (const row of v) {
    if (!Array.isArray(row) || row.length !== n) return null;
    out.push(row.map((x) => (typeof x === 'number' ? x : Number.NaN)));
  }
  return out;
}

async function readCka(dir: string, problems: string[]): Promise<CkaData | undefined> {
  const ckaDir = join(dir, 'cka');
  if (!existsSync(ckaDir)) return undefined;
  const data: CkaData = { labels: [], linear: null, rbf: null };
  const jsonPath = join(ckaDir, 'cka.json');
  const text = await readText(jsonPath);
  if (text === undefined) {
    problems.push(`${jsonPath} is missing: the CKA numbers are not shown`);
  } else {
    try {
      const j: unknown = JSON.parse(text);
      if (!isObject(j) || !Array.isArray(j['labels'])) throw new Error('expected an object with labels, linear and rbf');
      data.labels = j['labels'].map(String);
      const n = data.labels.length;
      data.linear = numberMatrix(j['linear'], n);
      data.rbf = numberMatrix(j['rbf'], n);
      if (data.linear === null && j['linear'] !== undefined) problems.push(`${jsonPath}: linear is not a ${n}x${n} matrix of numbers (one row and column per label)`);
      if (data.rbf === null && j['rbf'] !== undefined) problems.push(`${jsonPath}: rbf is not a ${n}x${n} matrix of numbers (one row and column per label)`);
      if (typeof j['rbfThreshold'] === 'number') data.rbfThreshold = j['rbfThreshold'];
      if (typeof j['debiased'] === 'boolean') data.debiased = j['debiased'];
    } catch (err) {
      problems.push(`${jsonPath}: ${errText(err)}`);
    }
  }
  for (const [key, file] of [['linearPng', 'cka_linear.png'], ['rbfPng', 'cka_rbf.png']] as const) {
    const p = join(ckaDir, file);
    if (!existsSync(p)) continue;
    try {
      data[key] = await inlineImage(p);
    } catch (err) {
      problems.push(errText(err));
    }
  }
  if (data.labels.length === 0 && !data.linearPng && !data.rbfPng) {
    problems.push(`${ckaDir} holds neither a readable cka.json nor cka_linear.png / cka_rbf.png`);
    return undefined;
  }
  return data;
}

const PRED_FILE = /^(.+)_(prob|labels|ir|mask)\.png$/;
const SCORE_FILE = /^(.+)_score\.json$/;

function parseScore(text: string, path: string): ScoreJson {
  const j: unknown = JSON.parse(text);
  if (!isObject(j)) throw new Error(`${path}: expected a JSON object like {"f05", "precision", "recall", "iou", "dice", "auc", "threshold"}`);
  const s: ScoreJson = {};
  for (const k of ['f05', 'precision', 'recall', 'iou', 'dice', 'threshold'] as const) {
    const v = j[k];
    if (typeof v === 'number') s[k] = v;
  }
  if (typeof j['auc'] === 'number' || j['auc'] === null) s.auc = j['auc'];
  if (s.f05 === undefined) throw new Error(`${path}: has no numeric f05; expected the object inkwell score --json prints`);
  return s;
}

async function readPredictions(dir: string, problems: string[]): Promise<PredictionsData | undefined> {
  const predDir = join(dir, 'predictions');
  if (!existsSync(predDir)) return undefined;
  const entries = await readdir(predDir, { withFileTypes: true });
  const groupDirs: [string, string][] = [];
  if (entries.some((e) => e.isFile() && PRED_FILE.test(e.name))) groupDirs.push(['', predDir]);
  for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) groupDirs.push([e.name, join(predDir, e.name)]);
  const fragments = new Map<string, PredictionFragment>();
  const ignored: string[] = [];
  const groups: string[] = [];
  for (const [group, gdir] of groupDirs) {
    const files = (await readdir(gdir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    let used = false;
    for (const name of files) {
      const m = PRED_FILE.exec(name);
      if (!m) {
        if (!SCORE_FILE.test(name)) ignored.push(group ? `${group}/${name}` : name);
        continue;
      }
      const id = m[1]!;
      const role = m[2] as 'prob' | 'labels' | 'ir' | 'mask';
      let img: InlineImage;
      try {
        img = await inlineImage(join(gdir, name));
      } catch (err) {
        problems.push(errText(err));
        continue;
      }
      used = true;
      let frag = fragments.get(id);
      if (!frag) {
        frag = { id, probs: [] };
        fragments.set(id, frag);
      }
      if (role === 'prob') {
        const map: PredictionMap = { group, image: img };
        const scorePath = join(gdir, `${id}_score.json`);
        const scoreText = await readText(scorePath);
        if (scoreText !== undefined) {
          try {
            map.score = parseScore(scoreText, scorePath);
          } catch (err) {
            problems.push(errText(err));
          }
        }
        frag.probs.push(map);
      } else {
        frag[role] ??= img;
      }
    }
    if (used) groups.push(group);
  }
  if (fragments.size === 0) {
    problems.push(`${predDir} holds no <id>_prob.png / <id>_labels.png / <id>_ir.png / <id>_mask.png files (directly or one subfolder down)`);
    return undefined;
  }
  const sorted = [...fragments.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return { groups, fragments: sorted, ignored };
}

const METRIC_KEYS = ['f05', 'auc', 'precision', 'recall'] as const;

/** Validates results.json's parsed content; errors name the file and the offending path. */
export function parseResults(j: unknown, path: string): Comparison[] {
  const fail = (where: string, expected: string): never => {
    throw new Error(`${path}: ${where} ${expected}`);
  };
  if (!isObject(j) || !Array.isArray(j['comparisons'])) fail('the top level', 'must be {"comparisons": [{"title", "rows": [...]}]}');
  const list = (j as { comparisons: unknown[] }).comparisons;
  return list.map((c, ci) => {
    const at = `comparisons[${ci}]`;
    if (!isObject(c)) return fail(at, 'must be an object {title, rows, note?}');
    if (typeof c['title'] !== 'string') fail(`${at}.title`, 'must be a string');
    if (!Array.isArray(c['rows'])) fail(`${at}.rows`, 'must be an array of {encoder, seeds, f05, auc, precision, recall}');
    const rows = (c['rows'] as unknown[]).map((r, ri): ComparisonRow => {
      const rat = `${at}.rows[${ri}]`;
      if (!isObject(r)) return fail(rat, 'must be an object');
      if (typeof r['encoder'] !== 'string') fail(`${rat}.encoder`, 'must be a string');
      const seeds = r['seeds'];
      if (!Array.isArray(seeds) || !seeds.every((s) => typeof s === 'number')) fail(`${rat}.seeds`, 'must be an array of numbers');
      const n = (seeds as number[]).length;
      const row: ComparisonRow = { encoder: r['encoder'] as string, seeds: seeds as number[], f05: [], auc: [], precision: [], recall: [] };
      for (const key of METRIC_KEYS) {
        const v = r[key];
        if (v === undefined && key !== 'f05') {
          row[key] = Array.from({ length: n }, () => null);
          continue;
        }
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' || x === null)) fail(`${rat}.${key}`, 'must be an array of numbers (null where undefined)');
        if ((v as unknown[]).length !== n) fail(`${rat}.${key}`, `has ${(v as unknown[]).length} values for ${n} seeds; expected one per seed`);
        row[key] = v as (number | null)[];
      }
      return row;
    });
    const out: Comparison = { title: c['title'] as string, rows };
    if (typeof c['note'] === 'string') out.note = c['note'];
    else if (c['note'] !== undefined) fail(`${at}.note`, 'must be a string');
    return out;
  });
}

function firstTime(f: FolderData): number {
  for (const k of f.metrics?.kinds ?? []) for (const t of k.times) if (Number.isFinite(t)) return t;
  return Number.POSITIVE_INFINITY;
}

async function readFolder(dir: string, name: string): Promise<FolderData> {
  const folder: FolderData = { name, dir, problems: [] };
  const configPath = join(dir, 'config.yaml');
  const configText = await readText(configPath);
  if (configText !== undefined) {
    let parsed: unknown = null;
    try {
      parsed = YAML.parse(configText);
    } catch (err) {
      folder.problems.push(`${configPath} is not valid YAML (${errText(err)}); shown as text`);
    }
    folder.config = { text: configText, parsed };
  }
  const metricsPath = join(dir, 'metrics.jsonl');
  const metricsText = await readText(metricsPath);
  if (metricsText !== undefined) {
    folder.metrics = parseMetrics(metricsText);
    const bad = folder.metrics.badLines;
    if (bad.length) {
      folder.problems.push(`${metricsPath}: ${bad.length} line(s) skipped (line ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''}); expected one JSON object {kind, step, time, ...numbers} per line`);
    }
  }
  const cka = await readCka(dir, folder.problems);
  if (cka) folder.cka = cka;
  const predictions = await readPredictions(dir, folder.problems);
  if (predictions) folder.predictions = predictions;
  const resultsPath = join(dir, 'results.json');
  const resultsText = await readText(resultsPath);
  if (resultsText !== undefined) {
    try {
      let j: unknown;
      try {
        j = JSON.parse(resultsText);
      } catch (err) {
        throw new Error(`${resultsPath}: not valid JSON (${errText(err)})`);
      }
      folder.comparisons = parseResults(j, resultsPath);
    } catch (err) {
      folder.problems.push(errText(err));
    }
  }
  return folder;
}

function hasContent(f: FolderData): boolean {
  return f.config !== undefined || f.metrics !== undefined || f.cka !== undefined || f.predictions !== undefined || f.comparisons !== undefined || f.problems.length > 0;
}

async function subfolders(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true })).filter((x) => x.isDirectory()).map((x) => x.name).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/**
 * Reads everything the report shows from `runDir`: the folder itself and, one level down, every run folder
 * (a folder with metrics.jsonl). A subfolder without metrics.jsonl whose own subfolders are runs (e.g.
 * `probe/random-seed1/`, as compareEncoders writes them) is read as a group: the subfolder itself (its
 * results.json, cka/, predictions/) and its runs. Runs and groups come in the order they started.
 */
export async function collectReport(runDir: string, opts: { title?: string; generatedAt?: Date } = {}): Promise<ReportData> {
  const root = resolve(runDir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`report: ${root} is not a folder; expected a run folder or a folder of runs`);
  const top = await readFolder(root, '.');
  const units: FolderData[][] = [];
  for (const name of await subfolders(root)) {
    const dir = join(root, name);
    if (existsSync(join(dir, 'metrics.jsonl'))) {
      units.push([await readFolder(dir, name)]);
      continue;
    }
    const inner = (await subfolders(dir)).filter((n) => existsSync(join(dir, n, 'metrics.jsonl')));
    if (inner.length === 0) continue;
    const unit: FolderData[] = [];
    const holder = await readFolder(dir, name);
    if (hasContent(holder)) unit.push(holder);
    for (const n of inner) unit.push({ ...(await readFolder(join(dir, n), `${name}/${n}`)), group: name });
    units.push(unit);
  }
  const unitTime = (u: FolderData[]): number => Math.min(...u.map(firstTime));
  units.sort((a, b) => unitTime(a) - unitTime(b) || a[0]!.name.localeCompare(b[0]!.name));
  const subs = units.flat();
  if (!hasContent(top) && subs.length === 0) {
    throw new Error(`report: ${root} holds no metrics.jsonl, config.yaml, results.json, cka/ or predictions/, and no run folder (with metrics.jsonl) one level down; expected a run folder or a folder of runs`);
  }
  return { root, title: opts.title ?? `inkwell report: ${basename(root)}`, generatedAt: opts.generatedAt ?? new Date(), folders: [top, ...subs] };
}

// ---------------------------------------------------------------------------------------------------------
// Statistics

/** Mean and sample std of the finite values. */
/** "0.512 ± 0.020" (3 decimals), "0.512 (1 seed)" or "-". */
export function meanStd(s: Summary, digits = 3): string {
  if (s.n === 0) return '-';
  if (s.n === 1) return `${s.mean.toFixed(digits)} (1 seed)`;
  return `${s.mean.toFixed(digits)} \u00b1 ${s.std.toFixed(digits)}`;
}

export interface Verdict {
  /** Plain text, one or a few sentences. */
  text: string;
  best?: string;
  runnerUp?: string;
  /** Whether the best row's lead exceeds one std of both rows (null when it cannot be judged). */
  exceedsStd: boolean | null;
}

/** Best row by mean F0.5, and whether its lead over the runner-up exceeds one standard deviation. */
export function comparisonVerdict(c: Comparison): Verdict {
  const ranked = c.rows
    .map((r) => ({ r, f: summarize(r.f05), a: summarize(r.auc) }))
    .filter((x) => x.f.n > 0)
    .sort((p, q) => q.f.mean - p.f.mean);
  const d = (v: number): string => v.toFixed(3);
  if (ranked.length === 0) return { text: 'No F0.5 values in this table.', exceedsStd: null };
  const first = ranked[0]!;
  if (ranked.length === 1) {
    return { text: `Only one encoder (${first.r.encoder}, F0.5 ${meanStd(first.f)}); there is nothing to compare it with.`, best: first.r.encoder, exceedsStd: null };
  }
  const second = ranked[1]!;
  const lead = first.f.mean - second.f.mean;
  const seeds = (s: Summary): string => `${s.n} seed${s.n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  let exceeds: boolean | null = null;
  if (lead === 0) {
    parts.push(`${first.r.encoder} and ${second.r.encoder} tie on mean F0.5 (${d(first.f.mean)}).`);
  } else {
    parts.push(`${first.r.encoder} has the highest mean F0.5: ${meanStd(first.f)} (${seeds(first.f)}), ahead of ${second.r.encoder} (${meanStd(second.f)}) by ${d(lead)}.`);
    if (first.f.n < 2 || second.f.n < 2) {
      parts.push('With a single seed on at least one side, the seed-to-seed spread is unknown, so this gap cannot be weighed against it.');
    } else {
      const spread = Math.max(first.f.std, second.f.std);
      exceeds = lead > spread;
      parts.push(exceeds
        ? `The lead is larger than one standard deviation of either row (the larger is ${d(spread)}): the gap exceeds the seed-to-seed spread.`
        : `The lead is within one standard deviation (the larger is ${d(spread)}), so these seeds do not separate the two.`);
      parts.push('This is a rough check over few seeds, not a significance test.');
    }
  }
  const byAuc = ranked.filter((x) => x.a.n > 0).sort((p, q) => q.a.mean - p.a.mean);
  if (byAuc.length >= 2) {
    parts.push(byAuc[0]!.r.encoder === first.r.encoder
      ? `It also has the highest mean AUC (${meanStd(byAuc[0]!.a)}).`
      : `By AUC the order differs: ${byAuc[0]!.r.encoder} ranks first (${meanStd(byAuc[0]!.a)}).`);
  }
  return { text: parts.join(' '), best: first.r.encoder, runnerUp: second.r.encoder, exceedsStd: exceeds };
}

export interface CollapseSummary {
  kind: string;
  perEpoch: boolean;
  /** 1/sqrt(D) recovered from std / ratio, and D. */
  expected?: number;
  dim?: number;
  threshold: number;
  lastStd: number;
  lastRatio: number;
  minRatio: number;
  minRatioAt: number;
  /** Records whose ratio is below the threshold. */
  below: number;
  records: number;
}

export function collapseSummary(k: MetricSeries, threshold: number): CollapseSummary | null {
  const std = k.values['embedding_std'];
  if (!std) return null;
  const ratio = k.values['embedding_std_ratio'];
  const pairs = ratio ? std.map((s, i) => s / ratio[i]!).filter((e) => Number.isFinite(e) && e > 0) : [];
  const expected = pairs.length ? median(pairs) : undefined;
  const finite = k.steps.map((x, i) => ({ x, s: std[i]!, r: ratio ? ratio[i]! : Number.NaN })).filter((p) => Number.isFinite(p.s));
  if (finite.length === 0) return null;
  const last = finite[finite.length - 1]!;
  let minAt = finite[0]!;
  for (const p of finite) if (Number.isFinite(p.r) && (!Number.isFinite(minAt.r) || p.r < minAt.r)) minAt = p;
  const out: CollapseSummary = {
    kind: k.kind,
    perEpoch: k.perEpoch,
    threshold,
    lastStd: last.s,
    lastRatio: last.r,
    minRatio: minAt.r,
    minRatioAt: minAt.x,
    below: finite.filter((p) => p.r < threshold).length,
    records: finite.length,
  };
  if (expected !== undefined) {
    out.expected = expected;
    out.dim = Math.round(1 / (expected * expected));
  }
  return out;
}

function configNumber(parsed: unknown, path: readonly string[]): number | undefined {
  let cur: unknown = parsed;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return typeof cur === 'number' && Number.isFinite(cur) ? cur : undefined;
}

function collapseThreshold(f: FolderData): number {
  return configNumber(f.config?.parsed, ['monitor', 'collapseRatio']) ?? DEFAULT_COLLAPSE_RATIO;
}

function offDiagonal(m: number[][]): { min: number; max: number; mean: number; neighbours: number } | null {
  const off: number[] = [];
  const next: number[] = [];
  m.forEach((row, i) => row.forEach((v, j) => {
    if (i !== j && Number.isFinite(v)) off.push(v);
    if (j === i + 1 && Number.isFinite(v)) next.push(v);
  }));
  if (off.length === 0) return null;
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return { min: Math.min(...off), max: Math.max(...off), mean: mean(off), neighbours: next.length ? mean(next) : Number.NaN };
}

// ---------------------------------------------------------------------------------------------------------
// Rendering

const h = escapeHtml;
const pct = (v: number): string => `${(100 * v).toFixed(0)}%`;

function slug(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return t || 'root';
}

function displayName(f: FolderData, data: ReportData): string {
  return f.name === '.' ? basename(data.root) : f.name;
}

/** A centred moving average over `window` points (NaN-aware). */
function movingAverage(points: readonly Point[], window: number): Point[] {
  const half = Math.floor(window / 2);
  const out: Point[] = [];
  let sum = 0;
  let cnt = 0;
  let lo = 0;
  let hi = -1;
  for (let i = 0; i < points.length; i++) {
    while (hi < Math.min(points.length - 1, i + half)) {
      hi++;
      const y = points[hi]![1];
      if (Number.isFinite(y)) {
        sum += y;
        cnt++;
      }
    }
    while (lo < i - half) {
      const y = points[lo]![1];
      if (Number.isFinite(y)) {
        sum -= y;
        cnt--;
      }
      lo++;
    }
    out.push([points[i]![0], cnt > 0 ? sum / cnt : Number.NaN]);
  }
  return out;
}

function pointsOf(k: MetricSeries, field: string): Point[] {
  const v = k.values[field] ?? [];
  return k.steps.map((x, i) => [x, v[i] ?? Number.NaN] as const);
}

function autoLog(points: readonly Point[]): boolean {
  const ys = points.map((p) => p[1]).filter(Number.isFinite);
  if (ys.length < 2 || ys.some((y) => y <= 0)) return false;
  const [lo, hi] = extent(ys);
  return hi / lo > 1e3;
}

const SMOOTH_ABOVE = 60;

function seriesFor(k: MetricSeries, field: string): { series: LineSeries[]; window: number } {
  const pts = pointsOf(k, field);
  const color = PALETTE[0];
  if (k.perEpoch || pts.length <= SMOOTH_ABOVE) return { series: [{ points: pts, color }], window: 0 };
  const window = Math.max(5, Math.round(pts.length / 40));
  return { series: [{ points: pts, color, opacity: 0.25, strokeWidth: 1, dots: false }, { points: movingAverage(pts, window), color, strokeWidth: 1.8, dots: false }], window };
}

function figure(svg: string, caption?: string): string {
  return `<figure class="chart-box">${svg}${caption !== undefined ? `<figcaption>${caption}</figcaption>` : ''}</figure>`;
}

function na(what: string): string {
  return `<p class="na">Not available: ${what}</p>`;
}

function problemList(problems: readonly string[]): string {
  if (!problems.length) return '';
  return `<ul class="problems">${problems.map((p) => `<li>${h(p)}</li>`).join('')}</ul>`;
}

function durationText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function timeSpan(runs: readonly FolderData[]): string {
  const times = runs.flatMap((f) => (f.metrics?.kinds ?? []).flatMap((k) => k.times)).filter(Number.isFinite);
  if (times.length < 2) return '';
  const [first, last] = extent(times);
  const span = last - first;
  return span >= 1 ? `; ${durationText(span)} from first to last record` : '';
}

function runFacts(f: FolderData): string {
  const m = f.metrics;
  if (!m) return 'no metrics.jsonl';
  const kinds = m.kinds.map((k) => `${k.kind} (${k.steps.length})`).join(', ');
  return `${m.lines} records: ${kinds || 'none'}${timeSpan([f])}`;
}

/** One line for the runs of a group: how many per encoder, and the kinds they log. */
function groupFacts(runs: readonly FolderData[]): string {
  const labels = [...new Set(runs.map((r) => runLabel(r.name)))];
  const per = labels.map((l) => `${l} \u00d7${runs.filter((r) => runLabel(r.name) === l).length}`).join(', ');
  const kinds = [...new Set(runs.flatMap((r) => (r.metrics?.kinds ?? []).map((k) => canonicalKind(k.kind, r))))];
  const records = runs.reduce((n, r) => n + (r.metrics?.lines ?? 0), 0);
  return `${runs.length} runs (${per}); ${records} records: ${kinds.join(', ') || 'none'}${timeSpan(runs)}`;
}

const CONFIG_KEYS: readonly string[][] = [['name'], ['encoder'], ['method', 'name'], ['model', 'arch'], ['train', 'epochs'], ['train', 'batchSize'], ['optim', 'name'], ['optim', 'lr'], ['seed']];

function configSummary(parsed: unknown): string {
  const items: string[] = [];
  for (const path of CONFIG_KEYS) {
    let cur: unknown = parsed;
    for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
    if (typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean') items.push(`<span class="kv"><b>${h(path.join('.'))}</b> ${h(String(cur))}</span>`);
  }
  return items.join(' ');
}

interface Block {
  html: string;
  glance?: string;
}

function renderComparison(c: Comparison, folder: string, idx: number): Block {
  const v = comparisonVerdict(c);
  const stats = c.rows.map((r) => ({ r, s: Object.fromEntries(METRIC_KEYS.map((k) => [k, summarize(r[k])])) as Record<(typeof METRIC_KEYS)[number], Summary> }));
  const bestOf: Record<string, number> = {};
  for (const k of METRIC_KEYS) {
    const means = stats.map((x) => x.s[k].mean).filter(Number.isFinite);
    if (means.length) bestOf[k] = Math.max(...means);
  }
  const header = '<tr><th>encoder</th><th class="num">seeds</th><th class="num">F0.5</th><th class="num">AUC</th><th class="num">precision</th><th class="num">recall</th></tr>';
  const body = stats.map(({ r, s }) => {
    const isBest = r.encoder === v.best;
    const cells = METRIC_KEYS.map((k) => {
      const top = s[k].n > 0 && s[k].mean === bestOf[k] && stats.length > 1;
      return `<td class="num${top ? ' top' : ''}">${h(meanStd(s[k]))}</td>`;
    }).join('');
    return `<tr${isBest ? ' class="best"' : ''}><td>${isBest ? '<span class="star" title="highest mean F0.5">\u2605</span> ' : ''}${h(r.encoder)}</td><td class="num" title="${h(r.seeds.join(', '))}">${r.seeds.length}</td>${cells}</tr>`;
  }).join('');
  const chartRows = (k: (typeof METRIC_KEYS)[number]): Parameters<typeof intervalChart>[0] => stats.map(({ r, s }) => {
    const row: Parameters<typeof intervalChart>[0][number] = { label: r.encoder, values: r[k].filter((x): x is number => x !== null), mean: s[k].mean, highlight: r.encoder === v.best };
    if (Number.isFinite(s[k].std)) row.std = s[k].std;
    return row;
  });
  const charts = [figure(intervalChart(chartRows('f05'), { title: 'F0.5', xLabel: 'F0.5 (dots: seeds; bar: mean \u00b1 1 std)' }))];
  if (stats.some((x) => x.s.auc.n > 0)) charts.push(figure(intervalChart(chartRows('auc'), { title: 'ROC AUC', xLabel: 'AUC (dots: seeds; bar: mean \u00b1 1 std)' })));
  const where = folder === '.' ? '' : ` <span class="from">(${h(folder)}/results.json)</span>`;
  const cls = v.exceedsStd === true ? 'verdict yes' : v.exceedsStd === false ? 'verdict no' : 'verdict unknown';
  const tag = verdictTag(v);
  const html = `<div class="block" id="comparison-${idx}"><h3>${h(c.title)}${where}</h3>` +
    `<p class="${cls}">${tag}${h(v.text)}</p>` +
    `<table class="results"><thead>${header}</thead><tbody>${body}</tbody></table>` +
    `<div class="charts pair">${charts.join('')}</div>` +
    (c.note !== undefined ? `<p class="note">${h(c.note)}</p>` : '') +
    '<p class="small">mean \u00b1 sample standard deviation (n \u2212 1) over seeds; the best mean of each column in bold.</p></div>';
  return { html, glance: `<li>${tag}<b>${h(c.title)}</b>: ${h(v.text)}</li>` };
}

/** A short label for the verdict: whether the best row's lead is larger than the seed-to-seed spread. */
function verdictTag(v: Verdict): string {
  if (v.exceedsStd === true) return '<span class="tag yes">lead &gt; 1 std</span>';
  if (v.exceedsStd === false) return '<span class="tag no">within 1 std</span>';
  if (v.runnerUp !== undefined) return '<span class="tag unknown">spread unknown</span>';
  return '';
}

function imgTag(img: InlineImage, alt: string): string {
  return `<img src="${img.src}" alt="${h(alt)}" width="${img.width}" height="${img.height}" loading="eager">`;
}

function sizeNote(img: InlineImage): string {
  const shown = img.width !== img.originalWidth ? `, shown at ${img.width}\u00d7${img.height}` : '';
  return `${img.originalWidth}\u00d7${img.originalHeight}${shown}`;
}

/** Prediction groups in the order the comparison tables list their encoders, then by name. */
function orderedProbs(probs: readonly PredictionMap[], encoders: readonly string[]): PredictionMap[] {
  const rank = (g: string): number => {
    const i = encoders.indexOf(g);
    return i < 0 ? encoders.length : i;
  };
  return [...probs].sort((a, b) => rank(a.group) - rank(b.group) || a.group.localeCompare(b.group));
}

function renderPredictions(p: PredictionsData, folder: string, encoders: readonly string[]): Block {
  const frags = p.fragments.map((fr) => {
    const cells: string[] = [];
    const cell = (img: InlineImage | undefined, title: string, extra = ''): void => {
      if (!img) return;
      cells.push(`<figure class="pred">${imgTag(img, `${fr.id} ${title}`)}<figcaption><b>${h(title)}</b>${extra} <span class="small">${h(sizeNote(img))}</span></figcaption></figure>`);
    };
    cell(fr.ir, 'IR image');
    cell(fr.labels, 'ink labels');
    for (const m of orderedProbs(fr.probs, encoders)) {
      const s = m.score;
      const score = s ? ` <span class="score">F0.5 ${h(formatNumber(s.f05 ?? Number.NaN, 3))}${s.auc !== undefined ? `, AUC ${h(formatNumber(s.auc, 3))}` : ''}</span>` : '';
      cell(m.image, m.group ? `prediction: ${m.group}` : 'prediction', score);
    }
    cell(fr.mask, 'mask');
    const missing = [!fr.ir && 'IR image', !fr.labels && 'labels', fr.probs.length === 0 && 'probability map'].filter((x): x is string => typeof x === 'string');
    return `<div class="fragment"><h4>${h(fr.id)}</h4>${missing.length ? `<p class="na small">Not available for this fragment: ${h(missing.join(', '))}</p>` : ''}<div class="preds" style="--cols:${Math.min(6, Math.max(3, cells.length))}">${cells.join('')}</div></div>`;
  });
  const where = `<p class="small">From ${h(folder === '.' ? 'predictions/' : `${folder}/predictions/`)}${p.groups.filter(Boolean).length ? ` (${h(p.groups.filter(Boolean).join(', '))})` : ''}. Probability maps: white = ink.${p.ignored.length ? ` Ignored files: ${h(p.ignored.join(', '))}.` : ''}</p>`;
  const glance = `<li><b>Predictions</b>${folder === '.' ? '' : ` (${h(folder)})`}: ${p.fragments.length} fragment${p.fragments.length === 1 ? '' : 's'}: ${h(p.fragments.map((f) => f.id).join(', '))}.</li>`;
  return { html: `<div class="block">${where}${frags.join('')}</div>`, glance };
}

function renderCollapse(f: FolderData, name: string): Block | null {
  const threshold = collapseThreshold(f);
  const kinds = (f.metrics?.kinds ?? []).filter((k) => k.values['embedding_std'] !== undefined);
  if (!kinds.length) return null;
  const ordered = [...kinds].sort((a, b) => Number(b.perEpoch) - Number(a.perEpoch));
  const rows: string[] = [];
  let glance = '';
  let verdict = '';
  for (const k of ordered) {
    const s = collapseSummary(k, threshold);
    if (!s) continue;
    const x = k.perEpoch ? 'epoch' : 'step';
    const stdRefs: RefLine[] = [];
    if (s.expected !== undefined) {
      stdRefs.push({ y: s.expected, label: `healthy 1/\u221aD = ${formatNumber(s.expected, 3)} (D=${s.dim})`, color: '#2ca02c' });
      stdRefs.push({ y: threshold * s.expected, label: `warning ${threshold}/\u221aD`, color: '#d62728' });
    }
    const charts: string[] = [];
    const stdS = seriesFor(k, 'embedding_std');
    charts.push(figure(lineChart(stdS.series, { title: 'embedding_std', xLabel: x, integerX: true, refLines: stdRefs, description: `embedding_std per ${x} (${k.kind})` })));
    if (k.values['embedding_std_ratio']) {
      const rS = seriesFor(k, 'embedding_std_ratio');
      charts.push(figure(lineChart(rS.series, {
        title: 'ratio to healthy (std \u00d7 \u221aD)', xLabel: x, integerX: true, description: `embedding_std_ratio per ${x} (${k.kind})`,
        refLines: [{ y: 1, label: 'healthy 1.0', color: '#2ca02c' }, { y: threshold, label: `warning ${threshold}`, color: '#d62728' }],
      })));
    }
    rows.push(`<h4>${h(k.kind)} <span class="small">per ${x}.${stdS.window ? ` Faint: every step; line: moving average over ${stdS.window} steps.` : ''}</span></h4><div class="charts">${charts.join('')}</div>`);
    if (!verdict) {
      const where = `${s.perEpoch ? 'epoch' : 'step'} ${formatNumber(s.minRatioAt)}`;
      if (!Number.isFinite(s.lastRatio)) {
        verdict = `Last embedding_std ${formatNumber(s.lastStd)} (${k.kind}); no embedding_std_ratio logged, so it cannot be compared with the healthy 1/\u221aD.`;
      } else if (s.below > 0) {
        verdict = `WARNING: the embeddings' spread fell below the warning ratio ${threshold} in ${s.below} of ${s.records} ${k.kind} records (lowest ${pct(s.minRatio)} of healthy at ${where}); it ended at ${pct(s.lastRatio)}.`;
      } else {
        verdict = `No collapse: the spread of the normalised embeddings ended at ${pct(s.lastRatio)} of the healthy 1/\u221aD${s.dim !== undefined ? ` (D=${s.dim})` : ''} and never fell below the ${threshold} warning ratio (lowest ${pct(s.minRatio)}, at ${where}; ${k.kind}).`;
      }
      glance = `<li${s.below > 0 ? ' class="warn"' : ''}><b>Collapse monitor</b> (${h(name)}): ${h(verdict)}</li>`;
    }
  }
  const html = `<div class="block" id="collapse-${slug(name)}"><h3>${h(name)}</h3><p class="verdict ${verdict.startsWith('WARNING') ? 'no' : 'yes'}">${h(verdict)}</p>${rows.join('')}` +
    '<p class="small">embedding_std: the mean over dimensions of the batch std of L2-normalised embeddings (SimSiam, Chen &amp; He 2021); it stays near 1/\u221aD for embeddings spread over the sphere and goes to 0 when they collapse to one vector.</p></div>';
  return { html, glance };
}

function matrixTable(m: number[][], labels: readonly string[], caption: string): string {
  const head = `<tr><th></th>${labels.map((l) => `<th>${h(l)}</th>`).join('')}</tr>`;
  const rows = m.map((row, i) => `<tr><th>${h(labels[i] ?? '')}</th>${row.map((v, j) => `<td class="num${i === j ? ' diag' : ''}">${Number.isFinite(v) ? v.toFixed(3) : 'nan'}</td>`).join('')}</tr>`).join('');
  return `<table class="matrix"><caption>${h(caption)}</caption><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

function renderCka(c: CkaData, folder: string): Block {
  const images = [c.linearPng && imgTag(c.linearPng, 'linear CKA heatmap'), c.rbfPng && imgTag(c.rbfPng, 'RBF CKA heatmap')].filter((x): x is string => typeof x === 'string');
  const tables: string[] = [];
  const facts: string[] = [];
  const tag = c.debiased ? ' (debiased)' : '';
  for (const [name, m] of [['Linear CKA', c.linear], [`RBF CKA${c.rbfThreshold !== undefined ? ` (threshold ${c.rbfThreshold})` : ''}`, c.rbf]] as const) {
    if (!m) continue;
    tables.push(matrixTable(m, c.labels, `${name}${tag}`));
    const o = offDiagonal(m);
    if (o) facts.push(`${name.split(' (')[0]} between different checkpoints: ${o.min.toFixed(2)}\u2013${o.max.toFixed(2)} (mean ${o.mean.toFixed(2)}${Number.isFinite(o.neighbours) ? `; neighbours ${o.neighbours.toFixed(2)}` : ''})`);
  }
  const where = folder === '.' ? 'cka/' : `${folder}/cka/`;
  const notes: string[] = [];
  if (!c.linear && !c.rbf) notes.push(na(`the CKA numbers (${h(where)}cka.json missing or unreadable)`));
  if (!images.length) notes.push(na(`the heatmap images (${h(where)}cka_linear.png, cka_rbf.png)`));
  const factText = facts.join('. ');
  const html = `<div class="block"><p class="small">From ${h(where)}. ${c.labels.length ? `Checkpoints: ${h(c.labels.join(', '))}.` : ''}</p>` +
    (factText ? `<p>${h(factText)}.</p>` : '') +
    '<p class="small">CKA is 1 for the same representation up to rotation and scale; lower values mean the representation changed more between two checkpoints. The reference study saw 0.06\u20130.35 off the diagonal and read it as "the representations keep changing".</p>' +
    notes.join('') +
    (images.length ? `<div class="heatmaps">${images.map((i) => `<figure>${i}</figure>`).join('')}</div>` : '') +
    (tables.length ? `<div class="matrices">${tables.join('')}</div>` : '') + '</div>';
  return { html, glance: factText ? `<li><b>CKA</b>${folder === '.' ? '' : ` (${h(folder)})`}: ${h(factText)}.</li>` : '' };
}

function renderCurves(m: MetricsData, name: string): string {
  const blocks = m.kinds.map((k) => {
    const x = k.perEpoch ? 'epoch' : 'step';
    let window = 0;
    const charts = k.fields.map((field) => {
      const s = seriesFor(k, field);
      window = Math.max(window, s.window);
      const log = autoLog(s.series[0]!.points);
      return figure(lineChart(s.series, { title: field, xLabel: x, integerX: true, ...(log ? { yScale: 'log' as const } : {}), description: `${field} per ${x} (${k.kind})` }));
    });
    const note = window ? ` Faint: every step; line: moving average over ${window} steps.` : '';
    return `<h4>${h(k.kind)} <span class="small">${k.steps.length} record${k.steps.length === 1 ? '' : 's'}, per ${x}.${note}</span></h4>` +
      (charts.length ? `<div class="charts">${charts.join('')}</div>` : '<p class="small">No numeric fields.</p>');
  });
  return `<div class="block" id="curves-${slug(name)}"><h3>${h(name)}</h3>${blocks.join('') || na('metrics.jsonl holds no records')}</div>`;
}

/** The encoder label of a run folder: its name without a trailing seed (`-seed3`, `_seed3`, `-s3`). */
export function runLabel(name: string): string {
  const base = name.split('/').at(-1) ?? name;
  return base.replace(/[-_](seed|s)\d+$/i, '') || base;
}

/** A kind named after its run (the supervised trainer logs under the run's name) reads as 'train'. */
function canonicalKind(kind: string, run: FolderData): string {
  const base = run.name.split('/').at(-1) ?? run.name;
  if (kind === base) return 'train';
  if (kind === `${base}_epoch`) return 'train_epoch';
  return kind;
}

/** Curves of the runs of one group overlaid: one small multiple per kind and field, one line per run. */
function renderGroupCurves(runs: readonly FolderData[], group: string): string {
  const labels = [...new Set(runs.map((r) => runLabel(r.name)))];
  const kinds: { key: string; perEpoch: boolean; fields: string[] }[] = [];
  for (const r of runs) for (const k of r.metrics?.kinds ?? []) {
    const key = canonicalKind(k.kind, r);
    let entry = kinds.find((e) => e.key === key);
    if (!entry) {
      entry = { key, perEpoch: k.perEpoch, fields: [] };
      kinds.push(entry);
    }
    for (const f of k.fields) if (!entry.fields.includes(f)) entry.fields.push(f);
  }
  let smoothed = 0;
  const blocks = kinds.map((k) => {
    const x = k.perEpoch ? 'epoch' : 'step';
    const charts = k.fields.map((field) => {
      const series: LineSeries[] = [];
      for (const r of runs) {
        const mk = r.metrics?.kinds.find((m) => canonicalKind(m.kind, r) === k.key);
        if (!mk || !mk.values[field]) continue;
        let pts = pointsOf(mk, field);
        if (!mk.perEpoch && pts.length > SMOOTH_ABOVE) {
          const w = Math.max(5, Math.round(pts.length / 40));
          smoothed = Math.max(smoothed, w);
          pts = movingAverage(pts, w);
        }
        const label = runLabel(r.name);
        series.push({ name: label, points: pts, color: PALETTE[labels.indexOf(label) % PALETTE.length]!, opacity: 0.85, strokeWidth: 1.4, dots: mk.perEpoch && pts.length <= 40 });
      }
      const log = autoLog(series.flatMap((s) => s.points));
      return figure(lineChart(series, { title: field, xLabel: x, integerX: true, ...(log ? { yScale: 'log' as const } : {}), description: `${field} per ${x} (${k.key}), ${series.length} runs` }));
    });
    return `<h4>${h(k.key)} <span class="small">per ${x}</span></h4><div class="charts">${charts.join('')}</div>`;
  });
  const counts = labels.map((l) => `${l} (${runs.filter((r) => runLabel(r.name) === l).length} run${runs.filter((r) => runLabel(r.name) === l).length === 1 ? '' : 's'})`);
  return `<div class="block" id="curves-${slug(group)}"><h3>${h(group)}/ <span class="small">${runs.length} runs overlaid, one line per run, coloured by encoder: ${h(counts.join(', '))}.${smoothed ? ` Per-step curves are moving averages over up to ${smoothed} steps.` : ''}</span></h3>${blocks.join('') || na('metrics.jsonl holds no records')}</div>`;
}

function renderConfig(f: FolderData, name: string): string {
  const c = f.config!;
  const lines = c.text.split('\n').length;
  return `<div class="block" id="config-${slug(name)}"><h3>${h(name)}</h3><p>${configSummary(c.parsed)}</p>` +
    `<details><summary>config.yaml (${lines} lines)</summary><pre>${h(c.text)}</pre></details></div>`;
}

const MISSING_REASON: Record<string, string> = {
  comparison: 'no results.json with comparison tables in this folder or its run folders',
  predictions: 'no predictions/ folder with <id>_prob.png, <id>_labels.png or <id>_ir.png (a pretraining-only run has none)',
  collapse: 'no embedding_std in any metrics.jsonl (only self-supervised pretraining logs it)',
  cka: 'no cka/ folder (write one with inkwell cka --checkpoints)',
  curves: 'no metrics.jsonl',
  config: 'no config.yaml',
};

const SECTION_TITLES: Record<string, string> = {
  comparison: 'Does pretraining help? Comparison over seeds',
  predictions: 'Predictions beside labels and IR',
  collapse: 'Collapse monitor',
  cka: 'CKA between checkpoints',
  curves: 'Training curves',
  config: 'Configs',
};

const SHORT_NAMES: Record<string, string> = {
  comparison: 'comparison tables (results.json)',
  predictions: 'predictions',
  collapse: 'collapse monitor',
  cka: 'CKA',
  curves: 'training curves',
  config: 'config',
};

const SECTION_ORDER: readonly string[] = ['comparison', 'predictions', 'collapse', 'cka', 'curves', 'config'];

const CSS = `
:root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f5f6f8;--card:#fff;--accent:#1f77b4;--good:#217a3c;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
header h1{font-size:24px;margin:0 0 4px}
header .meta{color:var(--muted);font-size:13px;margin:0}
code,pre{font:12px/1.45 ui-monospace,"DejaVu Sans Mono",monospace}
nav{margin:14px 0 6px;font-size:13px}
nav a{margin-right:14px;color:var(--accent);text-decoration:none}
nav a.off{color:#98a2b3}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:18px 0}
section>h2{font-size:18px;margin:0 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:14px 0 6px}
h4{font-size:14px;margin:14px 0 6px}
.block+.block{border-top:1px dashed var(--line);margin-top:12px;padding-top:4px}
#summary{border-left:5px solid var(--accent)}
#summary ul{margin:0;padding-left:20px}
#summary li{margin:4px 0}
li.warn,.problems li{color:var(--bad)}
.na{color:var(--muted);font-style:italic;background:#f9fafb;border:1px dashed #d0d5dd;border-radius:6px;padding:6px 10px;margin:6px 0}
.na.small{padding:2px 8px}
.problems{font-size:13px;margin:6px 0}
.small,.from{color:var(--muted);font-size:12px;font-weight:400}
.verdict{padding:8px 12px;border-radius:6px;background:#f2f4f7;margin:6px 0 10px}
.verdict.yes{background:#ecfdf3}
.verdict.no{background:#fef3f2}
.note{font-style:italic}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.charts.pair{grid-template-columns:repeat(auto-fill,minmax(420px,1fr));margin-top:10px}
.chart-box{margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:4px}
.chart-box figcaption{font-size:11px;color:var(--muted);padding:0 6px 2px}
svg.chart{width:100%;height:auto;display:block}
.tag{display:inline-block;font-size:11px;font-weight:700;border-radius:10px;padding:0 8px;margin-right:8px;vertical-align:1px}
.tag.yes{background:#d1fadf;color:#05603a}
.tag.no{background:#fee4e2;color:#912018}
.tag.unknown{background:#eaecf0;color:#344054}
table{border-collapse:collapse;font-size:13px}
table.results{width:100%}
table.results td:first-child{min-width:12em}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left}
th{background:#f9fafb;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.top{font-weight:700}
tr.best td{background:#eff8ff}
.star{color:#f79009}
.matrices{display:flex;flex-wrap:wrap;gap:20px;margin-top:8px}
table.matrix td,table.matrix th{padding:3px 7px;font-size:12px}
table.matrix td.diag{color:var(--muted)}
caption{text-align:left;font-weight:600;padding:4px 0}
.heatmaps{display:flex;flex-wrap:wrap;gap:16px}
.heatmaps figure{margin:0}
.heatmaps img{max-width:100%;height:auto;border:1px solid var(--line)}
.fragment{margin:6px 0 14px}
.preds{display:grid;grid-template-columns:repeat(var(--cols,4),minmax(0,1fr));gap:10px;align-items:start}
@media (max-width:800px){.preds{grid-template-columns:repeat(2,minmax(0,1fr))}}
figure.pred{margin:0;border:1px solid var(--line);border-radius:6px;overflow:hidden;background:#fff}
figure.pred img{display:block;width:100%;height:auto;max-height:520px;object-fit:contain;background:#0b0d12}
figure.pred figcaption{padding:4px 8px;font-size:12px}
.score{color:var(--good);font-weight:600}
.kv{display:inline-block;background:#f2f4f7;border-radius:4px;padding:1px 7px;margin:2px 4px 2px 0;font-size:12px}
details summary{cursor:pointer;color:var(--accent)}
pre{background:#f9fafb;border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;max-height:480px}
`;

interface Composed {
  html: string;
  sections: string[];
  missing: string[];
  warnings: string[];
}

function compose(data: ReportData): Composed {
  const bodies: Record<string, string[]> = Object.fromEntries(SECTION_ORDER.map((s) => [s, []]));
  const glance: Record<string, string[]> = Object.fromEntries(SECTION_ORDER.map((s) => [s, []]));
  const multi = data.folders.length > 1;
  let comparisonCount = 0;
  const encoders = [...new Set(data.folders.flatMap((f) => (f.comparisons ?? []).flatMap((c) => c.rows.map((r) => r.encoder))))];
  for (const f of data.folders) {
    const name = displayName(f, data);
    (f.comparisons ?? []).forEach((c) => {
      const b = renderComparison(c, f.name, comparisonCount++);
      bodies['comparison']!.push(b.html);
      if (b.glance) glance['comparison']!.push(b.glance);
    });
    if (f.comparisons && f.comparisons.length === 0) bodies['comparison']!.push(`<p class="small">${h(f.name === '.' ? 'results.json' : `${f.name}/results.json`)} lists no comparisons.</p>`);
    if (f.predictions) {
      const b = renderPredictions(f.predictions, f.name, encoders);
      bodies['predictions']!.push(b.html);
      if (b.glance) glance['predictions']!.push(b.glance);
    }
    const col = renderCollapse(f, name);
    if (col) {
      bodies['collapse']!.push(col.html);
      if (col.glance) glance['collapse']!.push(col.glance);
    }
    if (f.cka) {
      const b = renderCka(f.cka, f.name);
      bodies['cka']!.push(b.html);
      if (b.glance) glance['cka']!.push(b.glance);
    }
    if (f.metrics) {
      const members = f.group !== undefined ? data.folders.filter((g) => g.group === f.group && g.metrics !== undefined) : [];
      if (members.length > 1) {
        if (members[0] === f) bodies['curves']!.push(renderGroupCurves(members, f.group!));
      } else {
        bodies['curves']!.push(renderCurves(f.metrics, name));
      }
    }
    if (f.config) bodies['config']!.push(renderConfig(f, name));
  }
  const warnings = data.folders.flatMap((f) => f.problems);
  const sections = SECTION_ORDER.filter((s) => bodies[s]!.length > 0);
  const missing = SECTION_ORDER.filter((s) => bodies[s]!.length === 0);
  const runs = data.folders.filter((f) => f.metrics !== undefined || f.config !== undefined);
  const listed = new Set<string>();
  const runList = runs.map((f) => {
    const members = f.group !== undefined ? runs.filter((g) => g.group === f.group) : [];
    if (members.length > 1) {
      if (listed.has(f.group!)) return '';
      listed.add(f.group!);
      return `<li><b>${h(f.group!)}/</b>: ${h(groupFacts(members))}</li>`;
    }
    return `<li><b>${h(displayName(f, data))}</b>: ${h(runFacts(f))}</li>`;
  }).join('');
  const glanceItems = SECTION_ORDER.flatMap((s) => glance[s]!);
  const summary = `<section id="summary"><h2>At a glance</h2>` +
    (glanceItems.length ? `<ul>${glanceItems.join('')}</ul>` : '<p class="small">Nothing to summarise yet.</p>') +
    (missing.length ? `<p class="small">Not available in this folder: ${missing.map((s) => h(SHORT_NAMES[s]!)).join(', ')}.</p>` : '') +
    (warnings.length ? `<p><b>Problems while reading</b> (shown instead of failing):</p>${problemList(warnings)}` : '') + '</section>';
  const nav = `<nav>${['summary', ...SECTION_ORDER].map((s) => `<a href="#${s}"${s !== 'summary' && missing.includes(s) ? ' class="off"' : ''}>${h(s === 'summary' ? 'At a glance' : SECTION_TITLES[s]!)}</a>`).join('')}</nav>`;
  const secHtml = SECTION_ORDER.map((s) => `<section id="${s}"><h2>${h(SECTION_TITLES[s]!)}</h2>${bodies[s]!.length ? bodies[s]!.join('') : na(MISSING_REASON[s]!)}</section>`).join('');
  const html = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${h(data.title)}</title><style>${CSS}</style></head><body><main>` +
    `<header><h1>${h(data.title)}</h1><p class="meta">${h(data.root)} \u00b7 generated ${h(data.generatedAt.toISOString().replace('T', ' ').slice(0, 19))} UTC by inkwell report</p>` +
    (runList ? `<p class="meta">${multi ? 'Runs' : 'Run'}:</p><ul class="meta">${runList}</ul>` : '') + `</header>` +
    nav + summary + secHtml + '</main></body></html>\n';
  return { html, sections, missing, warnings };
}

/** The report page for already collected data (see collectReport). */
export function renderReport(data: ReportData): string {
  return compose(data).html;
}

export interface WriteReportResult {
  path: string;
  /** Sections with content, in page order: comparison, predictions, collapse, cka, curves, config. */
  sections: string[];
  /** Sections shown as "Not available". */
  missing: string[];
  /** Problems met while reading (each names its file); the page lists them too. */
  warnings: string[];
  bytes: number;
}

/** Reads `runDir` and writes its report (default `runDir/report.html`) atomically. */
export async function writeReport(runDir: string, opts: { output?: string; title?: string } = {}): Promise<WriteReportResult> {
  const data = await collectReport(runDir, opts.title !== undefined ? { title: opts.title } : {});
  const c = compose(data);
  const path = resolve(opts.output ?? join(data.root, 'report.html'));
  await writeFileAtomic(path, c.html);
  return { path, sections: c.sections, missing: c.missing, warnings: c.warnings, bytes: Buffer.byteLength(c.html) };
}
