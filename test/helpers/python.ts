/**
 * Parity tests compare against PyTorch itself, of the same version as the libtorch the addon links: the Python
 * recorded with the build (PyTorch in .torch/py for the default libtorch 2, Debian's python3-torch at
 * /usr/bin/python3 for libtorch 1.13), or INKWELL_TORCH_PYTHON.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torchPython } from '../../src/torch/build.js';

const { python, env: pythonEnv } = torchPython();
export const PYTHON = python;
/** The environment (PYTHONPATH) that PYTHON needs to import its torch. */
export const PYTHON_ENV = pythonEnv;
const here = dirname(fileURLToPath(import.meta.url));
/** The repository's test/fixtures folder (tests run from dist/test/...). */
export const FIXTURES = join(here, '..', '..', '..', 'test', 'fixtures');

let available: boolean | undefined;

/** True when PYTHON can import torch; tests that need it skip (with this reason) otherwise. */
export function hasTorchPython(): boolean {
  available ??= spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore', env: PYTHON_ENV }).status === 0;
  return available;
}

export const NO_TORCH_REASON = `needs PyTorch at ${PYTHON} ('npm test' installs it: see docs/gpu.md)`;

/** Runs test/fixtures/<script> with `args`; throws with its stderr when it fails. Returns stdout. */
export function runPython(
  script: string,
  args: string[] = [],
  opts: { timeoutMs?: number; input?: string } = {},
): string {
  const r = spawnSync(PYTHON, [join(FIXTURES, script), ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    input: opts.input ?? '',
    env: { ...PYTHON_ENV, OMP_NUM_THREADS: '1' },
  });
  if (r.status !== 0)
    throw new Error(`${script} ${args.join(' ')} failed (status ${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Runs a fixture script that writes into a fresh temp folder given as its first argument; returns the folder. */
export function makeFixtures(script: string, ...args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-fx-'));
  runPython(script, [dir, ...args]);
  return dir;
}
