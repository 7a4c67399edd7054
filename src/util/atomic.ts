/**
 * Atomic file writes: a reader sees either the old file or the whole new one, never a half-written file. Bytes go
 * to a hidden temp file beside the target (`.NAME.<pid>@<host>.<rand>.tmp`, same folder so the rename never
 * crosses file systems), are fsynced, then renamed over the target.
 *
 * No temp file outlives its write (docs/errors.md, "Temporary files"):
 *  - an exception removes it (write, fsync and rename failures alike);
 *  - process exit, SIGINT, SIGTERM and SIGHUP remove every pending temp file through one process-wide registry
 *    and one set of handlers (installed by the first write and kept: no listener piles up per write, and a
 *    signal that arrives during a synchronous write is handled when the write returns, not lost);
 *  - SIGKILL cannot be caught: the next write to the same folder sweeps temp files whose writer (a pid on this
 *    host) is no longer alive.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, basename, join } from 'node:path';

type Chunks = Uint8Array | string | readonly (Uint8Array | string)[];

/** This host in a temp name: a writer on another node of a shared file system is never taken for dead. */
const HOST =
  hostname()
    .replace(/[^A-Za-z0-9-]/g, '-')
    .slice(0, 40) || 'host';
/** `.NAME.<pid>[@<host>].<rand>.tmp`: older temp names carry no host and count as this host's. */
const TEMP_NAME = /^\.(.+)\.(\d+)(?:@([A-Za-z0-9-]+))?\.([0-9a-z]+)\.tmp$/;

/** A temp name beside `path`, so that the final rename never crosses file systems. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}@${HOST}.${randomBytes(6).toString('hex')}.tmp`);
}

const pending = new Set<string>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function removePending(): void {
  for (const tmp of pending) rmSync(tmp, { force: true });
  pending.clear();
}

/**
 * On a signal: remove the temp files; then, if nothing else in the process listens for that signal, do what
 * Node does without a listener (end the process by that signal). A program with its own handler (a graceful
 * stop that saves a last checkpoint) keeps control; its pending writes are cleaned on exit.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removePending();
  uninstall();
  process.kill(process.pid, signal);
}

function onExit(): void {
  removePending();
}

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  // First in line, so that a handler the program added with `once` still counts when onSignal looks.
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}

/** Removes the handlers, so that re-raising a signal meets Node's default action (the process ends by it). */
function uninstall(): void {
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function track(tmp: string): void {
  pending.add(tmp);
  install();
}

function untrack(tmp: string): void {
  pending.delete(tmp);
}

/** True unless `pid` is certainly gone (kill(pid, 0) says ESRCH; EPERM means alive under another user). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes temp files in `dir` left by writers on this host that are no longer alive (a SIGKILL, a power cut).
 * Returns their names. Temp files of live writers and of other hosts are left alone.
 */
export function sweepStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || (m[3] !== undefined && m[3] !== HOST) || alive(Number(m[2]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** A directory where a file is to be written is an error that says so, not a raw `EISDIR ... rename`. */
function refuseDirectory(path: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return; // absent (or unreadable: the write itself reports it)
  }
  if (isDir) {
    const example = join(path, basename(path));
    throw new Error(`cannot write ${path}: it is a directory, expected a file path (e.g. ${example})`);
  }
}

/** Checks the target, sweeps the folder, and registers a fresh temp name. */
function prepare(path: string): string {
  refuseDirectory(path);
  sweepStaleTempFiles(dirname(path));
  const tmp = tempPathFor(path);
  track(tmp);
  return tmp;
}

const chunksOf = (chunks: Chunks): readonly (Uint8Array | string)[] =>
  Array.isArray(chunks) ? chunks : [chunks as Uint8Array | string];
const bytesOf = (c: Uint8Array | string): Uint8Array => (typeof c === 'string' ? Buffer.from(c) : c);

/**
 * Write `chunks` to `path` atomically: a reader sees either the old file or the whole new one, never a
 * half-written file (written to a temp file in the same folder, fsynced, then renamed over the target).
 */
export async function writeFileAtomic(path: string, chunks: Chunks): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = prepare(path);
  try {
    const handle = await open(tmp, 'w');
    try {
      for (const c of chunksOf(chunks)) await handle.write(bytesOf(c));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    untrack(tmp);
  }
}

/** Synchronous twin of `writeFileAtomic`, for code paths that cannot await (e.g. a final save on exit). */
export function writeFileAtomicSync(path: string, chunks: Chunks): void {
  const tmp = prepare(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const c of chunksOf(chunks)) writeSync(fd, bytesOf(c));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    untrack(tmp);
  }
}
