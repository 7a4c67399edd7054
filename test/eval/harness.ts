/**
 * Shared by the eval tests: the eval fixtures (test/fixtures/eval_fixtures.py, once per process) and a way to
 * run `inkwell <command>` as a child process: through bin/inkwell when the command is wired into the CLI, else
 * through its command module on a bare commander program with the same error handling as src/cli/main.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeFixtures } from '../helpers/python.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ScoreExpect {
  f05: number;
  precision: number;
  recall: number;
  iou: number;
  dice: number;
  auc: number | null;
  threshold: number;
  counts: {
    tp: number;
    fp: number;
    fn: number;
    tn: number;
    pixels: number;
    positives: number;
    tilesKept?: number;
    tilesTotal?: number;
  };
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

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  via: 'bin' | 'commander';
}

/** Whether src/cli/commands/index.ts registers the command (then bin/inkwell runs it). */
function isWired(command: 'score' | 'cka'): boolean {
  const fn = registerName(command);
  try {
    return readFileSync(join(ROOT, 'src', 'cli', 'commands', 'index.ts'), 'utf8').includes(fn);
  } catch {
    return false;
  }
}

function registerName(command: string): string {
  return `register${command[0]!.toUpperCase()}${command.slice(1)}`;
}

/**
 * Runs each argument list through one command module on a fresh commander program, with src/cli/main.ts's
 * error handling, capturing stdout/stderr per run; prints the runs as JSON. One process for many runs keeps
 * the tests fast (each node start loads libtorch, ~1 s).
 */
const RUN_MANY = `
import { Command, CommanderError } from 'commander';
const [mod, name, json] = process.argv.slice(1);
const register = (await import(mod))[name];
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
const results = [];
for (const args of JSON.parse(json)) {
  let stdout = '';
  let stderr = '';
  process.stdout.write = (c) => { stdout += String(c); return true; };
  process.stderr.write = (c) => { stderr += String(c); return true; };
  const program = new Command('inkwell').exitOverride().configureOutput({ writeOut: (s) => { stdout += s; }, writeErr: (s) => { stderr += s; } });
  register(program);
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode;
    else { stderr += 'inkwell: ' + (e instanceof Error ? e.message : String(e)) + '\\n'; code = 1; }
  }
  process.stdout.write = realOut;
  process.stderr.write = realErr;
  results.push({ code, stdout, stderr, via: 'commander' });
}
realOut(JSON.stringify(results));`;

/** Runs \`inkwell <command> <args>\` for each argument list in one child process (see RUN_MANY). */
export function runCommandBatch(command: 'score' | 'cka', argLists: string[][]): CliRun[] {
  const mod = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'commands', `${command}.js`)).href;
  const full = argLists.map((a) => [command, ...a]);
  const r = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', RUN_MANY, '--', mod, registerName(command), JSON.stringify(full)],
    { encoding: 'utf8', cwd: ROOT },
  );
  if (r.status !== 0) throw new Error(`runCommandBatch ${command}: status ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as CliRun[];
}

/**
 * Runs \`inkwell <command> <args>\` end to end: bin/inkwell when the CLI registers the command, else the
 * command module in a child process.
 */
export function runInkwell(command: 'score' | 'cka', args: string[]): CliRun {
  if (!isWired(command)) return runCommandBatch(command, [args])[0]!;
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'inkwell'), command, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, via: 'bin' };
}
