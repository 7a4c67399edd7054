/**
 * bench distributed: a tiny run returns consistent figures (communication share in (0,1), the buckets that were
 * allreduced, the 2-worker and 1-worker step times), and the 8-GPU estimate follows its ring formula.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchDistributed, estimateAllreduce, printDistributed } from '../../src/bench/distributed.js';
import * as torch from '../../src/torch/index.js';

const gloo = torch.distributed.availableBackends().includes('gloo');

describe('bench distributed', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  it('the NCCL estimate is 2(n-1)/n x bytes / bandwidth + latency per bucket', () => {
    const e = estimateAllreduce({
      arch: 'resnet3d-10',
      projector: [16, 16],
      gpus: 8,
      bucketCapMB: 1,
      gpuInput: [2, 1, 16, 64, 64],
      gpuTflops: 10,
    });
    assert.equal(
      e.bucket_bytes.reduce((a, b) => a + b, 0),
      e.gradient_bytes,
    );
    assert.equal(e.gradient_bytes, 4 * e.parameters);
    assert.ok(e.bucket_bytes.length > 1, `a 1 MB cap makes several buckets (${e.bucket_bytes.length})`);
    for (const l of e.links) {
      const expected = e.bucket_bytes.reduce(
        (t, b) => t + ((1.75 * b) / (l.bus_gbps * 1e9)) * 1e3 + (14 * l.latency_us) / 1e3,
        0,
      );
      assert.ok(Math.abs(l.allreduce_ms - expected) < 0.01, `${l.name}: ${l.allreduce_ms} vs ${expected}`);
      assert.ok(l.share_no_overlap > 0 && l.share_no_overlap < 1 && l.share_with_overlap <= l.share_no_overlap);
    }
  });

  it('a tiny run measures the step, the allreduce alone and what of it backward hides', async () => {
    const r = await benchDistributed({
      arch: 'resnet3d-10',
      widenFactor: 0.125,
      input: [2, 1, 10, 24, 24],
      projector: [16, 16],
      steps: 2,
      warmup: 1,
      threads: 2,
    });
    assert.equal(r.workers, 2);
    assert.equal(r.global_batch, 4);
    assert.ok(r.step_ms > 0 && r.single_step_ms > 0 && r.single_worker_threads_step_ms > 0);
    assert.ok(r.comm_ms_per_step > 0 && r.comm_ms_per_step < r.step_ms, `comm ${r.comm_ms_per_step} of ${r.step_ms}`);
    assert.ok(r.comm_fraction > 0 && r.comm_fraction < 1);
    assert.ok(r.backward_ms > 0 && r.local_backward_ms > 0 && r.backward_ms < r.step_ms);
    assert.ok(Math.abs(r.exposed_comm_ms_per_step - Math.max(0, r.backward_ms - r.local_backward_ms)) < 0.2);
    assert.ok(r.overlap_fraction >= 0 && r.overlap_fraction <= 1);
    assert.equal(r.overlaps_backward, r.overlap_fraction >= 0.2);
    assert.ok(
      r.gradient_ready_ms[0] >= 0 && r.gradient_ready_ms[0] < r.gradient_ready_ms[1],
      `gradients reach the Reducer one by one during backward: ${r.gradient_ready_ms} ms`,
    );
    assert.ok(Math.abs(r.scaling_efficiency - r.single_step_ms / r.step_ms) < 0.01);
    assert.ok(r.bucket_bytes.length >= 1, 'the Reducer reported its buckets');
    assert.equal(
      r.bucket_bytes.reduce((a, b) => a + b, 0),
      r.gradient_bytes,
    );
    const lines: string[] = [];
    printDistributed(r, (l) => lines.push(l));
    assert.match(lines.join('\n'), /gradient allreduce alone [\d.]+ ms = [\d.]+% of the step/);
    assert.match(lines.join('\n'), /backward [\d.]+ ms synchronised vs [\d.]+ ms local: [\d.]+ ms exposed/);
    assert.match(lines.join('\n'), /8 GPUs with NCCL ring allreduce/);
  });
});
