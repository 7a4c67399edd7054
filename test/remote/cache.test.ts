/**
 * The disk cache of fetched bytes: it survives a killed process (finished entries are reused, no
 * half-written entry is ever served), damaged entries are refetched, and it keeps to its size limit (LRU).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DiskCache, parseByteSize } from '../../src/data/remote/cache.js';
import { RemoteStore } from '../../src/data/remote/store.js';
import { tempDir } from '../data/reader-fixtures.js';
import { PASSWORD, serveWithAuth } from './fixtures.js';
import type { TestServer } from './http-server.js';

const here = dirname(fileURLToPath(import.meta.url));
let root: string;
let server: TestServer;
const PIECE = 1 << 20;
const FILE_BYTES = 48 * PIECE;

function cacheFiles(dir: string): string[] {
  const out: string[] = [];
  for (const shard of readdirSync(dir)) {
    const p = join(dir, shard);
    if (statSync(p).isDirectory()) for (const f of readdirSync(p)) out.push(join(p, f));
  }
  return out;
}

before(async () => {
  root = tempDir('inkwell-cache-');
  writeFileSync(join(root, 'blob.bin'), randomBytes(FILE_BYTES));
  server = await serveWithAuth(root);
});
after(async () => {
  await server.close();
});

test('parseByteSize reads decimal and binary units', () => {
  assert.equal(parseByteSize('20GB'), 20e9);
  assert.equal(parseByteSize('512MiB'), 512 * 2 ** 20);
  assert.equal(parseByteSize('1000'), 1000);
  assert.throws(() => parseByteSize('lots'), /--cache-size: 'lots' is not a size/);
});

test('a killed process leaves only complete entries; the next run reuses them, never serving a partial one', async () => {
  const dir = join(tempDir('inkwell-cache-kill-'), 'cache');
  const url = `${server.url}/blob.bin`;
  const child = spawn(process.execPath, [join(here, 'cache-child.js'), url, dir, String(PIECE)], {
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let done = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      done += d.toString().split('\n').filter(Boolean).length;
      // Killed while later ranges are being fetched and written.
      if (done >= 6) {
        child.kill('SIGKILL');
        ok();
      }
    });
    child.on('exit', (code) => {
      if (done < 6) fail(new Error(`cache child exited early (${code}): ${stderr}`));
    });
  });
  await new Promise((r) => child.once('exit', r));
  assert.ok(!stderr.includes(PASSWORD));
  // A torn entry under a valid name (as a crash inside a non-atomic write would leave) and a leftover temp file.
  const finished = Math.min(8, cacheFiles(dir).filter((f) => !f.endsWith('.tmp')).length);
  assert.ok(finished >= 6, `expected at least 6 finished entries, found ${finished}`);
  const hash = createHash('sha256').update(`${url}\n0-${PIECE}`).digest('hex');
  const victim = join(dir, hash.slice(0, 2), hash);
  writeFileSync(victim, readFileSync(victim).subarray(0, 1000));
  writeFileSync(join(dirname(victim), `.${'0'.repeat(64)}.1.x.tmp`), 'partial');

  server.reset();
  const store = new RemoteStore({ cacheDir: dir, cacheBytes: 1e9 });
  const cache = (await store.cache())!;
  assert.ok(!cacheFiles(dir).some((f) => f.endsWith('.tmp')), 'opening the cache removes leftover temp files');
  const blob = readFileSync(join(root, 'blob.bin'));
  for (let i = 0; i < 8; i++) {
    const got = await store.range(url, i * PIECE, (i + 1) * PIECE);
    assert.ok(Buffer.from(got).equals(blob.subarray(i * PIECE, (i + 1) * PIECE)), `range ${i} served wrong bytes`);
  }
  assert.equal(cache.stats.damaged, 1, 'the torn entry was detected and dropped');
  // Ranges finished before the kill come from the cache: only the torn one and the unfinished ones are fetched.
  assert.equal(server.requests.length, 8 - (finished - 1), `fetched ${server.requests.length} of 8 ranges`);
});

test('the cache keeps to its size limit, evicting the least recently used entries', async () => {
  const dir = join(tempDir('inkwell-cache-lru-'), 'cache');
  const limit = 5 * PIECE;
  const store = new RemoteStore({ cacheDir: dir, cacheBytes: limit });
  const url = `${server.url}/blob.bin`;
  await store.range(url, 0, PIECE);
  for (let i = 1; i < 10; i++) {
    await store.range(url, i * PIECE, (i + 1) * PIECE);
    await store.range(url, 0, PIECE); // keeps range 0 recently used
    const onDisk = cacheFiles(dir).reduce((a, f) => a + statSync(f).size, 0);
    assert.ok(onDisk <= limit, `cache holds ${onDisk} bytes, limit ${limit}`);
  }
  const cache = (await store.cache())!;
  assert.ok(cache.stats.evicted >= 5);
  // Reopened from disk: the same limit holds, and range 0 (used last) is still there.
  const again = await DiskCache.open(dir, limit);
  assert.ok(again.usedBytes <= limit);
  assert.ok(await again.get(`${url}\n0-${PIECE}`), 'the most recently used entry survived eviction');
  assert.equal(await again.get(`${url}\n${PIECE}-${2 * PIECE}`), null, 'an old entry was evicted');
});
