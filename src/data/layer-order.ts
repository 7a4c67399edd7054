/**
 * Layer-order detection from a volume's density profile (docs/synthetic-data.md, "Layer order").
 *
 * Convention (the canonical order every reader hands to models): the papyrus surface sits near the middle
 * layer, and the papyrus lies on the higher-numbered side of it (air, or the gap to the next sheet, on the
 * lower-numbered side). A volume stored the other way round is "reversed" and is flipped in z on reading.
 *
 * Statistic: sample small in-plane blocks inside the mask and average each layer over the block (a column
 * profile). Normalise each column to its own 10th..90th percentile range over the layers around the middle,
 * then find the edge nearest the middle: the edge strength g(z) = mean(q[z..z+2]) - mean(q[z-3..z-1]) is
 * computed for edges within 8 layers of the middle and the one with the largest |g| x exp(-d^2 / 32)
 * (d = distance to the middle) is kept, with its sign: positive when density rises with z (papyrus after the
 * surface), negative when it falls. The verdict is the one-sample t statistic of these signed strengths over
 * the columns: t >= 3 canonical, t <= -3 reversed, anything in between undetermined (kept as stored).
 *
 * Why this and not the mean profile: a segment has sheets on both sides of its surface, and where the gap to
 * the neighbouring sheet is narrow the averaged profile is nearly flat at the middle; following each
 * column's own nearest edge keeps the surface's sign. Synthetic checks (test/data/layer-order.test.ts): right
 * on fragments and segments of both synthetic families in both orders; pure noise gives t near 0.
 */

export type LayerOrderChoice = 'auto' | 'as-stored' | 'reversed';
export const LAYER_ORDER_CHOICES: readonly LayerOrderChoice[] = ['auto', 'as-stored', 'reversed'];

export type LayerOrderVerdict = 'canonical' | 'reversed' | 'undetermined';

export interface LayerOrderEvidence {
  verdict: LayerOrderVerdict;
  /** t statistic of the signed edge strengths (positive: papyrus after the surface as stored). */
  t: number;
  /** Mean signed edge strength (in units of each column's 10-90% range). */
  meanEdge: number;
  columns: number;
  /** Middle layer (as stored) the surface is expected near. */
  middle: number;
  /** Mean normalised profile over the layers examined, first layer `from` (as stored). */
  from: number;
  profile: number[];
  /** Why no verdict could be reached, when undetermined for lack of data. */
  reason?: string;
}

/** |t| at or above this decides the order. */
export const LAYER_ORDER_T = 3;
/** Fewer layers than this cannot show a surface with papyrus on one side. */
export const LAYER_ORDER_MIN_LAYERS = 16;
/** Layers examined on each side of the middle. */
const REACH = 12;
/** Edge search radius around the middle, and the width of the edge operator. */
const SEARCH = 8;
const K = 3;
const SIGMA2 = 16;

/** The layers examined, [from, to), for a volume of `layers` layers. */
export function layerOrderWindow(layers: number): [number, number] {
  const mid = Math.floor(layers / 2);
  return [Math.max(0, mid - REACH), Math.min(layers, mid + REACH + 1)];
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))] as number;
}

/** Evidence that decides nothing (the order stays as stored), with the reason. */
export function undetermined(layers: number, reason: string, columns = 0): LayerOrderEvidence {
  const [from] = layerOrderWindow(layers);
  const middle = Math.floor(layers / 2);
  return { verdict: 'undetermined', t: 0, meanEdge: 0, columns, middle, from, profile: [], reason };
}

/**
 * The verdict from column profiles: `columns[c]` holds the mean value of column c on each layer of
 * `layerOrderWindow(layers)` (as stored).
 */
