/** Runs `bin/inkwell` as a child process, as a user would, and lists folders after it. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function inkwell(args: string[], timeoutMs = 120_000): CliRun {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'inkwell'), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, INKWELL_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Every entry under `dir`, recursively, as relative paths (hidden temp files included). */
export function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

/** A temp folder for one test file; `cleanup` removes it. */
export function scratch(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
