import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseSize, registerSynth } from '../../src/cli/commands/synth.js';

/** Runs `inkwell synth ARGS` in this process and returns what it printed. */
async function synthCli(args: string[]): Promise<string[]> {
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => {
    logs.push(a.join(' '));
  };
  try {
    const program = new Command('inkwell').exitOverride();
    registerSynth(program);
    await program.parseAsync(['synth', ...args], { from: 'user' });
  } finally {
    console.log = log;
  }
  return logs;
}

test('--size parses HxW and squares, and rejects nonsense', () => {
  assert.deepEqual(parseSize('512x384'), [512, 384]);
  assert.deepEqual(parseSize('64'), [64, 64]);
  assert.throws(() => parseSize('big'), /not HxW/);
  assert.throws(() => parseSize('8x8'), /too small/);
});

test('inkwell synth writes the requested set and its manifest', async () => {
  const out = await mkdtemp(join(tmpdir(), 'inkwell-synth-cli-'));
  const logs = await synthCli([
    '--out',
    out,
    '--fragments',
    '1',
    '--segments',
    '2',
    '--size',
    '32x40',
    '--seed',
    '4',
    '--ink-delta',
    '0.15',
    '--layers',
    '12',
  ]);
  try {
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      height: number;
      width: number;
      layers: number;
      inkDelta: number;
      seed: number;
      segments: unknown[];
    };
    assert.deepEqual([m.height, m.width, m.layers, m.inkDelta, m.seed, m.segments.length], [32, 40, 12, 0.15, 4, 2]);
    assert.ok(
      logs.some((l) => l.startsWith('wrote 1 fragments and 2 segments (12 layers of 32x40)')),
      logs.join('\n'),
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('inkwell synth --variety wide draws varied fragments that --calibrate regenerates; a bad variety is refused', async () => {
  const out = await mkdtemp(join(tmpdir(), 'inkwell-synth-variety-'));
  const common = ['--out', out, '--size', '96', '--layers', '24'];
  const logs = await synthCli([
    ...common,
    '--fragments',
    '2',
    '--segments',
    '0',
    '--variety',
    'wide',
    '--calibrate',
    '--json',
  ]);
  await assert.rejects(
    synthCli([...common, '--variety', 'broad']),
    /--variety 'broad' is unknown, expected one of fixed, wide/,
  );
  try {
    const r = JSON.parse(logs.join('\n')) as {
      manifest: { fragments: { id: string; wander?: { amplitude: number } }[] };
      calibration: Record<string, { surfaceAuc: number }>;
    };
    assert.equal(r.manifest.fragments.length, 2);
    for (const f of r.manifest.fragments) {
      assert.ok(f.wander !== undefined, `fragment ${f.id} records its wander`);
      // The calibration is taken on the regenerated fragment: it must see the ink that was written.
      assert.ok((r.calibration[f.id]?.surfaceAuc ?? 0) > 0.55, JSON.stringify(r.calibration[f.id]));
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