export function layerOrderFromColumns(columns: readonly ArrayLike<number>[], layers: number): LayerOrderEvidence {
  if (layers < LAYER_ORDER_MIN_LAYERS) {
    return undetermined(layers, `${layers} layers, need at least ${LAYER_ORDER_MIN_LAYERS}`);
  }
  const [from, to] = layerOrderWindow(layers);
  const n = to - from;
  const mid = Math.floor(layers / 2) - from;
  const strengths: number[] = [];
  const profile = new Float64Array(n);
  const q = new Float64Array(n);
  for (const c of columns) {
    if (c.length !== n) {
      throw new Error(`layerOrderFromColumns: a column has ${c.length} values, expected ${n} (layers ${from}:${to})`);
    }
    const sorted = Float64Array.from(c).sort();
    const lo = percentile(sorted, 0.1);
    const hi = percentile(sorted, 0.9);
    if (!(hi > lo)) continue;
    for (let z = 0; z < n; z++) q[z] = ((c[z] as number) - lo) / (hi - lo);
    let best = 0;
    let bestW = -1;
    for (let z = Math.max(K, mid - SEARCH + 1); z <= Math.min(n - K, mid + SEARCH); z++) {
      let after = 0;
      let before = 0;
      for (let j = 0; j < K; j++) {
        after += q[z + j] as number;
        before += q[z - 1 - j] as number;
      }
      const g = (after - before) / K;
      const d = z - 0.5 - mid;
      const w = Math.abs(g) * Math.exp(-(d * d) / (2 * SIGMA2));
      if (w > bestW) {
        bestW = w;
        best = g;
      }
    }
    strengths.push(best);
    for (let z = 0; z < n; z++) profile[z] = (profile[z] as number) + (q[z] as number);
  }
  const m = strengths.length;
  if (m < 16) return undetermined(layers, `${m} usable columns, need at least 16`, m);
  let mean = 0;
  for (const s of strengths) mean += s;
  mean /= m;
  let ss = 0;
  for (const s of strengths) ss += (s - mean) * (s - mean);
  const se = Math.sqrt(ss / (m - 1) / m);
  const t = se > 0 ? mean / se : mean === 0 ? 0 : Math.sign(mean) * Infinity;
  const verdict: LayerOrderVerdict =
    t >= LAYER_ORDER_T ? 'canonical' : t <= -LAYER_ORDER_T ? 'reversed' : 'undetermined';
  return {
    verdict,
    t: Number.isFinite(t) ? t : Math.sign(t) * 1e9,
    meanEdge: mean,
    columns: m,
    middle: from + mid,
    from,
    profile: Array.from(profile, (v) => Math.round((100 * v) / m) / 100),
  };
}

/** What the detector needs of a volume: its layers as stored, windows of raw values, and the mask. */
export interface LayerOrderSource {
  readonly depth: number;
  readonly height: number;
  readonly width: number;
  readWindow(
    z0: number,
    z1: number,
    y0: number,
    y1: number,
    x0: number,
    x1: number,
  ): Promise<{ data: ArrayLike<number> }>;
  readMask(): Promise<Uint8Array | null>;
}

export interface DetectLayerOrderOptions {
  /** Windows read (each split into blocks of `block` px), default 64 windows of 32 px, 8 px blocks. */
  windows?: number;
  size?: number;
  block?: number;
  seed?: number;
}

/**
 * Reads `windows` random windows inside the mask over the layers around the middle (an as-stored view at
 * full resolution), splits them into blocks that lie wholly inside the mask, and returns the verdict.
 */
export async function detectLayerOrder(
  src: LayerOrderSource,
  opts: DetectLayerOrderOptions = {},
): Promise<LayerOrderEvidence> {
  const L = src.depth;
  if (L < LAYER_ORDER_MIN_LAYERS) return undetermined(L, `${L} layers, need at least ${LAYER_ORDER_MIN_LAYERS}`);
  const H = src.height;
  const W = src.width;
  const size = Math.min(opts.size ?? 32, H, W);
  const block = Math.min(opts.block ?? 8, size);
  const windows = opts.windows ?? 64;
  const mask = await src.readMask();
  const [from, to] = layerOrderWindow(L);
  const n = to - from;
  // A small LCG: the sample only needs to be spread and repeatable.
  let state = (opts.seed ?? 12345) >>> 0;
  const rand = (k: number): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return Math.floor((state / 4294967296) * k);
  };
  const columns: Float64Array[] = [];
  const inside = (y0: number, x0: number, h: number, w: number): boolean => {
    if (!mask) return true;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (mask[y * W + x] === 0) return false;
    return true;
  };
  for (let i = 0, tries = 0; i < windows && tries < windows * 50; tries++) {
    const y0 = rand(H - size + 1);
    const x0 = rand(W - size + 1);
    if (mask && mask[(y0 + (size >> 1)) * W + x0 + (size >> 1)] === 0) continue;
    i++;
    const win = await src.readWindow(from, to, y0, y0 + size, x0, x0 + size);
    for (let by = 0; by + block <= size; by += block) {
      for (let bx = 0; bx + block <= size; bx += block) {
        if (!inside(y0 + by, x0 + bx, block, block)) continue;
        const c = new Float64Array(n);
        for (let z = 0; z < n; z++) {
          let s = 0;
          for (let y = by; y < by + block; y++) {
            for (let x = bx; x < bx + block; x++) s += win.data[(z * size + y) * size + x] as number;
          }
          c[z] = s / (block * block);
        }
        columns.push(c);
      }
    }
  }
  return layerOrderFromColumns(columns, L);
}

/** One line for people: the verdict and its evidence. */
export function describeLayerOrder(e: LayerOrderEvidence): string {
  if (e.reason) return `undetermined (${e.reason})`;
  const what =
    e.verdict === 'canonical'
      ? 'papyrus after the surface as stored'
      : e.verdict === 'reversed'
        ? 'papyrus before the surface as stored'
        : `no clear side, |t| < ${LAYER_ORDER_T}`;
  return `${e.verdict} (${what}; surface-edge t ${e.t.toFixed(1)} over ${e.columns} columns near layer ${e.middle})`;
}
