/**
 * Data parallelism (src/train/ddp.ts) on loopback Gloo: 2 workers with batch B end with the same parameters and
 * batch-norm statistics as 1 worker with batch 2B after several SGD steps - for resnet3d-10 with SyncBatchNorm
 * and for VICReg with variance/covariance on gathered embeddings - while per-rank batch norm (the control) does
 * not. The workers are started by the test through the launcher variables (the env path external launchers
 * use). Also: DistributedSampler-style shards, SyncBatchNorm conversion keeping names and tensors, the
 * launcher's flag handling.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createEncoder } from '../../src/models/registry.js';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { DataParallel } from '../../src/train/ddp.js';
import { freePort, launchPlan, stripLaunchArgs } from '../../src/train/launch.js';
import { type ChildResult, collect, launcherEnv } from '../helpers/child.js';
import { FIXTURES } from '../helpers/python.js';

/** Starts `world` ddp_worker.mjs processes with RANK/WORLD_SIZE/... (or one plain process when world is 1). */
function workers(mode: string, world: number, env: Record<string, string>, port: number): Promise<ChildResult[]> {
  return Promise.all(
    Array.from({ length: world }, (_, rank) => {
      const launcher = world > 1 ? launcherEnv(rank, world, port) : {};
      const child = spawn(process.execPath, [join(FIXTURES, 'ddp_worker.mjs'), mode], {
        env: { ...process.env, INKWELL_NUM_THREADS: '1', ...launcher, ...env },
      });
      return collect(child, 60_000);
    }),
  );
}

/** Per tensor: ||a - b|| / (||a|| + 1e-6), the largest over the state dict, and where. */
async function worstRelative(a: string, b: string): Promise<{ worst: number; key: string; keys: number }> {
  const A = await torch.readStateDict(a);
  const B = await torch.readStateDict(b);
  assert.deepEqual([...A.keys()], [...B.keys()]);
  let worst = 0;
  let key = '';
  torch.tidy(() => {
    for (const [k, v] of A) {
      const x = torch.fromStored(v).to('float64');
      const y = torch.fromStored(B.get(k)!).to('float64');
      const rel = x.sub(y).norm().item() / (x.norm().item() + 1e-6);
      if (rel > worst) {
        worst = rel;
        key = k;
      }
    }
  });
  return { worst, key, keys: A.size };
}

async function compareModes(mode: string, env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), `inkwell-ddp-${mode}-`));
  const single = await workers(mode, 1, { ...env, OUT: join(dir, 'one.pth') }, 0);
  assert.equal(single[0]!.code, 0, single[0]!.stderr);
  const two = await workers(mode, 2, { ...env, OUT: join(dir, 'two.pth') }, await freePort());
  for (const [r, w] of two.entries()) assert.equal(w.code, 0, `rank ${r}: ${w.stderr}`);
  const control = await workers(mode, 2, { ...env, SYNC_BN: '0', OUT: join(dir, 'control.pth') }, await freePort());
  for (const [r, w] of control.entries()) assert.equal(w.code, 0, `control rank ${r}: ${w.stderr}`);
  return {
    parity: await worstRelative(join(dir, 'one.pth'), join(dir, 'two.pth')),
    ranks: await worstRelative(join(dir, 'two.pth'), join(dir, 'two.rank1.pth')),
    control: await worstRelative(join(dir, 'one.pth'), join(dir, 'control.pth')),
    buckets: (JSON.parse(two[0]!.stdout.trim().split('\n').at(-1)!) as { buckets: number }).buckets,
  };
}

const gloo = torch.distributed.availableBackends().includes('gloo');

