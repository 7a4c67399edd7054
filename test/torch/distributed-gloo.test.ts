/**
 * c10d process groups over Gloo, on loopback: two worker processes started by the test itself through the
 * standard launcher variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) run each collective; when one
 * dies, the other's collective fails with an error within the timeout instead of hanging.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { collect, launcherEnv } from '../helpers/child.js';
import { FIXTURES } from '../helpers/python.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

interface WorkerResult {
  code: number | null;
  out: Record<string, unknown> | null;
  stderr: string;
}

function runWorkers(mode: string, worldSize: number, port: number, timeoutMs: number): Promise<WorkerResult[]> {
  return Promise.all(
    Array.from({ length: worldSize }, async (_, rank) => {
      const child = spawn(process.execPath, [join(FIXTURES, 'dist_worker.mjs'), mode], {
        env: {
          ...process.env,
          ...launcherEnv(rank, worldSize, port),
          TIMEOUT_MS: String(timeoutMs),
          INKWELL_NUM_THREADS: '1',
        },
      });
      const { code, stdout, stderr } = await collect(child, timeoutMs + 30_000);
      const line = stdout.trim().split('\n').at(-1);
      return { code, out: line ? (JSON.parse(line) as Record<string, unknown>) : null, stderr };
    }),
  );
}

const gloo = torch.distributed.availableBackends().includes('gloo');

describe('distributed (Gloo on loopback)', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  it('reads the launcher variables', () => {
    assert.equal(torch.distributed.launchEnv({}), null);
    assert.deepEqual(
      torch.distributed.launchEnv({ RANK: '1', WORLD_SIZE: '4', MASTER_ADDR: 'h', MASTER_PORT: '1234' }),
      { rank: 1, worldSize: 4, localRank: 1, masterAddr: 'h', masterPort: 1234 },
    );
    assert.throws(() => torch.distributed.launchEnv({ WORLD_SIZE: '2' }), /RANK is not/);
  });

  it('allreduce, average, broadcast, allgather and barrier across 2 processes', async () => {
    const results = await runWorkers('collectives', 2, await freePort(), 20_000);
    for (const [rank, r] of results.entries()) {
      assert.equal(r.code, 0, `rank ${rank} failed: ${r.stderr}`);
      assert.deepEqual(r.out, {
        rank,
        size: 2,
        sum: [3, 30],
        avg: [1.5, 3],
        broadcast: [42],
        gathered: [
          [0, 0],
          [1, 1],
        ],
      });
    }
  });

  it('SyncBatchNorm over 2 ranks equals batch norm over the whole batch in one process (outputs, grads, running stats)', async () => {
    const results = await runWorkers('syncbn', 2, await freePort(), 20_000);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    torch.tidy(() => {
      torch.manualSeed(7);
      const all = torch.randn([4, 3, 5]).requiresGrad_(true);
      const gout = torch.randn([4, 3, 5]);
      const w = torch.tensor([1.5, -0.5, 2]).requiresGrad_(true);
      const b = torch.tensor([0.1, 0.2, 0.3]).requiresGrad_(true);
      const rm = torch.zeros([3]);
      const rv = torch.ones([3]);
      const y = torch.F.batchNorm(all, rm, rv, { weight: w, bias: b, training: true });
      y.mul(gout).sum().backward();
      const close = (a: number[], e: Float32Array, what: string) =>
        a.forEach((v, i) => assert.ok(Math.abs(v - e[i]!) < 1e-5, `${what}[${i}]: ${v} vs ${e[i]}`));
      const yAll = y.toFloat32Array();
      const gxAll = all.grad!.toFloat32Array();
      for (const [rank, r] of results.entries()) {
        close(r.out!['y'] as number[], yAll.subarray(rank * 30, rank * 30 + 30), `y rank ${rank}`);
        close(r.out!['gx'] as number[], gxAll.subarray(rank * 30, rank * 30 + 30), `grad x rank ${rank}`);
        close(r.out!['gw'] as number[], w.grad!.toFloat32Array(), 'grad weight (summed over ranks)');
        close(r.out!['gb'] as number[], b.grad!.toFloat32Array(), 'grad bias (summed over ranks)');
        close(r.out!['rm'] as number[], rm.toFloat32Array(), 'running mean');
        close(r.out!['rv'] as number[], rv.toFloat32Array(), 'running var');
        // gather: rank 0's [1,1,1,1] then rank 1's [2,2,2,2]; backward sums the same upstream grad from both ranks.
        assert.deepEqual(r.out!['gathered2'], [1, 1, 1, 1, 2, 2, 2, 2]);
        assert.deepEqual(r.out!['gz'], rank === 0 ? [0, 2, 4, 6] : [8, 10, 12, 14]);
      }
    });
  });

  it('a dead peer makes the survivor fail within the timeout, naming the op and its rank', async () => {
    const results = await runWorkers('die', 2, await freePort(), 5_000);
    assert.equal(results[1]!.code, 3);
    const survivor = results[0]!;
    assert.equal(survivor.code, 0, survivor.stderr);
    assert.match(String(survivor.out!['error']), /allreduce \(rank 0 of 2\): /);
    assert.ok(Number(survivor.out!['seconds']) < 15, `took ${survivor.out!['seconds']} s`);
  });
});
