/**
 * `multipart/byteranges` bodies (RFC 9110 section 14.6 and appendix A, "Internet Media Type
 * multipart/byteranges"): the answer to a request for several byte ranges at once. Each part is
 * `--boundary CRLF`, header lines (with `Content-Range: bytes a-b/total`), an empty line and the bytes; the
 * body ends with `--boundary--`. Parts are sliced by their Content-Range length, so that bytes equal to the
 * boundary inside a part cannot cut it short.
 */
export interface BytePart {
  /** First byte's offset in the file. */
  start: number;
  data: Uint8Array;
  /** The file's size, when the server said it. */
  total: number | null;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** The boundary of a `multipart/byteranges; boundary=...` content type, or null for any other type. */
export function byterangesBoundary(contentType: string): string | null {
  if (!/^multipart\/byteranges\b/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Parses a `Content-Range: bytes a-b/total` value. */
export function parseContentRange(value: string): { start: number; end: number; total: number | null } | null {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? null : Number(m[3]) };
}

export function parseByteranges(body: Uint8Array, boundary: string, what: string): BytePart[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: BytePart[] = [];
  let at = buf.indexOf(delimiter);
  while (at >= 0) {
    const afterDelimiter = at + delimiter.length;
    if (buf.subarray(afterDelimiter, afterDelimiter + 2).toString('latin1') === '--') return parts;
    const headersEnd = buf.indexOf(CRLF2, afterDelimiter);
    if (headersEnd < 0) break;
    const headers = buf.subarray(afterDelimiter, headersEnd).toString('latin1');
    const line = /^content-range:\s*(.+)$/im.exec(headers);
    const range = line ? parseContentRange(line[1]!) : null;
    if (!range) throw new Error(`${what}: a multipart/byteranges part has no Content-Range header`);
    const dataStart = headersEnd + CRLF2.length;
    const dataEnd = dataStart + (range.end - range.start);
    if (dataEnd > buf.length) throw new Error(`${what}: a multipart/byteranges part ends after the body (truncated?)`);
    parts.push({ start: range.start, data: body.subarray(dataStart, dataEnd), total: range.total });
    at = buf.indexOf(delimiter, dataEnd);
  }
  throw new Error(`${what}: the multipart/byteranges body has no closing boundary (truncated?)`);
}

/** A multipart/byteranges body for `parts` of a file of `total` bytes (the server side, for tests and benches). */
export function formatByteranges(
  parts: readonly { start: number; data: Uint8Array }[],
  total: number,
  boundary: string,
): Buffer {
  const chunks: Buffer[] = [];
  for (const { start, data } of parts) {
    chunks.push(
      Buffer.from(
        `\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Range: bytes ${start}-${start + data.length - 1}/${total}\r\n\r\n`,
      ),
    );
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/**
 * Parses a Range header (`bytes=a-b,c-d,...`, RFC 9110 section 14.1.2) against a file of `size` bytes:
 * the satisfiable ranges as [start, end), null when the header is absent or not a byte-range set.
 */
export function parseRangeHeader(header: string | undefined, size: number): [number, number][] | null {
  const m = /^bytes=(.+)$/i.exec(header ?? '');
  if (!m) return null;
  const out: [number, number][] = [];
  for (const spec of m[1]!.split(',')) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return null;
    if (r[1] === '') out.push([Math.max(0, size - Number(r[2])), size]);
    else if (Number(r[1]) < size) out.push([Number(r[1]), r[2] === '' ? size : Math.min(size, Number(r[2]) + 1)]);
  }
  return out;
}

/**
 * Answers a GET/HEAD for a file of `size` bytes honouring its Range header: 200 with the whole file, 206
 * with one range, 206 multipart/byteranges with several, 416 when none is satisfiable. `read(start, end)`
 * returns the file's bytes [start, end). Returns the status and the body (empty for HEAD).
 */
export function answerRanges(
  rangeHeader: string | undefined,
  size: number,
  head: boolean,
  multi: boolean,
  read: (start: number, end: number) => Uint8Array,
): { status: number; headers: Record<string, string | number>; body: Buffer } {
  let ranges = parseRangeHeader(rangeHeader, size);
  if (ranges !== null && ranges.length > 1 && !multi) ranges = null;
  const base = { 'accept-ranges': 'bytes' };
  if (ranges === null) {
    const body = head ? Buffer.alloc(0) : Buffer.from(read(0, size));
    return {
      status: 200,
      headers: { ...base, 'content-type': 'application/octet-stream', 'content-length': size },
      body,
    };
  }
  if (ranges.length === 0)
    return { status: 416, headers: { ...base, 'content-range': `bytes */${size}` }, body: Buffer.alloc(0) };
  if (ranges.length === 1) {
    const [s, e] = ranges[0]!;
    const body = head ? Buffer.alloc(0) : Buffer.from(read(s, e));
    return {
      status: 206,
      body,
      headers: {
        ...base,
        'content-type': 'application/octet-stream',
        'content-length': e - s,
        'content-range': `bytes ${s}-${e - 1}/${size}`,
      },
    };
  }
  const boundary = 'inkwell-byteranges';
  const body = formatByteranges(
    ranges.map(([s, e]) => ({ start: s, data: read(s, e) })),
    size,
    boundary,
  );
  return {
    status: 206,
    body: head ? Buffer.alloc(0) : body,
    headers: { ...base, 'content-type': `multipart/byteranges; boundary=${boundary}`, 'content-length': body.length },
  };
}
