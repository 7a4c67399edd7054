import cliProgress from 'cli-progress';

/** A progress reporter for long work; a no-op when stderr is not a terminal or INKWELL_PROGRESS=0. */
export interface Progress {
  /** Advance by `n` units; `info` replaces the trailing text (e.g. `loss 0.53`). */
  tick(n?: number, info?: string): void;
  /** Set the absolute position. */
  update(value: number, info?: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Force on/off; by default on when stderr is a TTY and INKWELL_PROGRESS is not '0'. */
  enabled?: boolean;
  /** Unit shown after the counts, e.g. 'tiles'. */
  unit?: string;
}

function progressEnabled(opts: ProgressOptions): boolean {
  if (opts.enabled !== undefined) return opts.enabled;
  if (process.env['INKWELL_PROGRESS'] === '0') return false;
  if (process.env['INKWELL_PROGRESS'] === '1') return true;
  return Boolean(process.stderr.isTTY);
}

/** Start a bar with ETA for `total` units of work labelled `label`. */
export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  let value = 0;
  if (!progressEnabled(opts)) {
    return {
      tick(n = 1) { value += n; },
      update(v) { value = v; },
      stop() { /* nothing shown */ },
    };
  }
  const unit = opts.unit ?? '';
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
    tick(n = 1, info) { value += n; bar.update(value, info === undefined ? {} : { info }); },
    update(v, info) { value = v; bar.update(v, info === undefined ? {} : { info }); },
    stop() { bar.stop(); },
  };
}
