/**
 * Tiny datasets of every layout for the remote tests (64x64, 8-16 layers), and a test server over them
 * with basic auth. The credentials below are test values, used to check they never leak.
 */
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import {
  pythonFixtures,
  rectMask,
  tempDir,
  writeKaggleFragment,
  writeMask,
  writeSegment,
  writeStack,
} from '../data/reader-fixtures.js';
import { configureRemote } from '../../src/data/remote/store.js';
import { startTestServer, type TestServer, type TestServerOptions } from './http-server.js';

export const USER = 'scroll-reader';
export const PASSWORD = 'pa55-w0rd-Xq7';

export interface RemoteFixtures {
  root: string;
  /** Relative paths of the datasets under root, by name. */
  datasets: Record<string, string>;
  /** Why the Zarr datasets are missing (python3-zarr unavailable), or null. */
  zarrSkip: string | null;
}

/** Writes every layout under one temp root. */
export async function writeRemoteFixtures(): Promise<RemoteFixtures> {
  const root = tempDir('inkwell-remote-');
  const H = 64;
  const W = 64;
  await writeKaggleFragment(join(root, 'frag1'), { layers: 8, height: H, width: W, bits: 16 });
  await writeSegment(join(root, 'seg-png', '20230101000000'), '20230101000000', {
    layers: 8,
    height: H,
    width: W,
    bits: 8,
    ext: 'png',
  });
  await writeSegment(join(root, 'seg-lzw', '20230202000000'), '20230202000000', {
    layers: 8,
    height: H,
    width: W,
    bits: 16,
    tiffCompression: 'lzw',
    digits: 3,
  });
  for (const id of ['20231005123333', '20231012184423']) {
    await writeSegment(join(root, 'segments', id), id, { layers: 16, height: H, width: W, bits: 8 });
  }
  // A larger uncompressed 16-bit stack for the byte-count test: a 64x64 crop of 512x512 layers.
  await writeStack(join(root, 'big', 'surface_volume'), { layers: 8, height: 512, width: 512, bits: 16 });
  await writeMask(join(root, 'big', 'mask.png'), rectMask(512, 512, 8, 504, 8, 504), 512, 512);
  const datasets: Record<string, string> = {
    'kaggle-fragment': 'frag1',
    'scroll-segment (png)': 'seg-png/20230101000000',
    'scroll-segment (lzw tif)': 'seg-lzw/20230202000000',
    'segment-folder': 'segments',
  };
  const fx = pythonFixtures('zarr');
  let zarrSkip: string | null = null;
  if (typeof fx === 'string') zarrSkip = fx;
  else {
    mkdirSync(join(root, 'zarr'), { recursive: true });
    for (const name of ['nested.zarr', 'flat.zarr', 'ome.zarr'])
      cpSync(fx.path(name), join(root, 'zarr', name), { recursive: true });
    datasets['zarr (nested)'] = 'zarr/nested.zarr';
    datasets['zarr (flat)'] = 'zarr/flat.zarr';
    datasets['ome-zarr'] = 'zarr/ome.zarr';
  }
  return { root, datasets, zarrSkip };
}

/** A server over `root` with the test credentials, and this process set up to use them (no disk cache). */
export async function serveWithAuth(root: string, opts: Partial<TestServerOptions> = {}): Promise<TestServer> {
  process.env['INKWELL_HTTP_USER'] = USER;
  process.env['INKWELL_HTTP_PASSWORD'] = PASSWORD;
  configureRemote({ cache: null });
  return startTestServer({ root, user: USER, password: PASSWORD, ...opts });
}

/**
 * Registers a test file's setup: every layout written, served with the test credentials; closed afterwards.
 * The returned object's fields are filled in before the first test runs.
 */
export function useRemoteFixtures(): { fx: RemoteFixtures; server: TestServer } {
  const suite = {} as { fx: RemoteFixtures; server: TestServer };
  before(async () => {
    suite.fx = await writeRemoteFixtures();
    suite.server = await serveWithAuth(suite.fx.root);
  });
  after(async () => {
    await suite.server.close();
  });
  return suite;
}
