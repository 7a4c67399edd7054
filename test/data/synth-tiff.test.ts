import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeTiff, writeTiff } from '../../src/data/io/tiff-write.js';

/** A minimal baseline-TIFF parse: the first directory's tags as numbers (SHORT/LONG/RATIONAL numerators). */
function parseTags(bytes: Uint8Array): Map<number, number[]> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(String.fromCharCode(bytes[0] as number, bytes[1] as number), 'II');
  assert.equal(dv.getUint16(2, true), 42);
  const ifd = dv.getUint32(4, true);
  const n = dv.getUint16(ifd, true);
  const tags = new Map<number, number[]>();
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const o = ifd + 2 + 12 * i;
    const tag = dv.getUint16(o, true);
    assert.ok(tag > prev, 'tags are sorted ascending (TIFF 6.0 requirement)');
    prev = tag;
    const type = dv.getUint16(o + 2, true);
    const count = dv.getUint32(o + 4, true);
    const size = type === 3 ? 2 : type === 4 ? 4 : 8;
    const at = size * count > 4 ? dv.getUint32(o + 8, true) : o + 8;
    const vals: number[] = [];
    for (let k = 0; k < count; k++)
      vals.push(type === 3 ? dv.getUint16(at + 2 * k, true) : dv.getUint32(at + size * k, true));
    tags.set(tag, vals);
  }
  return tags;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(chunks));
}

test('16-bit single-strip TIFF: tags, pixel bytes and a sharp read-back', async () => {
  const w = 37;
  const h = 23;
  const data = new Uint16Array(w * h).map((_, i) => (i * 977) % 65536);
  const bytes = concat(encodeTiff({ width: w, height: h, data }));
  const t = parseTags(bytes);
  assert.deepEqual(t.get(256), [w]);
  assert.deepEqual(t.get(257), [h]);
  assert.deepEqual(t.get(258), [16]);
  assert.deepEqual(t.get(259), [1], 'uncompressed');
  assert.deepEqual(t.get(262), [1], 'BlackIsZero');
  assert.deepEqual(t.get(277), [1]);
  assert.deepEqual(t.get(278), [h], 'one strip');
  assert.deepEqual(t.get(279), [w * h * 2]);
  const off = (t.get(273) as number[])[0] as number;
  assert.equal(off % 16, 0, 'pixels 16-byte aligned');
  const px = new DataView(bytes.buffer, bytes.byteOffset + off);
  for (let i = 0; i < w * h; i += 97) assert.equal(px.getUint16(2 * i, true), data[i]);
  const { data: back, info } = await sharp(Buffer.from(bytes))
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [w, h, 1]);
  assert.deepEqual(new Uint16Array(back.buffer, back.byteOffset, w * h), data);
});

test('8-bit TIFF in several strips reads back exactly, written atomically to disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'inkwell-tiff-'));
  try {
    const w = 20;
    const h = 11;
    const data = new Uint8Array(w * h).map((_, i) => (i * 31) % 256);
    const path = join(dir, 'sub', '07.tif');
    await writeTiff(path, { width: w, height: h, data }, { rowsPerStrip: 4 });
    const bytes = new Uint8Array(await readFile(path));
    const t = parseTags(bytes);
    assert.deepEqual(t.get(258), [8]);
    assert.deepEqual(t.get(278), [4]);
    assert.deepEqual(t.get(279), [80, 80, 60]);
    const offs = t.get(273) as number[];
    assert.equal(offs.length, 3);
    assert.deepEqual(
      offs.map((o, s) => o - (offs[0] as number) - s * 80),
      [0, 0, 0],
      'strips are contiguous',
    );
    const meta = await sharp(path).metadata();
    assert.deepEqual([meta.format, meta.depth, meta.channels, meta.width, meta.height], ['tiff', 'uchar', 1, w, h]);
    const back = await sharp(path).toColourspace('b-w').raw().toBuffer();
    assert.deepEqual(new Uint8Array(back), data);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('encodeTiff rejects inconsistent images with the expected shape in the message', () => {
  assert.throws(
    () => encodeTiff({ width: 4, height: 4, data: new Uint8Array(15) }),
    /holds 15 pixels, expected 4x4 \(HxW\) = 16/,
  );
  assert.throws(() => encodeTiff({ width: 0, height: 4, data: new Uint8Array(0) }), /positive integers/);
  assert.throws(
    () => encodeTiff({ width: 2, height: 2, data: new Uint8Array(4) }, { rowsPerStrip: 0 }),
    /rowsPerStrip/,
  );
});
