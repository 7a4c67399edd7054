/**
 * Configs: one typed zod schema with defaults per run type; a preset, then YAML/JSON files, then
 * `--set key=value` flags override it, in that order; the resolved config is validated (errors name the key)
 * and saved beside every run and checkpoint.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.js';

export type Plain = { [key: string]: unknown };

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** `override` merged into `base`: objects recursively, everything else (arrays too) replaced. */
export function deepMerge(base: Plain, override: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const cur = out[k];
    out[k] = isPlain(cur) && isPlain(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

/** Reads a YAML or JSON config file into a plain object. */
export async function readConfigFile(path: string): Promise<Plain> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new Error(`config: ${path} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlain(parsed)) throw new Error(`config: ${path} must hold a mapping of settings at the top level`);
  return parsed;
}

/** `["optim.lr=0.1", "data.tileSize=64", "model.arch=resnet3d-18"]` as a nested object (values parsed as YAML scalars/lists). */
export function parseOverrides(pairs: readonly string[]): Plain {
  let out: Plain = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`config: --set expects key=value, got '${pair}'`);
    const path = pair.slice(0, eq).trim().split('.');
    if (path.some((p) => p.length === 0)) throw new Error(`config: bad key '${pair.slice(0, eq)}' in --set ${pair}`);
    const raw = pair.slice(eq + 1);
    let value: unknown;
    try {
      value = YAML.parse(raw);
    } catch {
      value = raw;
    }
    let nested: Plain = { [path.at(-1)!]: value ?? null };
    for (const key of path.slice(0, -1).reverse()) nested = { [key]: nested };
    out = deepMerge(out, nested);
  }
  return out;
}

/** Human-readable zod issues: `optim.lr: expected number, received string`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * Earlier spellings of names that are contracts (presets, protocols, config values) mapped to the current ones:
 * `seed` and `seed-N` named the reference study (younader/VesuviusPretraining) before it had that name.
 */
export const NAME_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  seed: 'reference',
  'seed-1': 'reference-1',
  'seed-2': 'reference-2',
});

/** The current spelling of `name` (itself when it has no older one). */
export function canonicalName(name: string): string {
  return NAME_ALIASES[name] ?? name;
}

/** A zod integer (config counts, sizes and seeds). */
export const int = () => z.number().int();
/** A zod integer >= 1. */
export const positiveInt = () => z.number().int().positive();

/** A zod enum of `names` that also accepts their earlier spellings and stores the current one. */
export function aliasedEnum<const T extends readonly [string, ...string[]]>(names: T) {
  return z.preprocess((v) => (typeof v === 'string' ? canonicalName(v) : v), z.enum(names));
}

/** Validates `layers` merged in order against `schema` (defaults filled in); errors name every bad key. */
export function resolveConfig<S extends z.ZodType>(schema: S, ...layers: Plain[]): z.output<S> {
  const merged = layers.reduce((acc, l) => deepMerge(acc, l), {} as Plain);
  const result = schema.safeParse(merged);
  if (!result.success) throw new Error(`config: ${formatIssues(result.error.issues)}`);
  return result.data;
}

/** Writes the resolved config as YAML (atomically) beside a run or checkpoint. */
export async function saveConfig(path: string, config: unknown): Promise<void> {
  await writeFileAtomic(path, YAML.stringify(config));
}
