/**
 * The linear probe as an instrument (docs/study-design.md): a per-voxel linear map on cached, standardised
 * depth columns, read out over depth by mean, max or logsumexp, fitted to convergence with L-BFGS and its L2
 * strength chosen on a validation split that is never scored.
 *
 * Standardisation with the training pixels' per-channel mean and standard deviation is a BatchNorm without
 * affine in eval mode (MAE's linear probe, He et al. 2021, appendix A.6): encoders whose raw features differ in
 * scale by orders of magnitude meet the same optimiser on equal terms. A depth mean of a linear map equals a
 * linear map of the depth-mean features, which erases ink confined to a few layers around a wandering surface;
 * max and logsumexp over depth let the probe follow the surface.
 */
import { aucFromTable, scoreTable } from '../util/roc.js';
import type { Columns } from './columns.js';

export type Readout = 'mean' | 'max' | 'lse';
export const READOUTS: readonly Readout[] = ['mean', 'max', 'lse'];

export interface FittedProbe {
  readout: Readout;
  /** Per-channel standardisation fitted on the training columns. */
  mean: Float32Array;
  std: Float32Array;
  weight: Float32Array;
  bias: number;
  weightDecay: number;
  /** Loss at the end of the fit, and the L-BFGS iterations used. */
  loss: number;
  iterations: number;
  /** Validation AUC of each weight decay tried. */
  sweep: { weightDecay: number; valAuc: number | null }[];
}

/** Per-channel mean and standard deviation over every voxel of the columns (std floored at 1e-6). */
export function channelStats(c: Columns): { mean: Float32Array; std: Float32Array } {
  const { channels: C, depth: D, count: N } = c;
  const s = new Float64Array(C);
  const s2 = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let ch = 0; ch < C; ch++) {
      const o = (n * C + ch) * D;
      for (let z = 0; z < D; z++) {
        const v = c.data[o + z]!;
        s[ch] = s[ch]! + v;
        s2[ch] = s2[ch]! + v * v;
      }
    }
  }
  const cnt = N * D;
  const mean = Float32Array.from(s, (v) => v / cnt);
  const std = Float32Array.from(s2, (v, ch) => Math.max(1e-6, Math.sqrt(Math.max(0, v / cnt - mean[ch]! ** 2))));
  return { mean, std };
}

/** The columns standardised with (mean, std): a new [N, C, D] array. */
function standardised(c: Columns, mean: Float32Array, std: Float32Array): Float32Array {
  const { channels: C, depth: D } = c;
  const out = new Float32Array(c.data.length);
  for (let i = 0; i < c.data.length; i++) {
    const ch = Math.floor(i / D) % C;
    out[i] = (c.data[i]! - mean[ch]!) / std[ch]!;
  }
  return out;
}

/**
 * Per-column logits of the probe theta = [w (C), b] on standardised columns x [N, C, D], and, with `dlogit`
 * (dLoss/dlogit per column), the gradient with respect to theta. Plain loops: the problem is tiny (C + 1
 * parameters) and a fit evaluates it hundreds of times, where the tensor path's per-call overhead dominates.
 */
function probeForward(
  x: Float32Array,
  N: number,
  C: number,
  D: number,
  theta: Float64Array,
  how: Readout,
  dlogit?: (n: number, logit: number) => number,
): { logits: Float64Array; grad: Float64Array } {
  const logits = new Float64Array(N);
  const grad = new Float64Array(C + 1);
  const v = new Float64Array(D);
  const dv = new Float64Array(D);
  const b = theta[C]!;
  for (let n = 0; n < N; n++) {
    const o = n * C * D;
    v.fill(b);
    for (let c = 0; c < C; c++) {
      const w = theta[c]!;
      const oc = o + c * D;
      for (let z = 0; z < D; z++) v[z] = v[z]! + w * x[oc + z]!;
    }
    let r: number;
    if (how === 'mean') {
      r = v.reduce((s, t) => s + t, 0) / D;
      dv.fill(1 / D);
    } else {
      let m = -Infinity;
      let arg = 0;
      for (let z = 0; z < D; z++)
        if (v[z]! > m) {
          m = v[z]!;
          arg = z;
        }
      if (how === 'max') {
        r = m;
        dv.fill(0);
        dv[arg] = 1;
      } else {
        // logsumexp - log D: a flat column reads as its value; its gradient is the softmax over depth.
        let s = 0;
        for (let z = 0; z < D; z++) s += Math.exp(v[z]! - m);
        r = m + Math.log(s / D);
        for (let z = 0; z < D; z++) dv[z] = Math.exp(v[z]! - m) / s;
      }
    }
    logits[n] = r;
    if (!dlogit) continue;
    const g = dlogit(n, r);
    if (g === 0) continue;
    for (let z = 0; z < D; z++) {
      const gz = g * dv[z]!;
      if (gz === 0) continue;
      grad[C] = grad[C]! + gz;
      for (let c = 0; c < C; c++) grad[c] = grad[c]! + gz * x[o + c * D + z]!;
    }
  }
  return { logits, grad };
}