describe('data parallel: 2 workers x B = 1 worker x 2B', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  it('resnet3d-10 with SyncBatchNorm: parameters and running statistics after 3 SGD steps', async () => {
    const r = await compareModes('resnet', { GLOBAL_BATCH: '4', STEPS: '3', LR: '0.05' });
    // Each worker started from a differently seeded model: rank 0's broadcast made them equal, and they stay so.
    assert.equal(r.ranks.worst, 0, `ranks differ at ${r.ranks.key}`);
    assert.ok(r.parity.worst < 1e-3, `1 x 2B vs 2 x B: ${r.parity.worst} at ${r.parity.key}`);
    assert.ok(
      r.control.worst > 0.05,
      `without SyncBatchNorm the runs should differ (${r.control.worst} at ${r.control.key})`,
    );
    assert.ok(r.buckets > 1, `a 50 KB bucket cap splits the gradients into several buckets (${r.buckets})`);
    assert.ok(r.parity.keys > 50);
  });

  it('VICReg: invariance on local pairs, variance/covariance on gathered embeddings (encoder + BN projector)', async () => {
    const r = await compareModes('vicreg', { GLOBAL_BATCH: '8', STEPS: '3', LR: '0.001' });
    assert.equal(r.ranks.worst, 0, `ranks differ at ${r.ranks.key}`);
    assert.ok(r.parity.worst < 1e-3, `1 x 2B vs 2 x B: ${r.parity.worst} at ${r.parity.key}`);
    assert.ok(r.control.worst > 0.05, `control: ${r.control.worst}`);
  });
});

describe('data parallel: parameters outside the loss', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  // The projector takes part in the loss of odd steps only.
  it('findUnusedParameters handles a loss that changes its parameters (2 x B = 1 x 2B); without it the error names them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-ddp-unused-'));
    const env = { GLOBAL_BATCH: '8', STEPS: '3', LR: '0.001', FIND_UNUSED: '1' };
    const single = await workers('unused', 1, { ...env, OUT: join(dir, 'one.pth') }, 0);
    assert.equal(single[0]!.code, 0, single[0]!.stderr);
    const two = await workers('unused', 2, { ...env, OUT: join(dir, 'two.pth') }, await freePort());
    for (const [r, w] of two.entries()) assert.equal(w.code, 0, `rank ${r}: ${w.stderr}`);
    const parity = await worstRelative(join(dir, 'one.pth'), join(dir, 'two.pth'));
    assert.ok(parity.worst < 1e-3, `1 x 2B vs 2 x B: ${parity.worst} at ${parity.key}`);
    assert.ok(
      [...(await torch.readStateDict(join(dir, 'two.pth'))).keys()].some((k) => k.startsWith('projector.')),
      'the projector is part of the compared state',
    );

    // By default the Reducer takes the parameters the first loss reaches; the projector's later gradients are refused.
    const strict = await workers('unused', 2, { ...env, FIND_UNUSED: '0' }, await freePort());
    for (const w of strict) {
      assert.notEqual(w.code, 0);
      assert.match(
        w.stderr,
        /DataParallel: step 1 on rank \d: parameter\(s\) projector\.\S+(, projector\.\S+)* got a gradient now but none in the first synchronised backward.*distributed\.findUnusedParameters=true/s,
        w.stderr,
      );
    }
  });
});

