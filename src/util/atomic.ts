import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** A temp name beside `path`, so that the final rename never crosses file systems. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/**
 * Write `chunks` to `path` atomically: a reader sees either the old file or the whole new one, never a
 * half-written file (written to a temp file in the same folder, fsynced, then renamed over the target).
 */
export async function writeFileAtomic(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const list = Array.isArray(chunks) ? chunks : [chunks];
  const handle = await open(tmp, 'w');
  try {
    for (const c of list as (Uint8Array | string)[]) await handle.write(typeof c === 'string' ? Buffer.from(c) : c);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Synchronous twin of `writeFileAtomic`, for code paths that cannot await (e.g. a final save on exit). */
export function writeFileAtomicSync(path: string, chunks: Uint8Array | string | readonly (Uint8Array | string)[]): void {
  const tmp = tempPathFor(path);
  const list = Array.isArray(chunks) ? chunks : [chunks];
  const fd = openSync(tmp, 'w');
  try {
    for (const c of list as (Uint8Array | string)[]) writeSync(fd, typeof c === 'string' ? Buffer.from(c) : c);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}