/**
 * L-BFGS with backtracking (Armijo) line search on a smooth objective (Nocedal & Wright 2006, algorithm 7.4,
 * two-loop recursion, memory `m`); stops when the gradient's max-norm or the relative loss change is tiny.
 */
export function lbfgs(
  f: (x: Float64Array) => { loss: number; grad: Float64Array },
  x0: Float64Array,
  o: { maxIter?: number; m?: number; tol?: number } = {},
): { x: Float64Array; loss: number; iterations: number } {
  const maxIter = o.maxIter ?? 200;
  const mem = o.m ?? 10;
  const tol = o.tol ?? 1e-7;
  const n = x0.length;
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  let x = Float64Array.from(x0);
  let { loss, grad } = f(x);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  let it = 0;
  for (; it < maxIter; it++) {
    if (grad.reduce((a, v) => Math.max(a, Math.abs(v)), 0) < tol) break;
    // Two-loop recursion: d = -H g.
    const q = Float64Array.from(grad);
    const alpha: number[] = [];
    for (let k = S.length - 1; k >= 0; k--) {
      const a = dot(S[k]!, q) / dot(Y[k]!, S[k]!);
      alpha[k] = a;
      for (let i = 0; i < n; i++) q[i] = q[i]! - a * Y[k]![i]!;
    }
    const gamma = S.length
      ? dot(S.at(-1)!, Y.at(-1)!) / dot(Y.at(-1)!, Y.at(-1)!)
      : 1 / Math.max(1, Math.sqrt(dot(grad, grad)));
    for (let i = 0; i < n; i++) q[i] = q[i]! * gamma;
    for (let k = 0; k < S.length; k++) {
      const b = dot(Y[k]!, q) / dot(Y[k]!, S[k]!);
      for (let i = 0; i < n; i++) q[i] = q[i]! + S[k]![i]! * (alpha[k]! - b);
    }
    const d = q.map((v) => -v);
    let slope = dot(grad, d);
    if (!(slope < 0)) {
      // not a descent direction: restart from steepest descent
      S.length = 0;
      Y.length = 0;
      for (let i = 0; i < n; i++) d[i] = -grad[i]!;
      slope = dot(grad, d);
    }
    let step = 1;
    let next = f(x.map((v, i) => v + step * d[i]!));
    while (!(next.loss <= loss + 1e-4 * step * slope) && step > 1e-10) {
      step *= 0.5;
      next = f(x.map((v, i) => v + step * d[i]!));
    }
    if (!(next.loss <= loss + 1e-4 * step * slope)) break;
    const xn = x.map((v, i) => v + step * d[i]!);
    const s = xn.map((v, i) => v - x[i]!);
    const y = next.grad.map((v, i) => v - grad[i]!);
    if (dot(s, y) > 1e-12) {
      S.push(s);
      Y.push(y);
      if (S.length > mem) {
        S.shift();
        Y.shift();
      }
    }
    const change = Math.abs(loss - next.loss) / Math.max(1, Math.abs(loss));
    x = xn;
    loss = next.loss;
    grad = next.grad;
    if (change < 1e-9) {
      it++;
      break;
    }
  }
  return { x, loss, iterations: it };
}

