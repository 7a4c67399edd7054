/**
 * Shared by the eval tests: the eval fixtures (test/fixtures/eval_fixtures.py, once per process) and a way to
 * run `inkwell <command>`: through bin/inkwell when the command is wired into the CLI, else through commander
 * in-process with the same error handling as src/cli/main.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { makeFixtures } from '../helpers/python.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ScoreExpect {
  f05: number; precision: number; recall: number; iou: number; dice: number; auc: number | null; threshold: number;
  counts: { tp: number; fp: number; fn: number; tn: number; pixels: number; positives: number; tilesKept?: number; tilesTotal?: number };
}

export interface EvalExpected {
  scores: { height: number; width: number; cases: Record<string, ScoreExpect> };
  cka: Record<string, Record<string, number | number[][]>>;
  viridis: [number, number, number, number][] | null;
}

let cached: { dir: string; expected: EvalExpected } | undefined;

export function evalFixtures(): { dir: string; expected: EvalExpected } {
  if (!cached) {
    const dir = makeFixtures('eval_fixtures.py');
    cached = { dir, expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as EvalExpected };
  }
  return cached;
}

export interface CliRun { code: number; stdout: string; stderr: string; via: 'bin' | 'commander' }

const wired = new Map<string, boolean>();

function isWired(command: string): boolean {
  if (!wired.has(command)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'inkwell'), command, '--help'], { encoding: 'utf8', cwd: ROOT });
    wired.set(command, r.status === 0 && r.stdout.includes(command));
  }
  return wired.get(command)!;
}

/** Runs `inkwell <args>`; `register` adds the command when the CLI does not list it yet. */
export async function runInkwell(register: (program: Command) => void, args: string[]): Promise<CliRun> {
  if (isWired(args[0]!)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'inkwell'), ...args], { encoding: 'utf8', cwd: ROOT });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, via: 'bin' };
  }
  let out = '';
  let err = '';
  const program = new Command('inkwell').exitOverride().configureOutput({ writeErr: (s) => { err += s; }, writeOut: (s) => { out += s; } });
  register(program);
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => { out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(); return true; }) as typeof process.stdout.write;
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode;
    else {
      err += `inkwell: ${e instanceof Error ? e.message : String(e)}\n`;
      code = 1;
    }
  } finally {
    process.stdout.write = write;
  }
  return { code, stdout: out, stderr: err, via: 'commander' };
}
