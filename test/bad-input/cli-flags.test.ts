/**
 * Every numeric flag is validated like the config schema (src/cli/options.ts): a word, a fraction where a count
 * is meant, zero or a negative count, a value out of range - each stops the command with exit status 1 and a
 * message naming the flag and what was expected, before anything runs or is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { main } from '../../src/cli/main.js';
import {
  nonNegativeInt,
  parseIntegerFlag,
  parseNumberFlag,
  positiveInt,
  positiveNumber,
  unitInterval,
} from '../../src/cli/options.js';
import { tempDir } from '../data/reader-fixtures.js';

test('the shared parsers accept what the schema would and name what they expected otherwise', () => {
  assert.equal(positiveInt('a tile size')('64'), 64);
  assert.equal(positiveInt('a tile size')(' +7 '), 7);
  for (const bad of ['0', '-1', 'abc', '1.5', '1e3', '0x10', '', 'Infinity', '99999999999999999999']) {
    assert.throws(
      () => positiveInt('a tile size')(bad),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.message === `'${bad}' is not a tile size, expected a positive integer`,
      bad,
    );
  }
  assert.equal(nonNegativeInt('a border')('0'), 0);
  assert.throws(() => nonNegativeInt('a border')('-2'), /'-2' is not a border, expected a whole number \(0 or more\)/);
  assert.equal(positiveNumber('a sigma')('0.25'), 0.25);
  assert.throws(() => positiveNumber('a sigma')('0'), /expected a positive number/);
  assert.throws(() => positiveNumber('a sigma')('NaN'), /expected a positive number/);
  assert.equal(unitInterval('a threshold')('1'), 1);
  assert.throws(() => unitInterval('a threshold')('1.01'), /'1\.01' is not a threshold, expected a number in \[0, 1\]/);
  assert.throws(
    () => parseNumberFlag('a factor', { min: 0, max: 1, exclusiveMin: true })('0'),
    /expected a number in \(0, 1\]/,
  );
  assert.throws(
    () => parseIntegerFlag('a rank', { min: 0, max: 7 })('8'),
    /'8' is not a rank, expected an integer in \[0, 7\]/,
  );
  assert.equal(parseIntegerFlag('a seed')('-3'), -3);
});

/** Runs the CLI in this process; returns the exit code and what went to stderr. */
async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stderr };
  } finally {
    process.stderr.write = write;
  }
}

