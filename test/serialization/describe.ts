/**
 * The TypeScript twin of `describe()` in test/fixtures/serialization_fixtures.py: a JSON that says exactly what a
 * value is (floats by their IEEE bits, ints as decimal strings, tensors by dtype, shape, requires_grad and the
 * SHA-256 of their bytes), so values read by inkwell and by PyTorch compare with one deepStrictEqual.
 * Plain JS numbers follow the pickle writer's rule: safe integers (not -0) are ints, the rest floats.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isStoredTensor,
  PyFloat,
  PyGlobalRef,
  PyOrderedDict,
  PyTuple,
  type PyWritable,
  TorchDevice,
  TorchDType,
  TorchStorage,
} from '../../src/torch/serialization/index.js';
import { FIXTURES, hasTorchPython, makeFixtures, runPython } from '../helpers/python.js';

export type Described = { [key: string]: unknown };

function floatHex(v: number): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, false);
  return Buffer.from(b).toString('hex');
}

/** JSON with sorted keys and no spaces: Python's json.dumps(sort_keys=True, separators=(',', ':')). */
function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function describe(v: PyWritable): Described {
  if (v === null) return { t: 'None' };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'bigint') return { t: 'int', v: String(v) };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && !Object.is(v, -0) ? { t: 'int', v: String(v) } : { t: 'float', v: floatHex(v) };
  }
  if (v instanceof PyFloat) return { t: 'float', v: floatHex(v.value) };
  if (typeof v === 'string') return { t: 'str', v };
  if (isStoredTensor(v)) {
    return {
      t: 'tensor',
      dtype: v.dtype,
      shape: [...v.shape],
      requires_grad: v.requiresGrad === true,
      sha256: sha256(v.data),
    };
  }
  if (v instanceof Uint8Array) return { t: 'bytes', v: Buffer.from(v).toString('hex') };
  if (v instanceof TorchDevice) return { t: 'device', v: v.toString() };
  if (v instanceof TorchDType) return { t: 'dtype', v: v.toString() };
  if (v instanceof PyTuple) return { t: 'tuple', v: v.items.map(describe) };
  if (Array.isArray(v)) return { t: 'list', v: v.map(describe) };
  if (v instanceof Set) {
    const items = [...v].map(describe);
    return { t: 'set', v: items.sort((a, b) => (stableStringify(a) < stableStringify(b) ? -1 : 1)) };
  }
  if (v instanceof PyOrderedDict) {
    const d: Described = { t: 'OrderedDict', v: [...v].map(([k, x]) => [describe(k), describe(x)]) };
    const meta = (v as PyOrderedDict).attrs?.get('_metadata');
    if (meta !== undefined) d['attrs'] = { _metadata: describe(meta) };
    return d;
  }
  if (v instanceof Map) return { t: 'dict', v: [...v].map(([k, x]) => [describe(k), describe(x)]) };
  if (v instanceof TorchStorage || v instanceof PyGlobalRef)
    throw new Error(`describe: unexpected ${v.constructor.name}`);
  return { t: 'dict', v: Object.entries(v).map(([k, x]) => [describe(k), describe(x)]) };
}

export interface Fixtures {
  dir: string;
  expected: Record<string, { value: Described; storage_groups?: string[][]; metadata?: Record<string, string> }>;
}

let fixtures: Fixtures | undefined;

/**
 * The PyTorch-written fixtures, or undefined without PyTorch. Made once per version of the fixture script and
 * shared by the test files (each runs in its own process): made in a fresh folder, then renamed into place, so
 * that concurrent test processes never see a half-made set.
 */
export function torchFixtures(): Fixtures | undefined {
  if (!hasTorchPython()) return undefined;
  if (fixtures === undefined) {
    const script = readFileSync(join(FIXTURES, 'serialization_fixtures.py'));
    const dir = join(tmpdir(), `inkwell-serialization-fixtures-${sha256(script).slice(0, 16)}`);
    if (!existsSync(join(dir, 'expected.json'))) {
      const made = makeFixtures('serialization_fixtures.py', 'make');
      try {
        renameSync(made, dir);
      } catch {
        rmSync(made, { recursive: true, force: true }); // another process put its copy in place first
      }
    }
    fixtures = { dir, expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Fixtures['expected'] };
  }
  return fixtures;
}

export interface Verified {
  value: Described;
  storage_groups: string[][];
  weights_only: true | string;
  zip?: {
    entries: { name: string; stored: boolean; aligned64: boolean; size: number }[];
    crc_ok: boolean;
    version: string;
  };
}

/** What PyTorch's torch.load makes of each file (one Python start for all). */
export function torchVerify(...paths: string[]): Verified[] {
  return JSON.parse(runPython('serialization_fixtures.py', [tmpdir(), 'verify', ...paths])) as Verified[];
}

export function pythonReadSafetensors<T>(path: string): T {
  return JSON.parse(runPython('serialization_fixtures.py', [tmpdir(), 'read-safetensors', path])) as T;
}

export function pythonReadNpy(...paths: string[]): { value: Described; fortran: boolean }[] {
  return JSON.parse(runPython('serialization_fixtures.py', [tmpdir(), 'read-npy', ...paths])) as {
    value: Described;
    fortran: boolean;
  }[];
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'inkwell-ser-'));
}
