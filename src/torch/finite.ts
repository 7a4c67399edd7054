/**
 * Finite-weights check for loaded state dicts. A checkpoint of a diverged run (or a corrupted file) holds NaN or
 * Inf weights; loaded silently, a model then predicts NaN everywhere, which downstream code turns into an
 * all-zero probability map with exit status 0. Callers check what they load and refuse it by default.
 * The scan reads the IEEE-754 bits (exponent all ones: Inf when the mantissa is 0, NaN otherwise), so float16
 * and bfloat16 need no conversion.
 */
import type { StoredTensor } from './serialization/stored.js';
import { toStored } from './ops/creation.js';
import { Tensor } from './tensor.js';

export interface NonFiniteTensor {
  name: string;
  nan: number;
  inf: number;
  numel: number;
}

/** Exponent mask, mantissa mask and element bytes of each floating dtype (IEEE 754 binary16/32/64, bfloat16). */
const LAYOUT = {
  float16: { exp: 0x7c00, man: 0x03ff, bytes: 2 },
  bfloat16: { exp: 0x7f80, man: 0x007f, bytes: 2 },
  float32: { exp: 0x7f800000, man: 0x007fffff, bytes: 4 },
} as const;

function count(t: StoredTensor): { nan: number; inf: number } {
  let nan = 0;
  let inf = 0;
  // A copy: the stored bytes may sit at any offset, a typed view needs an aligned one.
  const bytes = new Uint8Array(t.data);
  if (t.dtype === 'float64') {
    const hi = new Uint32Array(bytes.buffer); // little-endian: the high word (sign, exponent) is the odd one
    for (let i = 1; i < hi.length; i += 2) {
      if ((hi[i]! & 0x7ff00000) !== 0x7ff00000) continue;
      if ((hi[i]! & 0x000fffff) !== 0 || hi[i - 1] !== 0) nan++;
      else inf++;
    }
    return { nan, inf };
  }
  if (t.dtype !== 'float16' && t.dtype !== 'bfloat16' && t.dtype !== 'float32') return { nan, inf };
  const { exp, man, bytes: size } = LAYOUT[t.dtype];
  const words = size === 2 ? new Uint16Array(bytes.buffer) : new Uint32Array(bytes.buffer);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if ((w & exp) >>> 0 !== exp) continue;
    if ((w & man) !== 0) nan++;
    else inf++;
  }
  return { nan, inf };
}

/** The floating tensors among `entries` that hold NaN or Inf, with their counts (integer tensors are always finite). */
export function nonFiniteTensors(entries: Iterable<[string, Tensor | StoredTensor]>): NonFiniteTensor[] {
  const out: NonFiniteTensor[] = [];
  for (const [name, value] of entries) {
    const stored = value instanceof Tensor ? toStored(value) : value;
    const { nan, inf } = count(stored);
    if (nan + inf > 0) out.push({ name, nan, inf, numel: stored.shape.reduce((a, b) => a * b, 1) });
  }
  return out;
}

export interface FiniteWeightsOptions {
  /** Load non-finite weights anyway, with a warning instead of an error. */
  allowNonFinite?: boolean;
  /** Where the warning goes (default stderr). */
  warn?: (message: string) => void;
  /** How the caller's user allows them (e.g. "pass --allow-nonfinite-weights"), appended to the error. */
  hint?: string;
}

/**
 * Throws when any of `entries` holds NaN or Inf, naming the tensors (up to 8) and the counts; with
 * `allowNonFinite`, warns loudly instead. `source` names the file or model in the message.
 */
export function checkFiniteWeights(
  entries: Iterable<[string, Tensor | StoredTensor]>,
  source: string,
  opts: FiniteWeightsOptions = {},
): NonFiniteTensor[] {
  const bad = nonFiniteTensors(entries);
  if (bad.length === 0) return bad;
  const shown = bad
    .slice(0, 8)
    .map((b) => `${b.name} (${b.nan} NaN, ${b.inf} Inf of ${b.numel})`)
    .join(', ');
  const more = bad.length > 8 ? ` and ${bad.length - 8} more` : '';
  const what = `${source}: ${bad.length} tensor(s) hold non-finite values: ${shown}${more}`;
  if (!opts.allowNonFinite) {
    const hint = opts.hint ? `; ${opts.hint} to load them anyway` : '';
    throw new Error(`${what}; expected finite weights (a diverged or corrupted checkpoint?)${hint}`);
  }
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
  warn(`WARNING: ${what}; loading them anyway as asked - outputs will be NaN or meaningless`);
  return bad;
}
