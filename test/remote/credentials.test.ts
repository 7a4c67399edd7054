/**
 * Credentials for remote datasets: from INKWELL_HTTP_USER / INKWELL_HTTP_PASSWORD or a netrc file only;
 * URLs with credentials refused; 401 gives one clear error; retries on 5xx; and the password never shows up
 * in any output, log, config or checkpoint of a run (inspect, crop, pretrain over HTTP).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseNetrc } from '../../src/data/remote/auth.js';
import { HttpClient } from '../../src/data/remote/http.js';
import { configureRemote } from '../../src/data/remote/store.js';
import { detectLayout } from '../../src/data/layout.js';
import { Volume } from '../../src/data/volume.js';
import { tempDir } from '../data/reader-fixtures.js';
import { PASSWORD, USER, useRemoteFixtures } from './fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', '..', '..', 'bin', 'inkwell');
const SECRETS = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
const S = useRemoteFixtures();

function assertNoSecret(text: string, where: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} contains the credentials`);
}

function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {};
  for (const k of Object.keys(env)) {
    saved[k] = process.env[k];
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  configureRemote({ cache: null });
  return fn().finally(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    configureRemote({ cache: null });
  });
}

test('a URL with credentials in it is refused, naming where they belong and not echoing them', async () => {
  const url = S.server.url.replace('http://', `http://${USER}:${PASSWORD}@`) + '/frag1';
  const err = await detectLayout(url).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err);
  assert.match(err.message, /has credentials embedded in it/);
  assert.match(err.message, /INKWELL_HTTP_USER and INKWELL_HTTP_PASSWORD/);
  assert.match(err.message, /netrc/);
  assertNoSecret(err.message, 'the error');
});

test('401 without or with wrong credentials: one clear error naming the URL, never the password', async () => {
  await withEnv(
    { INKWELL_HTTP_USER: undefined, INKWELL_HTTP_PASSWORD: undefined, NETRC: join(tempDir(), 'none') },
    async () => {
      await assert.rejects(Volume.open(`${S.server.url}/frag1`), (e: Error) => {
        assert.match(e.message, new RegExp(`${S.server.url}/frag1/? answered 401`));
        assert.match(e.message, /no credentials are configured for 127\.0\.0\.1: set INKWELL_HTTP_USER/);
        return true;
      });
    },
  );
  await withEnv({ INKWELL_HTTP_USER: USER, INKWELL_HTTP_PASSWORD: 'wrong-secret' }, async () => {
    await assert.rejects(Volume.open(`${S.server.url}/frag1`), (e: Error) => {
      assert.match(
        e.message,
        /answered 401 .*the credentials from INKWELL_HTTP_USER\/INKWELL_HTTP_PASSWORD were refused/,
      );
      assert.ok(!e.message.includes('wrong-secret'));
      return true;
    });
  });
});

test('netrc credentials (NETRC) are used when the environment has none', async () => {
  assert.deepEqual(parseNetrc('machine a.org login x password y\ndefault login d password e\n', 'a.org'), {
    user: 'x',
    password: 'y',
  });
  assert.deepEqual(parseNetrc('machine a.org login x password y\ndefault login d password e\n', 'b.org'), {
    user: 'd',
    password: 'e',
  });
  assert.equal(
    parseNetrc('macdef init\nmachine b.org login q password r\n\nmachine c.org login s password t', 'b.org'),
    null,
  );
  const netrc = join(tempDir(), 'netrc');
  writeFileSync(
    netrc,
    `# test\nmachine other.host login a password b\nmachine 127.0.0.1\n  login ${USER}\n  password ${PASSWORD}\n`,
  );
  await withEnv({ INKWELL_HTTP_USER: undefined, INKWELL_HTTP_PASSWORD: undefined, NETRC: netrc }, async () => {
    const vol = await Volume.open(`${S.server.url}/seg-png/20230101000000`);
    assert.deepEqual(vol.shape, [8, 64, 64]);
    await vol.close();
  });
});

test('5xx answers are retried with backoff; a server that keeps failing gives up with the URL named', async () => {
  const http = new HttpClient({ backoffMs: 1 });
  S.server.opts.failNext = 2;
  const r = await http.get(`${S.server.url}/frag1/mask.png`, 'test');
  assert.ok(r && r.body.length > 0);
  assert.equal(http.stats.retries, 2);
  S.server.opts.failNext = 10;
  const few = new HttpClient({ backoffMs: 1, retries: 2 });
  await assert.rejects(
    few.get(`${S.server.url}/frag1/mask.png`, 'test'),
    /frag1\/mask\.png failed after 3 attempts \(HTTP 503\)/,
  );
  S.server.opts.failNext = 0;
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Runs the CLI without blocking this process's event loop (the test server lives in it). */
function inkwell(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (status) => ok({ status, stdout, stderr }));
  });
}

test('inspect, crop and pretrain over HTTP: no output, log, config or checkpoint holds the credentials', async () => {
  const out = tempDir('inkwell-cred-run-');
  const env = { ...process.env, INKWELL_HTTP_USER: USER, INKWELL_HTTP_PASSWORD: PASSWORD, INKWELL_PROGRESS: '1' };
  const run = async (args: string[]): Promise<string> => {
    const r = await inkwell(args, env);
    assert.equal(r.status, 0, `inkwell ${args[0]} failed: ${r.stderr}`);
    assertNoSecret(r.stdout + r.stderr, `inkwell ${args[0]} output`);
    return r.stdout;
  };
  const seg = `${S.server.url}/segments`;
  const info = await run(['inspect', seg, '--json']);
  assert.match(info, /"layout": "scroll-segment"/);
  const crop = JSON.parse(
    (
      await run([
        'crop',
        `${seg}/20231005123333`,
        '--z',
        '2:6',
        '--y',
        '8:40',
        '--x',
        '4:36',
        '--output',
        join(out, 'crop.npy'),
        '--cache',
        join(out, 'cache'),
        '--cache-size',
        '64MB',
      ])
    ).trim(),
  ) as { shape: number[] };
  assert.deepEqual(crop.shape, [4, 32, 32]);
  const cfg = join(out, 'data.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      data: { datasets: ['20231005123333', '20231012184423'].map((id) => ({ path: `${seg}/${id}`, z: [2, 14] })) },
    }),
  );
  await run([
    'pretrain',
    '--preset',
    'cpu-small',
    '--config',
    cfg,
    '--out',
    out,
    '--name',
    'remote',
    '--cache',
    join(out, 'cache'),
    '--set',
    'train.epochs=1',
    '--set',
    'data.maxTiles=8',
    '--set',
    'train.batchSize=2',
    '--set',
    'data.workers=0',
    '--set',
    'model.widenFactor=0.125',
    '--set',
    'data.depth=12',
    '--set',
    'data.tile=48',
    '--set',
    'data.erode=0',
    '--set',
    'data.stride=8',
  ]);
  const runFiles = filesUnder(join(out, 'remote'));
  assert.ok(
    runFiles.some((f) => f.endsWith('.pth')),
    'the run wrote a checkpoint',
  );
  const config = readFileSync(join(out, 'remote', 'config.yaml'), 'utf8');
  assert.ok(config.includes(seg), 'the config records the dataset URL');
  for (const f of [...runFiles, join(out, 'crop.npy')]) assertNoSecret(readFileSync(f, 'latin1'), f);
});
