import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseSize, registerSynth } from '../../src/cli/commands/synth.js';

test('--size parses HxW and squares, and rejects nonsense', () => {
  assert.deepEqual(parseSize('512x384'), [512, 384]);
  assert.deepEqual(parseSize('64'), [64, 64]);
  assert.throws(() => parseSize('big'), /not HxW/);
  assert.throws(() => parseSize('8x8'), /too small/);
});

test('inkwell synth writes the requested set and its manifest', async () => {
  const out = await mkdtemp(join(tmpdir(), 'inkwell-synth-cli-'));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => {
    logs.push(a.join(' '));
  };
  try {
    const program = new Command('inkwell').exitOverride();
    registerSynth(program);
    await program.parseAsync(
      [
        'synth',
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
      ],
      { from: 'user' },
    );
  } finally {
    console.log = log;
  }
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
