/**
 * The PyTorch column of side-by-side benchmarks: a long-lived Python process (the PyTorch of the libtorch the
 * addon links, see torchPython) that times named cases on request, so that TS and PyTorch repetitions interleave
 * within one run.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { dirname, join } from 'node:path';
import { median } from '../util/stats.js';
import { fileURLToPath } from 'node:url';
import { torchPython } from '../torch/build.js';

const { python: TORCH_PYTHON, env: PYTHON_ENV } = torchPython();
export { TORCH_PYTHON };
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Null (with the reason) when TORCH_PYTHON cannot import torch. */
export function pythonTorchMissing(): string | null {
  const r = spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { stdio: 'ignore', env: PYTHON_ENV });
  return r.status === 0
    ? null
    : `PyTorch not found at ${TORCH_PYTHON} ('npm run bootstrap' installs it): PyTorch column skipped`;
}

export class PythonPeer {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #pending: ((line: string) => void)[] = [];
  #stderr = '';

  private constructor(script: string, args: string[]) {
    this.#proc = spawn(TORCH_PYTHON, [join(root, 'src', 'bench', 'peers', script), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: PYTHON_ENV,
    });
    this.#proc.stderr.on('data', (d: Buffer) => {
      this.#stderr += d.toString();
    });
    this.#lines = createInterface({ input: this.#proc.stdout });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
  }

  /** Starts `bench/<script>` and waits for its ready line. */
  static async start(
    script: string,
    args: string[] = [],
  ): Promise<{ peer: PythonPeer; info: Record<string, unknown> }> {
    const peer = new PythonPeer(script, args);
    const info = await peer.#next();
    return { peer, info };
  }

  #next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(
          new Error(
            `PyTorch benchmark peer exited (${code}): ${this.#stderr.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
      this.#proc.once('exit', onExit);
      this.#pending.push((line) => {
        this.#proc.off('exit', onExit);
        resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
  }

  /** Times `reps` runs of `name` in PyTorch; milliseconds per run. */
  async time(name: string, reps: number, extra: Record<string, unknown> = {}): Promise<number[]> {
    this.#proc.stdin.write(JSON.stringify({ case: name, reps, ...extra }) + '\n');
    const reply = await this.#next();
    return reply['ms'] as number[];
  }

  close(): void {
    this.#proc.stdin.write(JSON.stringify({ quit: true }) + '\n');
    this.#proc.stdin.end();
  }
}

export { median } from '../util/stats.js';

function timeTs(run: () => void, reps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * Times `run` (inkwell) and the peer's case `name` (PyTorch) side by side: `warmup` runs each (oneDNN primitive
 * creation, the allocator), then `rounds` alternating rounds of `reps` runs each, so that machine noise hits both
 * columns alike. Medians in ms; the PyTorch one is null without a peer.
 */
export async function timeSideBySide(
  run: () => void,
  peer: PythonPeer | null,
  name: string,
  o: { warmup: number; rounds: number; reps: number },
): Promise<{ tsMs: number; pyMs: number | null; roundRatios: number[] }> {
  timeTs(run, o.warmup);
  if (peer) await peer.time(name, o.warmup);
  const ts: number[] = [];
  const py: number[] = [];
  // Each round's inkwell/PyTorch ratio (medians of its reps): their spread shows how far one run can be trusted.
  const roundRatios: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const t = timeTs(run, o.reps);
    ts.push(...t);
    if (!peer) continue;
    const p = await peer.time(name, o.reps);
    py.push(...p);
    roundRatios.push(median(t) / median(p));
  }
  return { tsMs: median(ts), pyMs: peer ? median(py) : null, roundRatios };
}
