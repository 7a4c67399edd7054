/**
 * A write killed part-way (SIGKILL, SIGTERM, SIGINT, at several points of a large write) never leaves a partial
 * final file, and no temp file survives: SIGINT/SIGTERM remove it at once (one process-wide registry and set of
 * handlers in src/util/atomic.ts), and the next write to the same folder sweeps the one a SIGKILL left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHUNK, patternChunk } from './atomic-writer.js';
import { sweepStaleTempFiles, writeFileAtomic } from '../../src/util/atomic.js';
import { readStateDict } from '../../src/torch/save-load.js';

const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'atomic-writer.js');
const MB = 24;
const TEMP = /^\.out\.(bin|pth)\.\d+@[A-Za-z0-9-]+\.[0-9a-f]+\.tmp$/;

const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

const isPattern = (bytes: Uint8Array): boolean => {
  if (bytes.length !== MB * 1024 * 1024) return false;
  for (let i = 0; i < bytes.length / CHUNK; i++) {
    if (!Buffer.from(patternChunk(i, CHUNK)).equals(bytes.subarray(i * CHUNK, (i + 1) * CHUNK))) return false;
  }
  return true;
};

/** True when `path` holds exactly the writer's pattern (in a .pth: as the tensor 'weight'). */
async function complete(path: string): Promise<boolean> {
  if (!path.endsWith('.pth')) return isPattern(readFileSync(path));
  const sd = await readStateDict(path);
  const w = sd.get('weight');
  return sd.size === 1 && w !== undefined && isPattern(w.data);
}

/** The size of a file that may vanish at any moment (renamed or removed by the writer): 0 when gone. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

interface KillResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  sawTemp: number;
  stderr: string;
}

/**
 * Starts a writer and sends `signal` once the temp file holds at least `fraction` of the bytes (0: as soon as
 * the writer says it starts). Reports how many bytes of temp file were seen just before the kill.
 */
function killDuringWrite(out: string, mode: string, signal: NodeJS.Signals, fraction: number): Promise<KillResult> {
  const dir = dirname(out);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, out, String(MB), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sawTemp = 0;
    let sent = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const poll = (): void => {
      if (sent || child.exitCode !== null) return;
      const t = temps(dir)[0];
      const size = t === undefined ? 0 : sizeOf(join(dir, t));
      if (size >= fraction * MB * 1024 * 1024) {
        sawTemp = size;
        sent = true;
        child.kill(signal);
      } else setImmediate(poll);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('writing')) poll();
    });
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve({ code, signal: sig, sawTemp, stderr }));
  });
}

// torch.save loads libtorch in each child (seconds): one point per signal for it, three for the plain writers.
const POINTS: Record<string, number[]> = { async: [0, 0.25, 0.75], sync: [0, 0.25, 0.75], save: [0.5] };

for (const mode of ['async', 'save', 'sync']) {
  test(`${mode}: a write killed at several points leaves the final path absent or complete, no temp file`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'inkwell-kill-'));
    try {
      let midWrite = 0;
      for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT'] as const) {
        for (const fraction of POINTS[mode]!) {
          const dir = join(root, `${signal}-${fraction}`);
          mkdirSync(dir);
          const out = join(dir, mode === 'save' ? 'out.pth' : 'out.bin');
          const r = await killDuringWrite(out, mode, signal, fraction);
          const what = `${mode} ${signal} at ${fraction}: ${JSON.stringify({ ...r, listing: readdirSync(dir) })}`;
          assert.doesNotMatch(r.stderr, /MaxListenersExceeded|Error/, what);
          if (r.sawTemp > 0 && r.sawTemp < MB * 1024 * 1024) midWrite++;
          // The final path is never partial: absent, or the whole pattern.
          if (existsSync(out)) assert.ok(await complete(out), `${what}: ${out} is incomplete`);
          if (r.code !== 0) assert.equal(r.signal, signal, what);
          const left = temps(dir);
          // A caught signal removes the temp file before the process ends by it; SIGKILL cannot be caught.
          if (signal !== 'SIGKILL') assert.deepEqual(left, [], what);
          for (const t of left) assert.match(t, TEMP, what);
          // The next write to the folder sweeps what a dead writer left.
          await writeFileAtomic(join(dir, 'next.txt'), 'next');
          assert.deepEqual(temps(dir), [], `${what}: after the next write`);
          assert.equal(readFileSync(join(dir, 'next.txt'), 'utf8'), 'next');
        }
      }
      // The kills must really land inside writes, or the test shows nothing.
      assert.ok(
        midWrite >= (mode === 'save' ? 1 : 3),
        `only ${midWrite} kill(s) landed while the temp file was partly written`,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('the sweep spares temp files of live writers and of other hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-sweep-'));
  try {
    const gone = spawnSync('true').pid; // a pid that has exited
    const live = `.a.bin.${process.ppid}.abc123.tmp`;
    const remote = `.b.bin.${gone}@some-other-node.abc123.tmp`;
    const dead = `.c.bin.${gone}.abc123.tmp`;
    for (const n of [live, remote, dead]) writeFileSync(join(dir, n), 'x');
    assert.deepEqual(sweepStaleTempFiles(dir), [dead]);
    assert.deepEqual(temps(dir).sort(), [live, remote].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a program's own signal handler keeps control; without one the process ends by the signal", () => {
  const atomic = join(dirname(WRITER), '..', '..', 'src', 'util', 'atomic.js');
  const script = (own: string) => `
    import { writeFileAtomic } from ${JSON.stringify(atomic)};
    import { mkdtempSync } from 'node:fs';
    import { join } from 'node:path';
    ${own}
    await writeFileAtomic(join(mkdtempSync(join(${JSON.stringify(tmpdir())}, 'inkwell-sig-')), 'a.txt'), 'x');
    process.kill(process.pid, 'SIGINT');
    setTimeout(() => console.log('not stopped'), 2000);`;
  // Added before the first write and with `once` (removed as it runs): it still keeps control.
  const graceful = "process.once('SIGINT', () => { console.log('graceful'); setTimeout(() => process.exit(3), 99); });";
  const withOwn = spawnSync(process.execPath, ['--input-type=module', '-e', script(graceful)], { encoding: 'utf8' });
  assert.deepEqual([withOwn.status, withOwn.stdout.trim()], [3, 'graceful'], withOwn.stderr);
  const alone = spawnSync(process.execPath, ['--input-type=module', '-e', script('')], { encoding: 'utf8' });
  assert.deepEqual([alone.signal, alone.stdout], ['SIGINT', ''], alone.stderr);
});