describe('data parallel: pieces', () => {
  it('shards are disjoint, equal-sized, strided over the same order (DistributedSampler, drop_last)', () => {
    const order = [9, 3, 7, 1, 0, 5, 8, 2, 6, 4, 10];
    const shard = (rank: number, world: number) =>
      DataParallel.prototype.shard.call({ rank, worldSize: world }, order) as number[];
    assert.deepEqual(shard(0, 2), [9, 7, 0, 8, 6]);
    assert.deepEqual(shard(1, 2), [3, 1, 5, 2, 4]);
    const three = [0, 1, 2].map((r) => shard(r, 3));
    assert.deepEqual(
      three.map((s) => s.length),
      [3, 3, 3],
    );
    assert.equal(new Set(three.flat()).size, 9);
    // The k-th batch of B on every rank together = the k-th batch of W*B in one process.
    assert.deepEqual([...shard(0, 2).slice(0, 2), ...shard(1, 2).slice(0, 2)].sort(), order.slice(0, 4).sort());
  });

  it('fromEnv is null for a single process; bad ranks are refused', async () => {
    assert.equal(await DataParallel.fromEnv({ env: {} }), null);
    assert.equal(await DataParallel.fromEnv({ env: { RANK: '0', WORLD_SIZE: '1' } }), null);
    await assert.rejects(DataParallel.fromEnv({ env: { RANK: '2', WORLD_SIZE: '2' } }), /rank 2 is outside 0\.\.1/);
  });

  it('SyncBatchNorm conversion keeps names, tensors and order, and without a group equals BatchNorm', () => {
    torch.manualSeed(3);
    const enc = createEncoder('resnet3d-10', { widenFactor: 0.125 });
    const ref = createEncoder('resnet3d-10', { widenFactor: 0.125 });
    ref.loadStateDict(enc.stateDict());
    const before = [...enc.stateDict()];
    const batchNorms = [...enc.namedModules()].filter(([, m]) => m instanceof nn.BatchNorm3d).length;
    const out = nn.convertSyncBatchNorm(enc, null);
    assert.equal(out, enc);
    const after = [...enc.stateDict()];
    assert.deepEqual(
      after.map(([k]) => k),
      before.map(([k]) => k),
    );
    after.forEach(([k, t], i) => assert.equal(t, before[i]![1], `${k} is a new tensor`));
    const kinds = [...enc.namedModules()].map(([, m]) => m.constructor.name);
    assert.ok(
      !kinds.some((k) => /^BatchNorm/.test(k)) &&
        kinds.filter((k) => k === 'SyncBatchNorm').length === batchNorms &&
        batchNorms > 8,
      kinds.join(','),
    );
    assert.equal(
      enc.bn1 as unknown,
      [...enc.namedChildren()].find(([n]) => n === 'bn1')![1],
      'the field follows the registered child',
    );
    torch.tidy(() => {
      const x = torch.randn([2, 1, 10, 24, 24]);
      for (const mode of [true, false]) {
        enc.train(mode);
        ref.train(mode);
        const d = enc.forward(x).sub(ref.forward(x)).abs().amax().item();
        assert.ok(d < 1e-5, `train=${mode}: ${d}`);
      }
      const rm = enc
        .stateDict()
        .get('layer1.0.bn1.running_mean')!
        .sub(ref.stateDict().get('layer1.0.bn1.running_mean')!)
        .abs()
        .sum()
        .item();
      assert.ok(rm < 1e-6, `running stats ${rm}`);
      assert.equal(Number(enc.stateDict().get('bn1.num_batches_tracked')!.item()), 1);
    });
    const bn = new nn.BatchNorm1d(4);
    const sbn = nn.convertSyncBatchNorm(bn, null);
    assert.ok(sbn instanceof nn.SyncBatchNorm && sbn.weight === bn.weight);
    assert.throws(() => sbn.forward(torch.zeros([2, 4, 3, 3])), /SyncBatchNorm: input must be \[N,C\] or \[N,C,L\]/);
    enc.dispose();
    ref.dispose();
  });

  it('launcher flags: plan and the re-run command line without them', () => {
    assert.equal(launchPlan({}), null);
    assert.deepEqual(launchPlan({ nprocPerNode: 2 }), { nprocPerNode: 2, nnodes: 1, nodeRank: 0 });
    assert.deepEqual(launchPlan({ nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: 'h0', masterPort: 1234 }), {
      nprocPerNode: 4,
      nnodes: 2,
      nodeRank: 1,
      masterAddr: 'h0',
      masterPort: 1234,
    });
    // Each number's range is checked by its flag's parser (test/bad-input/cli-flags.test.ts); this spans two.
    assert.throws(
      () => launchPlan({ nprocPerNode: 2, nnodes: 2, nodeRank: 2 }),
      /--node-rank: 2 is not below --nnodes 2/,
    );
    assert.deepEqual(
      stripLaunchArgs([
        'pretrain',
        '--nproc-per-node',
        '2',
        '--set',
        'a=1',
        '--master-port=5',
        '--nnodes',
        '1',
        '--node-rank=0',
        '--master-addr',
        'x',
        '--resume',
      ]),
      ['pretrain', '--set', 'a=1', '--resume'],
    );
  });
});
