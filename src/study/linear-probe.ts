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
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
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

/** [N, D, C] standardised tensor of the columns (owned by the caller's scope). */
function standardised(c: Columns, mean: Float32Array, std: Float32Array): Tensor {
  const x = torch.fromTypedArray(c.data, [c.count, c.channels, c.depth]);
  return x.sub(torch.fromTypedArray(mean, [1, c.channels, 1])).div(torch.fromTypedArray(std, [1, c.channels, 1])).transpose(1, 2);
}

/** Logit per column from per-voxel logits [N, D]; logsumexp is shifted by log D so a flat column reads as its value. */
function readOut(v: Tensor, how: Readout): Tensor {
  if (how === 'mean') return v.mean(1);
  if (how === 'max') return v.amax(1);
  const m = v.amax(1, true).detach();
  return v.sub(m).exp().mean(1).log().add(m.squeeze(1));
}

/**
 * L-BFGS with backtracking (Armijo) line search on a smooth objective (Nocedal & Wright 2006, algorithm 7.4,
 * two-loop recursion, memory `m`); stops when the gradient's max-norm or the relative loss change is tiny.
 */
export function lbfgs(f: (x: Float64Array) => { loss: number; grad: Float64Array }, x0: Float64Array, o: { maxIter?: number; m?: number; tol?: number } = {}): { x: Float64Array; loss: number; iterations: number } {
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
    const gamma = S.length ? dot(S.at(-1)!, Y.at(-1)!) / dot(Y.at(-1)!, Y.at(-1)!) : 1 / Math.max(1, Math.sqrt(dot(grad, grad)));
    for (let i = 0; i < n; i++) q[i] = q[i]! * gamma;
    for (let k = 0; k < S.length; k++) {
      const b = dot(Y[k]!, q) / dot(Y[k]!, S[k]!);
      for (let i = 0; i < n; i++) q[i] = q[i]! + S[k]![i]! * (alpha[k]! - b);
    }
    const d = q.map((v) => -v);
    let slope = dot(grad, d);
    if (!(slope < 0)) { // not a descent direction: restart from steepest descent
      S.length = 0; Y.length = 0;
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
      S.push(s); Y.push(y);
      if (S.length > mem) { S.shift(); Y.shift(); }
    }
    const change = Math.abs(loss - next.loss) / Math.max(1, Math.abs(loss));
    x = xn; loss = next.loss; grad = next.grad;
    if (change < 1e-9) { it++; break; }
  }
  return { x, loss, iterations: it };
}

function fitOne(xs: Tensor, y: Tensor, C: number, readout: Readout, weightDecay: number, maxIter: number): { theta: Float64Array; loss: number; iterations: number } {
  const objective = (theta: Float64Array) => torch.tidy(() => {
    const w = torch.fromTypedArray(Float32Array.from(theta.subarray(0, C)), [C, 1]).requiresGrad_();
    const b = torch.fromTypedArray(Float32Array.of(theta[C]!), [1]).requiresGrad_();
    const logits = readOut(xs.matmul(w).squeeze(2).add(b), readout);
    const loss = F.binaryCrossEntropyWithLogits(logits, y).add(w.square().sum().mul(weightDecay / 2));
    loss.backward();
    const grad = new Float64Array(C + 1);
    grad.set(w.grad!.toTypedArray() as Float32Array, 0);
    grad[C] = (b.grad!.toTypedArray() as Float32Array)[0]!;
    return { loss: loss.item(), grad };
  });
  const r = lbfgs(objective, new Float64Array(C + 1), { maxIter });
  return { theta: r.x, loss: r.loss, iterations: r.iterations };
}

function logitsOf(xs: Tensor, theta: Float64Array, C: number, readout: Readout): Float32Array {
  return torch.tidy(() => torch.noGrad(() => {
    const w = torch.fromTypedArray(Float32Array.from(theta.subarray(0, C)), [C, 1]);
    return readOut(xs.matmul(w).squeeze(2).add(theta[C]!), readout).toTypedArray() as Float32Array;
  }));
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
    throw new Error(`fitLinearProbe: train columns are [${train.channels}, ${train.depth}], validation [${val.channels}, ${val.depth}]`);
  }
  const C = train.channels;
  const { mean, std } = channelStats(train);
  const decays = o.weightDecays ?? [1e-4, 1e-3, 1e-2, 1e-1];
  return torch.tidy(() => {
    const xs = standardised(train, mean, std);
    const xv = standardised(val, mean, std);
    const y = torch.fromTypedArray(Float32Array.from(train.labels), [train.count]);
    let best: { theta: Float64Array; loss: number; iterations: number; wd: number; auc: number } | null = null;
    const sweep: FittedProbe['sweep'] = [];
    for (const wd of decays) {
      const fit = fitOne(xs, y, C, o.readout, wd, o.maxIter ?? 150);
      const auc = aucFromTable(scoreTable(logitsOf(xv, fit.theta, C, o.readout), val.labels));
      sweep.push({ weightDecay: wd, valAuc: auc });
      if (!best || (auc ?? 0.5) > best.auc) best = { ...fit, wd, auc: auc ?? 0.5 };
    }
    return {
      readout: o.readout, mean, std, weight: Float32Array.from(best!.theta.subarray(0, C)), bias: best!.theta[C]!,
      weightDecay: best!.wd, loss: best!.loss, iterations: best!.iterations, sweep,
    };
  });
}

/** Ink probabilities of the columns under a fitted probe. */
export function predictProbe(p: FittedProbe, c: Columns): Float32Array {
  if (c.channels !== p.weight.length) throw new Error(`predictProbe: the probe has ${p.weight.length} channels, the columns ${c.channels}`);
  const theta = new Float64Array(c.channels + 1);
  theta.set(p.weight);
  theta[c.channels] = p.bias;
  const logits = torch.tidy(() => logitsOf(standardised(c, p.mean, p.std), theta, c.channels, p.readout));
  return logits.map((v) => 1 / (1 + Math.exp(-v)));
}
