/**
 * Where the native addon was built and which libtorch it runs: native/build.cjs writes `torch.json` beside the
 * addon (version, where the libtorch came from, and the Python whose PyTorch is that same libtorch). The build
 * folder is native/build, or INKWELL_BUILD_DIR (CI builds one per libtorch: see docs/gpu.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/src/torch -> repo root
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BUILD_DIR = resolve(REPO_ROOT, process.env['INKWELL_BUILD_DIR'] ?? join('native', 'build'));
export const ADDON_PATH = join(BUILD_DIR, 'Release', 'inkwell.node');

/** The build record (native/build.cjs). */
export interface TorchBuild {
  /** libtorch version from its headers, e.g. "2.15.0". */
  version: string;
  /** Where the libtorch came from: "PyPI torch 2.15.0 in .torch/py", "Debian libtorch-dev", "TORCH_DIR=...". */
  source: string;
  torchDir: string | null;
  /** A Python whose `import torch` is this libtorch, and the PYTHONPATH it needs (null: none known). */
  python: string | null;
  pythonPath: string | null;
}

export function torchBuild(): TorchBuild | null {
  const file = join(BUILD_DIR, 'torch.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as TorchBuild) : null;
}

/**
 * The Python that runs PyTorch beside inkwell (parity fixtures, benchmark peers): INKWELL_TORCH_PYTHON, else the
 * one recorded with the build, else Debian's /usr/bin/python3 (python3-torch). `env` carries its PYTHONPATH.
 */
export function torchPython(): { python: string; env: NodeJS.ProcessEnv } {
  const override = process.env['INKWELL_TORCH_PYTHON'];
  const build = override ? null : torchBuild();
  const python = override ?? build?.python ?? '/usr/bin/python3';
  const path = [build?.pythonPath, process.env['PYTHONPATH']].filter((p): p is string => !!p).join(':');
  return { python, env: { ...process.env, ...(path ? { PYTHONPATH: path } : {}) } };
}