test('every command refuses bad numbers in its flags, naming flag and expectation, and writes nothing', async () => {
  const dir = tempDir();
  const out = join(dir, 'out');
  const cases: [string[], string, RegExp][] = [
    [
      ['infer', '--weights', 'w.pth', '--input', 'd', '--output', join(out, 'p.png'), '--tile', '0'],
      '--tile',
      /'0' is not a tile size, expected a positive integer/,
    ],
    [
      ['infer', '--weights', 'w.pth', '--input', 'd', '--output', join(out, 'p.png'), '--stride', 'abc'],
      '--stride',
      /'abc' is not a stride/,
    ],
    [
      ['infer', '--weights', 'w.pth', '--input', 'd', '--output', join(out, 'p.png'), '--border', '-1'],
      '--border',
      /expected a whole number \(0 or more\)/,
    ],
    [
      ['infer', '--weights', 'w.pth', '--input', 'd', '--output', join(out, 'p.png'), '--scale', '1.5'],
      '--scale',
      /expected a number in \(0, 1\]/,
    ],
    [
      ['infer', '--weights', 'w.pth', '--input', 'd', '--output', join(out, 'p.png'), '--threads', '2.5'],
      '--threads',
      /expected a positive integer/,
    ],
    [
      ['embed', '--arch', 'resnet3d-18', '--input', 'x.npy', '--output', join(out, 'f.npy'), '--batch-size', '0'],
      '--batch-size',
      /'0' is not a batch size/,
    ],
    [
      ['embed', '--arch', 'resnet3d-18', '--input', 'x.npy', '--output', join(out, 'f.npy'), '--in-channels', '1.5'],
      '--in-channels',
      /'1\.5' is not a channel count/,
    ],
    [
      ['embed', '--arch', 'resnet3d-18', '--input', 'x.npy', '--output', join(out, 'f.npy'), '--seed', 'x'],
      '--seed',
      /'x' is not a seed, expected an integer/,
    ],
    [
      ['embed', '--arch', 'resnet3d-18', '--input', 'x.npy', '--output', join(out, 'f.npy'), '--shortcut', 'C'],
      '--shortcut',
      /Allowed choices are A, B/,
    ],
    [
      ['export', '--arch', 'resnet3d-18', '--out', join(out, 'm.pth'), '--num-classes', '-1'],
      '--num-classes',
      /'-1' is not a class count/,
    ],
    [
      ['export', '--arch', 'resnet3d-18', '--out', join(out, 'm.pth'), '--widen-factor', '0'],
      '--widen-factor',
      /'0' is not a width multiplier/,
    ],
    [['synth', '--out', out, '--layers', 'abc'], '--layers', /'abc' is not a layer count/],
    [['synth', '--out', out, '--fragments', '-1'], '--fragments', /'-1' is not a fragment count/],
    [['synth', '--out', out, '--reverse-fraction', '2'], '--reverse-fraction', /expected a number in \[0, 1\]/],
    [['synth', '--out', out, '--ink-delta', '-0.1'], '--ink-delta', /expected a number >= 0/],
    [
      ['crop', 'd', '--z', '0:1', '--y', '0:1', '--x', '0:1', '--output', join(out, 'c.npy'), '--level', '-1'],
      '--level',
      /'-1' is not a pyramid level/,
    ],
    [
      ['score', '--pred', 'p.png', '--labels', 'l.png', '--skip-empty-tiles', '0'],
      '--skip-empty-tiles',
      /'0' is not a tile size/,
    ],
    [
      ['score', '--pred', 'p.png', '--labels', 'l.png', '--threshold', 'abc'],
      '--threshold',
      /'abc' is not a threshold/,
    ],
    [['cka', '--checkpoints', 'c', '--input', 'd', '--samples', '0'], '--samples', /'0' is not a sample count/],
    [['cka', '--checkpoints', 'c', '--input', 'd', '--seed', '0.5'], '--seed', /'0\.5' is not a seed/],
    [['probe', '--seeds', '0'], '--seeds', /'0' is not a seed count/],
    [['demo', '--out', out, '--seed', 'one'], '--seed', /'one' is not a seed/],
    [['bench', 'engine', '--rounds', '0'], '--rounds', /'0' is not a round count/],
    [['bench', 'data', '--height', '-5'], '--height', /'-5' is not a height/],
    [['bench', 'infer', '--size', '1e4'], '--size', /'1e4' is not a size/],
    [['bench', 'distributed', '--bucket-cap-mb', '0'], '--bucket-cap-mb', /'0' is not a bucket size/],
    [['bench', 'distributed', '--steps', 'x'], '--steps', /'x' is not a step count/],
    [['bench', 'pretrain', '--rounds', '-1'], '--rounds', /'-1' is not a round count/],
    [['pretrain', '--nproc-per-node', 'two'], '--nproc-per-node', /'two' is not a worker count, expected a positive/],
    [['pretrain', '--nproc-per-node', '0'], '--nproc-per-node', /'0' is not a worker count/],
    [['finetune', '--train', 'd', '--nnodes', '1.5'], '--nnodes', /'1\.5' is not a node count, expected a positive/],
    [['finetune', '--train', 'd', '--node-rank', '-1'], '--node-rank', /'-1' is not a node rank, expected a whole/],
    [
      ['pretrain', '--nproc-per-node', '2', '--master-port', '70000'],
      '--master-port',
      /'70000' is not a port, expected an integer in \[1, 65535\]/,
    ],
  ];
  for (const [args, flag, re] of cases) {
    const r = await run(args);
    const what = `${args.join(' ')}:\n${r.stderr}`;
    assert.equal(r.code, 1, what);
    assert.ok(r.stderr.includes(`option '${flag}`), what);
    assert.match(r.stderr, re, what);
  }
  assert.equal(existsSync(out), false, 'nothing was written');
});

test('a node rank outside the nodes stops the launcher in one line, before any worker starts', async () => {
  const r = await run(['pretrain', '--nnodes', '2', '--node-rank', '2', '--nproc-per-node', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim(), 'inkwell: --node-rank: 2 is not below --nnodes 2');
});
