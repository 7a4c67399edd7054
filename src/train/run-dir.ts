/**
 * A run's folder: `runs/<name>/` with the resolved `config.yaml`, `metrics.jsonl` (one JSON object per logged
 * step), TensorBoard event files (`tensorboard --logdir runs/`), and `checkpoints/epoch_NNNN.pth` pruned to
 * the last N plus every K-th.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../util/atomic.js';
import { saveConfig } from '../util/config.js';
import { EventWriter } from '../util/tensorboard.js';

export interface CheckpointEntry {
  epoch: number;
  path: string;
}

const CKPT = /^epoch_(\d{4,})\.pth$/;

export class RunDir {
  readonly dir: string;
  readonly checkpointsDir: string;
  readonly metricsPath: string;
  #events: EventWriter | null = null;
  #purgeStep: number | undefined;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.checkpointsDir = join(this.dir, 'checkpoints');
    this.metricsPath = join(this.dir, 'metrics.jsonl');
    mkdirSync(this.checkpointsDir, { recursive: true });
  }

  /** `root/name`; refuses to reuse a folder that already has checkpoints unless resuming (or `overwrite`). */
  static open(root: string, name: string, opts: { resume?: boolean; overwrite?: boolean } = {}): RunDir {
    const dir = join(root, name);
    if (!opts.resume && existsSync(join(dir, 'checkpoints'))) {
      const has = readdirSync(join(dir, 'checkpoints')).some((f) => CKPT.test(f));
      if (has && !opts.overwrite) {
        throw new Error(`run ${dir} already has checkpoints: pass --resume to continue it, or choose another --name`);
      }
      if (has) rmSync(dir, { recursive: true, force: true });
    }
    return new RunDir(dir);
  }

  async saveConfig(config: unknown): Promise<void> {
    await saveConfig(join(this.dir, 'config.yaml'), config);
  }

  /** Appends one record to metrics.jsonl and its numeric fields to TensorBoard (as tag `prefix/key`). */
  log(prefix: string, step: number, record: Record<string, number | string | boolean | null>): void {
    appendFileSync(this.metricsPath, JSON.stringify({ kind: prefix, step, time: Date.now() / 1000, ...record }) + '\n');
    const scalars: Record<string, number> = {};
    for (const [k, v] of Object.entries(record)) if (typeof v === 'number') scalars[`${prefix}/${k}`] = v;
    if (Object.keys(scalars).length) {
      this.#events ??= new EventWriter(this.dir, this.#purgeStep === undefined ? {} : { purgeStep: this.#purgeStep });
      this.#events.scalars(step, scalars);
    }
  }

  /**
   * On resume: drops from metrics.jsonl the records past the checkpoint (per-step records of kind `stepKind`
   * after step `step`, per-epoch ones after epoch `epoch`), and makes the next TensorBoard file purge the
   * events from step `step + 1` on, so that what the interrupted run logged and the resumed one logs again
   * appears once. Malformed lines (a half-written last line) are dropped too.
   */
  dropHistoryAfter(step: number, epoch: number, stepKind: string): void {
    this.#events?.close();
    this.#events = null;
    this.#purgeStep = step + 1;
    if (!existsSync(this.metricsPath)) return;
    const kept: string[] = [];
    for (const line of readFileSync(this.metricsPath, 'utf8').split('\n')) {
      let r: { kind?: unknown; step?: unknown };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        continue;
      }
      if (typeof r.step === 'number' && r.step <= (r.kind === stepKind ? step : epoch)) kept.push(line + '\n');
    }
    writeFileAtomicSync(this.metricsPath, kept);
  }

  checkpointPath(epoch: number): string {
    return RunDir.checkpointPathIn(this.dir, epoch);
  }

  /** Where a run folder keeps epoch `epoch`'s checkpoint (no folder is created). */
  static checkpointPathIn(runDir: string, epoch: number): string {
    return join(resolve(runDir), 'checkpoints', `epoch_${String(epoch).padStart(4, '0')}.pth`);
  }

  /** Checkpoints present, oldest first. */
  checkpoints(): CheckpointEntry[] {
    if (!existsSync(this.checkpointsDir)) return [];
    return readdirSync(this.checkpointsDir)
      .map((f) => ({ f, m: CKPT.exec(f) }))
      .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
      .map(({ f, m }) => ({ epoch: Number(m[1]), path: join(this.checkpointsDir, f) }))
      .sort((a, b) => a.epoch - b.epoch);
  }

  latestCheckpoint(): CheckpointEntry | null {
    return this.checkpoints().at(-1) ?? null;
  }

  /** Deletes checkpoints except the last `keepLast` and every epoch divisible by `keepEvery` (0 = none). */
  prune(keepLast: number, keepEvery: number): void {
    const all = this.checkpoints();
    const keep = new Set(all.slice(Math.max(0, all.length - Math.max(1, keepLast))).map((c) => c.epoch));
    for (const c of all) {
      if (keep.has(c.epoch) || (keepEvery > 0 && c.epoch % keepEvery === 0)) continue;
      rmSync(c.path, { force: true });
    }
  }

  close(): void {
    this.#events?.close();
    this.#events = null;
  }
}