/**
 * Mean binary cross-entropy with logits plus weightDecay/2 |w|^2, minimised by L-BFGS. The max and logsumexp
 * read-outs start from the depth-mean solution: at zero every depth ties and the max has no descent direction.
 */
function fitOne(
  x: Float32Array,
  labels: Uint8Array,
  C: number,
  D: number,
  readout: Readout,
  weightDecay: number,
  maxIter: number,
): { theta: Float64Array; loss: number; iterations: number } {
  const start =
    readout === 'mean' ? new Float64Array(C + 1) : fitOne(x, labels, C, D, 'mean', weightDecay, maxIter).theta;
  const N = labels.length;
  const objective = (theta: Float64Array) => {
    let loss = 0;
    const { grad } = probeForward(x, N, C, D, theta, readout, (n, r) => {
      const y = labels[n]! > 0 ? 1 : 0;
      // Stable log(1 + exp(-|r|)) form of the BCE with logits.
      loss += Math.max(r, 0) - r * y + Math.log1p(Math.exp(-Math.abs(r)));
      return (1 / (1 + Math.exp(-r)) - y) / N;
    });
    let l2 = 0;
    for (let c = 0; c < C; c++) {
      l2 += theta[c]! ** 2;
      grad[c] = grad[c]! + weightDecay * theta[c]!;
    }
    return { loss: loss / N + (weightDecay / 2) * l2, grad };
  };
  const r = lbfgs(objective, start, { maxIter });
  return { theta: r.x, loss: r.loss, iterations: r.iterations };
}

export interface ProbeFitOptions {
  readout: Readout;
  /** L2 strengths tried; the one with the best validation AUC is kept (default 1e-4, 1e-3, 1e-2, 1e-1). */
  weightDecays?: readonly number[];
  maxIter?: number;
}

/** Fits the probe on `train`, choosing the weight decay by AUC on `val` (never the scored data). */
export function fitLinearProbe(train: Columns, val: Columns, o: ProbeFitOptions): FittedProbe {
  if (train.channels !== val.channels || train.depth !== val.depth) {
    throw new Error(
      `fitLinearProbe: train columns are [${train.channels}, ${train.depth}], validation [${val.channels}, ${val.depth}]`,
    );
  }
  const C = train.channels;
  const { mean, std } = channelStats(train);
  const decays = o.weightDecays ?? [1e-4, 1e-3, 1e-2, 1e-1];
  const xs = standardised(train, mean, std);
  const xv = standardised(val, mean, std);
  let best: { theta: Float64Array; loss: number; iterations: number; wd: number; auc: number } | null = null;
  const sweep: FittedProbe['sweep'] = [];
  for (const wd of decays) {
    const fit = fitOne(xs, train.labels, C, train.depth, o.readout, wd, o.maxIter ?? 150);
    const logits = probeForward(xv, val.count, C, val.depth, fit.theta, o.readout).logits;
    const auc = aucFromTable(scoreTable(logits, val.labels));
    sweep.push({ weightDecay: wd, valAuc: auc });
    if (!best || (auc ?? 0.5) > best.auc) best = { ...fit, wd, auc: auc ?? 0.5 };
  }
  return {
    readout: o.readout,
    mean,
    std,
    weight: Float32Array.from(best!.theta.subarray(0, C)),
    bias: best!.theta[C]!,
    weightDecay: best!.wd,
    loss: best!.loss,
    iterations: best!.iterations,
    sweep,
  };
}

/** Ink probabilities of the columns under a fitted probe. */
export function predictProbe(p: FittedProbe, c: Columns): Float32Array {
  if (c.channels !== p.weight.length) {
    throw new Error(`predictProbe: the probe has ${p.weight.length} channels, the columns ${c.channels}`);
  }
  const theta = new Float64Array(c.channels + 1);
  theta.set(p.weight);
  theta[c.channels] = p.bias;
  const { logits } = probeForward(standardised(c, p.mean, p.std), c.count, c.channels, c.depth, theta, p.readout);
  return Float32Array.from(logits, (v) => 1 / (1 + Math.exp(-v)));
}
