/**
 * Shared pieces of the model tests: the PyTorch fixture manifest (test/fixtures/models_fixtures.py) and the
 * error measure the parity tests assert on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResNet3DOptions } from '../../src/models/index.js';
import * as torch from '../../src/torch/index.js';
import type { nn, Tensor } from '../../src/torch/index.js';
import { assertClose } from '../helpers/compare.js';

export interface EncoderCase {
  name: string;
  seed: number;
  options: Omit<ResNet3DOptions, 'name'>;
  keys: string[];
}
export interface SegCase extends EncoderCase {
  decoder: 'unet' | 'probe';
  depthPool: 'mean' | 'max';
  output: 'full' | 'half' | 'quarter';
}
export interface HeadCase {
  name: string;
  seed: number;
  dims: number[];
  hiddenBias: boolean;
  lastBias: boolean;
  params: number;
  keys: string[];
}
export interface Manifest {
  encoders: EncoderCase[];
  segmentation: SegCase[];
  heads: HeadCase[];
  train: { name: string };
  kinetics: { options: Omit<ResNet3DOptions, 'name'>; missing: string[]; unexpected: string[] };
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/**
 * `m`, built right after manualSeed(c.seed), has its PyTorch twin's state-dict names in the same order and
 * bit-identical initial weights (<name>.init.pth in the fixture folder `dir`).
 */
export async function assertSeededInit(dir: string, c: { name: string; keys: string[] }, m: nn.Module): Promise<void> {
  const sd = m.stateDict();
  assert.deepEqual([...sd.keys()], c.keys, `${c.name}: state-dict keys`);
  const init = await torch.readStateDict(join(dir, `${c.name}.init.pth`));
  torch.tidy(() => {
    for (const [k, v] of sd) assertClose(v, init.get(k)!, `${c.name} init ${k}`, { rtol: 0, atol: 0 });
  });
}

/** max |a - e| / max |e|: the relative error of a whole output, robust to elements near zero. */
export function relError(actual: Tensor, expected: Tensor): number {
  assert.deepEqual(
    [...actual.shape],
    [...expected.shape],
    `shape ${JSON.stringify(actual.shape)} != expected ${JSON.stringify(expected.shape)}`,
  );
  const a = actual.toFloat32Array();
  const e = expected.toFloat32Array();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(a[i]!) || Number.isNaN(e[i]!)) return Number.POSITIVE_INFINITY;
    diff = Math.max(diff, Math.abs(a[i]! - e[i]!));
    scale = Math.max(scale, Math.abs(e[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Asserts relError <= tol (default 1e-4) and returns it for the test's diagnostics. */
export function assertRel(actual: Tensor, expected: Tensor, what: string, tol = 1e-4): number {
  const err = relError(actual, expected);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
  return err;
}
