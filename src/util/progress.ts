import cliProgress from 'cli-progress';

/**
 * A progress reporter for long work: a bar on a terminal; without one (a Slurm job, nohup, CI) nothing, or,
 * when the caller asks for `plain` lines, one line every ~30 s (as Lightning's progress in a log file).
 */
export interface Progress {
  /** Advance by `n` units; `info` replaces the trailing text (e.g. `loss 0.53`). */
  tick(n?: number, info?: string): void;
  /** Set the absolute position. */
  update(value: number, info?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Force the bar on or everything off; by default a bar when stderr is a TTY and INKWELL_PROGRESS is not '0'. */
  enabled?: boolean;
  /** Unit shown after the counts, e.g. 'tiles'. */
  unit?: string;
  /**
   * Without a terminal, write `label: value/total unit, info, ETA ...` through `write` (default stderr) every
   * `intervalSeconds` (default INKWELL_PROGRESS_INTERVAL, else 30); the caller reports the end itself.
   */
  plain?: { write?: (line: string) => void; intervalSeconds?: number };
}

type Mode = 'bar' | 'plain' | 'off';

function progressMode(opts: ProgressOptions): Mode {
  if (opts.enabled !== undefined) return opts.enabled ? 'bar' : 'off';
  if (process.env['INKWELL_PROGRESS'] === '0') return 'off';
  if (process.env['INKWELL_PROGRESS'] === '1' || process.stderr.isTTY) return 'bar';
  return opts.plain ? 'plain' : 'off';
}

/** `1h02m`, `3m05s`, `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  return `${s}s`;
}

function intervalSeconds(given: number | undefined): number {
  const env = Number(process.env['INKWELL_PROGRESS_INTERVAL']);
  const v = given ?? (process.env['INKWELL_PROGRESS_INTERVAL'] !== undefined && Number.isFinite(env) ? env : 30);
  if (!(v >= 0))
    throw new Error(`progress: the plain-line interval must be a number of seconds >= 0, got ${String(v)}`);
  return v;
}

function plainProgress(label: string, total: number, unit: string, o: NonNullable<ProgressOptions['plain']>): Progress {
  const write = o.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const every = intervalSeconds(o.intervalSeconds) * 1000;
  const t0 = Date.now();
  let last = t0;
  let value = 0;
  let info = '';
  const line = () => {
    const elapsed = (Date.now() - t0) / 1000;
    const eta = value > 0 ? (elapsed / value) * (total - value) : Number.NaN;
    write(
      `${label}: ${value}/${total}${unit ? ' ' + unit : ''}${info ? `, ${info}` : ''}, ` + `ETA ${formatDuration(eta)}`,
    );
  };
  const moved = () => {
    const now = Date.now();
    if (now - last >= every) {
      last = now;
      line();
    }
  };
  return {
    tick(n = 1, i) {
      value += n;
      if (i !== undefined) info = i;
      moved();
    },
    update(v, i) {
      value = v;
      if (i !== undefined) info = i;
      moved();
    },
    stop() {
      /* the caller's own line reports the end */
    },
  };
}

/** Start a bar with ETA for `total` units of work labelled `label`. */
export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  let value = 0;
  const mode = progressMode(opts);
  const unit = opts.unit ?? '';
  if (mode === 'plain') return plainProgress(label, total, unit, opts.plain!);
  if (mode === 'off') {
    return {
      tick(n = 1) {
        value += n;
      },
      update(v) {
        value = v;
      },
      stop() {
        /* nothing shown */
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {value}/{total}${unit ? ' ' + unit : ''} {percentage}% eta {eta_formatted} {info}`,
      stream: process.stderr,
      hideCursor: false,
      etaBuffer: 20,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  return {
    tick(n = 1, info) {
      value += n;
      bar.update(value, info === undefined ? {} : { info });
    },
    update(v, info) {
      value = v;
      bar.update(v, info === undefined ? {} : { info });
    },
    stop() {
      bar.stop();
    },
  };
}
