/** multipart/byteranges round trips, including parts whose bytes contain the boundary, and Range headers. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  answerRanges,
  byterangesBoundary,
  formatByteranges,
  parseByteranges,
  parseRangeHeader,
} from '../../src/data/remote/multipart.js';

test('parts are cut by their Content-Range length, even when their bytes contain the boundary', () => {
  const file = randomBytes(1000);
  Buffer.from('\r\n--b0undary\r\n').copy(file, 120);
  const ranges = [
    [100, 200],
    [500, 501],
    [990, 1000],
  ] as const;
  const body = formatByteranges(
    ranges.map(([s, e]) => ({ start: s, data: file.subarray(s, e) })),
    file.length,
    'b0undary',
  );
  const parts = parseByteranges(body, 'b0undary', 'test');
  assert.deepEqual(
    parts.map((p) => [p.start, p.data.length, p.total]),
    [
      [100, 100, 1000],
      [500, 1, 1000],
      [990, 10, 1000],
    ],
  );
  for (const [i, [s, e]] of ranges.entries()) assert.ok(Buffer.from(parts[i]!.data).equals(file.subarray(s, e)));
  assert.throws(() => parseByteranges(body.subarray(0, body.length - 30), 'b0undary', 'test'), /truncated/);
});

test('boundaries and Range headers are read as RFC 9110 writes them', () => {
  assert.equal(byterangesBoundary('multipart/byteranges; boundary=00000000000000000002'), '00000000000000000002');
  assert.equal(byterangesBoundary('multipart/byteranges; boundary="a b"'), 'a b');
  assert.equal(byterangesBoundary('application/octet-stream'), null);
  assert.deepEqual(parseRangeHeader('bytes=0-9,20-,-5', 100), [
    [0, 10],
    [20, 100],
    [95, 100],
  ]);
  assert.deepEqual(parseRangeHeader('bytes=200-300', 100), []);
  assert.equal(parseRangeHeader(undefined, 100), null);
  const file = randomBytes(50);
  const read = (s: number, e: number): Uint8Array => file.subarray(s, e);
  assert.equal(
    answerRanges('bytes=0-9,20-29', 50, false, false, read).status,
    200,
    'several ranges refused: whole file',
  );
  assert.equal(answerRanges('bytes=60-70', 50, false, true, read).status, 416);
  const one = answerRanges('bytes=5-9', 50, false, true, read);
  assert.equal(one.headers['content-range'], 'bytes 5-9/50');
  assert.ok(one.body.equals(file.subarray(5, 10)));
});
