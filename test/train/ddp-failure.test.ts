/**
 * Failures in data-parallel runs: a worker killed mid-training makes the other stop with an error naming its
 * rank and the collective within the timeout (no hang); the launcher stops the remaining workers and fails
 * naming the rank that died; killing a worker of `inkwell pretrain --nproc-per-node 2` leaves the last checkpoint
 * intact, and a single worker resumes from it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { pretrain } from '../../src/ssl/pretrain.js';
import * as torch from '../../src/torch/index.js';
import { freePort, launch, LaunchError } from '../../src/train/launch.js';
import { collect, launcherEnv } from '../helpers/child.js';
import { FIXTURES } from '../helpers/python.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
const gloo = torch.distributed.availableBackends().includes('gloo');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Child processes of `ppid` (from /proc), with their RANK variable. */
function childrenOf(ppid: number): { pid: number; rank: string | undefined }[] {
  const out: { pid: number; rank: string | undefined }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent !== ppid) continue;
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      out.push({ pid: Number(name), rank: env.find((e) => e.startsWith('RANK='))?.slice(5) });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

describe('data-parallel failures', { skip: gloo ? false : 'addon built without Gloo' }, () => {
  let data = '';
  before(async () => {
    data = await synthesizeTrainingData('inkwell-ddp-fail-data-', { fragments: 0, segments: 2, size: 192, seed: 5 });
  });

  it('killing one worker makes the other fail within the timeout, naming its rank and the collective', async () => {
    const port = await freePort();
    const children = [0, 1].map((rank) =>
      spawn(process.execPath, [join(FIXTURES, 'ddp_worker.mjs'), 'loop'], {
        env: {
          ...process.env,
          ...launcherEnv(rank, 2, port),
          TIMEOUT_MS: '5000',
          INKWELL_NUM_THREADS: '1',
          GLOBAL_BATCH: '4',
        },
      }),
    );
    const results = children.map((c) => collect(c, 90_000));
    let progressed = '';
    children[1]!.stdout!.on('data', (d: Buffer) => {
      progressed += d;
    });
    await until('rank 1 to train', () => progressed.includes('step 1'));
    const killedAt = Date.now();
    children[1]!.kill('SIGKILL');
    const [survivor, killed] = await Promise.all(results);
    assert.equal(killed!.signal, 'SIGKILL');
    assert.notEqual(survivor!.code, 0, 'the survivor must fail');
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds < 20, `the survivor took ${seconds} s to stop`);
    // The gradient allreduce in backward or a SyncBatchNorm collective in forward/backward noticed it.
    assert.match(
      survivor!.stderr,
      /DistributedError: DataParallel: step \d+ failed on rank 0 of 2 after [\d.]+ s \(its SyncBatchNorm and gather collectives expected all 2 workers/,
      survivor!.stderr,
    );
  });

  it('the launcher stops the other workers and fails naming the rank that died', async () => {
    const lines: string[] = [];
    const t0 = Date.now();
    await assert.rejects(
      launch({
        nprocPerNode: 2,
        command: [process.execPath, join(FIXTURES, 'ddp_worker.mjs'), 'exit'],
        log: (l) => lines.push(l),
        killGraceMs: 2000,
        output: () => undefined,
      }),
      (err: unknown) => {
        assert.ok(err instanceof LaunchError, String(err));
        assert.equal(err.failed.rank, 1);
        assert.equal(err.failed.code, 3);
        assert.match(
          err.message,
          /worker rank 1 of 2 \(local rank 1 on node 0, pid \d+\) failed: it exited with code 3; then rank 0 was killed by SIGTERM/,
        );
        assert.equal(err.workers.find((w) => w.rank === 0)!.signal, 'SIGTERM');
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 15_000);
    assert.match(lines.join('\n'), /worker rank 1 .* exited with code 3; stopping the other workers/);
  });

  it('pretrain --nproc-per-node 2: a killed worker fails the launch naming it; the checkpoint stays intact and 1 worker resumes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inkwell-ddp-fail-'));
    const sets = [
      'data.maxTiles=16',
      'train.batchSize=4',
      'model.widenFactor=0.125',
      'data.depth=12',
      'data.tile=48',
      'data.workers=0',
      'distributed.timeoutSeconds=10',
    ];
    const args = [
      'pretrain',
      '--preset',
      'cpu-small',
      '--input',
      join(data, 'segments'),
      '--out',
      out,
      '--name',
      'killed',
      '--nproc-per-node',
      '2',
      '--set',
      'train.epochs=30',
      ...sets.flatMap((s) => ['--set', s]),
    ];
    const launcher = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, INKWELL_PROGRESS: '0' } });
    const result = collect(launcher, 90_000);
    const ckpt = join(out, 'killed', 'checkpoints', 'epoch_0001.pth');
    await until('the first checkpoint', () => existsSync(ckpt));
    const rank1 = childrenOf(launcher.pid!).find((c) => c.rank === '1');
    assert.ok(rank1, 'rank 1 worker not found');
    process.kill(rank1.pid, 'SIGKILL');
    const r = await result;
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /launch: worker rank 1 of 2 \(local rank 1 on node 0, pid \d+\) failed: it was killed by SIGKILL/,
    );
    const kept = readdirSync(join(out, 'killed', 'checkpoints'));
    assert.ok(!kept.some((f) => f.endsWith('.tmp')), kept.join(','));
    const latest = join(out, 'killed', 'checkpoints', kept.sort().at(-1)!);
    const before = sha(latest);
    assert.ok((await torch.readStateDict(latest)).has('conv1.weight'));
    // One worker (this process, no launcher variables) continues from the 2-worker checkpoint.
    const cfg = await loadPretrainConfig({
      preset: 'cpu-small',
      inputs: [join(data, 'segments')],
      set: ['name=killed', `out=${out}`, 'train.epochs=30', 'train.threads=1', ...sets],
    });
    const lines: string[] = [];
    const resumed = await pretrain(cfg, { resume: true, maxEpochs: 1, progress: false, log: (l) => lines.push(l) });
    assert.deepEqual(
      resumed.epochs.map((e) => e.epoch),
      [kept.length + 1],
    );
    assert.equal(resumed.worldSize, 1);
    assert.match(lines.join('\n'), /written by 2 worker\(s\); continuing with 1/);
    assert.equal(sha(latest), before, 'the checkpoint resumed from changed');
  });
});
