/**
 * Reading a run folder (or a folder of runs) for the report: config.yaml, metrics.jsonl, cka/, predictions/
 * and results.json of the folder and of run folders one level down (groups two levels down). Malformed files
 * become problems that name the file; the page shows them instead of failing.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import YAML from 'yaml';
import { parseResultsFile } from '../study/results.js';
import {
  MAX_IMAGE_SIDE,
  isPerEpochKind,
  type CkaData,
  type FolderData,
  type InlineImage,
  type MetricSeries,
  type MetricsData,
  type PredictionFragment,
  type PredictionMap,
  type PredictionsData,
  type ReportData,
  type ScoreJson,
} from './types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const errText = (err: unknown): string => (err instanceof Error ? err.message.split('\n')[0]! : String(err));

/** Parses metrics.jsonl text; malformed lines (e.g. a half-written last line) are counted, not fatal. */
export function parseMetrics(text: string): MetricsData {
  const byKind = new Map<
    string,
    { steps: number[]; times: number[]; rows: Record<string, number>[]; fields: string[] }
  >();
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
    if (
      !isObject(rec) ||
      typeof rec['kind'] !== 'string' ||
      typeof rec['step'] !== 'number' ||
      !Number.isFinite(rec['step'])
    ) {
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
  const base = (): Sharp =>
    sharp(path).resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true });
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
  return {
    src: `data:${mime};base64,${data.toString('base64')}`,
    width: png.info.width,
    height: png.info.height,
    originalWidth: ow,
    originalHeight: oh,
    file: path,
  };
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
      if (!isObject(j) || !Array.isArray(j['labels']))
        throw new Error('expected an object with labels, linear and rbf');
      data.labels = j['labels'].map(String);
      const n = data.labels.length;
      data.linear = numberMatrix(j['linear'], n);
      data.rbf = numberMatrix(j['rbf'], n);
      if (data.linear === null && j['linear'] !== undefined)
        problems.push(`${jsonPath}: linear is not a ${n}x${n} matrix of numbers (one row and column per label)`);
      if (data.rbf === null && j['rbf'] !== undefined)
        problems.push(`${jsonPath}: rbf is not a ${n}x${n} matrix of numbers (one row and column per label)`);
      if (typeof j['rbfThreshold'] === 'number') data.rbfThreshold = j['rbfThreshold'];
      if (typeof j['debiased'] === 'boolean') data.debiased = j['debiased'];
    } catch (err) {
      problems.push(`${jsonPath}: ${errText(err)}`);
    }
  }
  for (const [key, file] of [
    ['linearPng', 'cka_linear.png'],
    ['rbfPng', 'cka_rbf.png'],
  ] as const) {
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
  if (!isObject(j))
    throw new Error(
      `${path}: expected a JSON object like {"f05", "precision", "recall", "iou", "dice", "auc", "threshold"}`,
    );
  const s: ScoreJson = {};
  for (const k of ['f05', 'precision', 'recall', 'iou', 'dice', 'threshold'] as const) {
    const v = j[k];
    if (typeof v === 'number') s[k] = v;
  }
  if (typeof j['auc'] === 'number' || j['auc'] === null) s.auc = j['auc'];
  if (s.f05 === undefined)
    throw new Error(`${path}: has no numeric f05; expected the object inkwell score --json prints`);
  return s;
}

async function readPredictions(dir: string, problems: string[]): Promise<PredictionsData | undefined> {
  const predDir = join(dir, 'predictions');
  if (!existsSync(predDir)) return undefined;
  const entries = await readdir(predDir, { withFileTypes: true });
  const groupDirs: [string, string][] = [];
  if (entries.some((e) => e.isFile() && PRED_FILE.test(e.name))) groupDirs.push(['', predDir]);
  for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name)))
    groupDirs.push([e.name, join(predDir, e.name)]);
  const fragments = new Map<string, PredictionFragment>();
  const ignored: string[] = [];
  const groups: string[] = [];
  for (const [group, gdir] of groupDirs) {
    const files = (await readdir(gdir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
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
    problems.push(
      `${predDir} holds no <id>_prob.png / <id>_labels.png / <id>_ir.png / <id>_mask.png files (directly or one subfolder down)`,
    );
    return undefined;
  }
  const sorted = [...fragments.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return { groups, fragments: sorted, ignored };
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
      folder.problems.push(
        `${metricsPath}: ${bad.length} line(s) skipped (line ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''}); expected one JSON object {kind, step, time, ...numbers} per line`,
      );
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
      const results = parseResultsFile(j, resultsPath);
      folder.comparisons = results.comparisons;
      folder.curves = results.curves;
    } catch (err) {
      folder.problems.push(errText(err));
    }
  }
  return folder;
}

function hasContent(f: FolderData): boolean {
  return (
    f.config !== undefined ||
    f.metrics !== undefined ||
    f.cka !== undefined ||
    f.predictions !== undefined ||
    f.comparisons !== undefined ||
    f.problems.length > 0
  );
}

async function subfolders(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }))
    .filter((x) => x.isDirectory())
    .map((x) => x.name)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/**
 * Reads everything the report shows from `runDir`: the folder itself and, one level down, every run folder
 * (a folder with metrics.jsonl). A subfolder without metrics.jsonl whose own subfolders are runs (e.g.
 * `probe/random-seed1/`, as compareEncoders writes them) is read as a group: the subfolder itself (its
 * results.json, cka/, predictions/) and its runs. Runs and groups come in the order they started.
 */
export async function collectReport(
  runDir: string,
  opts: { title?: string; generatedAt?: Date } = {},
): Promise<ReportData> {
  const root = resolve(runDir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new Error(`report: ${root} is not a folder; expected a run folder or a folder of runs`);
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
    throw new Error(
      `report: ${root} holds no metrics.jsonl, config.yaml, results.json, cka/ or predictions/, and no run folder (with metrics.jsonl) one level down; expected a run folder or a folder of runs`,
    );
  }
  return {
    root,
    title: opts.title ?? `inkwell report: ${basename(root)}`,
    generatedAt: opts.generatedAt ?? new Date(),
    folders: [top, ...subs],
  };
}
