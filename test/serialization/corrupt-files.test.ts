/**
 * Truncated and bit-flipped files of every format give an Error that names the file - never a crash, a hang,
 * or a non-Error throw. Truncation is tried at every length. For zip checkpoints every flipped bit inside a
 * stored entry is caught (CRC-32); flips elsewhere and in formats without checksums (legacy .pth, safetensors, .npy)
 * may load, but must not break anything. The pickle itself is fuzzed by flipping bits in data.pkl and
 * re-packing the zip with a fresh CRC, which drives corrupt opcodes, lengths, shapes and strides into the
 * unpickler and the view checks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  encodePth,
  encodeSafetensors,
  readCheckpointBytes,
  writeNpy,
  PyOrderedDict,
  pyFloat,
} from '../../src/torch/serialization/index.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { ZipReader, zipStoredAligned } from '../../src/torch/serialization/zip.js';
import { torchFixtures } from './describe.js';

function t(dtype: StoredTensor['dtype'], shape: number[], fill: number): StoredTensor {
  const n =
    shape.reduce((a, b) => a * b, 1) * ({ float32: 4, int64: 8, bfloat16: 2 } as Record<string, number>)[dtype]!;
  return { dtype, shape, data: new Uint8Array(n).fill(fill) };
}

function sampleFiles(): [string, Uint8Array][] {
  const sd = new PyOrderedDict();
  sd.set('w', t('float32', [3, 4], 7));
  sd.set('b', t('bfloat16', [5], 9));
  sd.set('n', t('int64', [], 1));
  const pth = Buffer.concat(
    encodePth({ epoch: 3, lr: pyFloat(1), state_dict: sd, tags: ['a', 'b'] }, { archiveName: 'ts' }),
  );
  const st = Buffer.concat(
    encodeSafetensors(
      [
        ['w', t('float32', [3, 4], 7)],
        ['b', t('bfloat16', [5], 9)],
      ],
      { k: 'v' },
    ),
  );
  const npy = writeNpy(t('float32', [2, 3], 3));
  const files: [string, Uint8Array][] = [
    ['ts.pth', new Uint8Array(pth)],
    ['ts.safetensors', new Uint8Array(st)],
    ['ts.npy', npy],
  ];
  const fx = torchFixtures();
  if (fx !== undefined) {
    for (const f of [
      'views_zip.pth',
      'views_legacy.pth',
      'kinetics_legacy.pth',
      'dtypes_legacy.pth',
      'deflated.pth',
      'py.safetensors',
    ]) {
      files.push([f, new Uint8Array(readFileSync(join(fx.dir, f)))]);
    }
  }
  return files;
}

/** Runs a read; returns 'ok' or the Error, and fails the test on anything that is not an Error naming `where`. */
function attempt(bytes: Uint8Array, where: string): 'ok' | Error {
  try {
    readCheckpointBytes(bytes, where);
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof Error, `${where}: threw a non-Error ${String(e)}`);
    assert.ok(e.message.includes(where), `${where}: error does not name the file: ${e.message}`);
    assert.ok(!(e instanceof TypeError), `${where}: TypeError means a missed check: ${e.stack}`);
    return e;
  }
}

test('every truncation of every format is an Error naming the file', () => {
  for (const [name, bytes] of sampleFiles()) {
    assert.equal(attempt(bytes, name), 'ok', `${name} loads whole`);
    for (let len = 0; len < bytes.length; len++) {
      const r = attempt(bytes.subarray(0, len), `${name}[:${len}]`);
      assert.notEqual(r, 'ok', `${name} truncated to ${len} bytes loaded without an error`);
    }
  }
});

test('bit flips: caught by CRC inside zip entries, never a crash anywhere', () => {
  for (const [name, bytes] of sampleFiles()) {
    const protectedBytes = new Uint8Array(bytes.length);
    if (name.endsWith('.pth') && bytes[0] === 0x50) {
      const zip = new ZipReader(bytes, name);
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const e of zip.entries) {
        // A deflate stream's last byte has padding bits that do not reach the output, so only stored entries
        // promise that every flipped bit changes what the CRC covers.
        if (e.method !== 0) continue;
        const at = e.localHeaderOffset;
        const dataAt = at + 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true);
        protectedBytes.fill(1, dataAt, dataAt + e.compressedSize);
      }
    }
    let caught = 0;
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i]! ^= 1 << (i % 8);
      const r = attempt(flipped, `${name}^${i}`);
      if (protectedBytes[i] === 1)
        assert.notEqual(r, 'ok', `${name}: flipped bit in entry data at byte ${i} went unnoticed`);
      if (r !== 'ok') caught++;
    }
    assert.ok(caught > 0, `${name}: no flip was ever caught`);
  }
});

test('fuzzed data.pkl (bits flipped, bytes zeroed or 0xff, CRC fixed) never crashes the unpickler', () => {
  for (const [name, bytes] of sampleFiles()) {
    if (!name.endsWith('.pth') || bytes[0] !== 0x50) continue;
    const zip = new ZipReader(bytes, name);
    const entries = zip.entries.map((e) => ({ name: e.name, data: zip.read(e).slice() }));
    const pkl = entries.find((e) => e.name.endsWith('/data.pkl'))!;
    const original = pkl.data.slice();
    for (let i = 0; i < original.length; i++) {
      for (const mutate of [(b: number) => b ^ (1 << (i % 8)), () => 0, () => 0xff, (b: number) => b ^ 0x80]) {
        pkl.data = original.slice();
        pkl.data[i] = mutate(original[i]!);
        attempt(new Uint8Array(Buffer.concat(zipStoredAligned(entries))), `${name}:pkl^${i}`);
      }
    }
  }
});
