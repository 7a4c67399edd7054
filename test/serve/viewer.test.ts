/**
 * `inkwell serve` in headless Chromium (playwright-core, /usr/bin/chromium): the page loads, the z slider
 * changes the tile image, an overlay toggles, zooming requests finer tiles, hovering shows values, and
 * path-traversal requests are refused. Data: a 1024x1024 x 8-layer fragment (large enough that the home view
 * is not yet the finest level) with a prediction PNG.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { startViewer, type Viewer } from '../../src/serve/server.js';
import { tempDir, writeKaggleFragment } from '../data/reader-fixtures.js';

const CHROMIUM = process.env['INKWELL_CHROMIUM'] ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `needs Chromium at ${CHROMIUM} (or INKWELL_CHROMIUM)`;
const H = 1024;
const W = 1024;
let viewer: Viewer;
let browser: Browser;
let page: Page;
let root: string;

before(async () => {
  if (skip) return;
  root = tempDir('inkwell-serve-');
  await writeKaggleFragment(join(root, 'frag'), { layers: 8, height: H, width: W, bits: 8 });
  // A run folder as `inkwell report` reads it: predictions/<id>_prob.png (a diagonal ramp).
  mkdirSync(join(root, 'run', 'predictions'), { recursive: true });
  const prob = new Uint8Array(H * W).map((_, i) => Math.round((((i / W) | 0) + (i % W)) / 8));
  await sharp(prob, { raw: { width: W, height: H, channels: 1 } })
    .png()
    .toFile(join(root, 'run', 'predictions', 'frag_prob.png'));
  viewer = await startViewer({ input: join(root, 'frag'), predictions: [join(root, 'run')], port: 0, tileSize: 64 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  // Small enough that the home view shows the 1024-px image at under half a screen pixel per pixel, so the
  // finest level (10) is only needed after zooming in (OpenSeadragon's minPixelRatio is 0.5).
  page = await browser.newPage({ viewport: { width: 740, height: 380 } });
});

after(async () => {
  await browser?.close();
  await viewer?.close();
});

const tileRequests = (pattern: RegExp): string[] =>
  viewer.requests.filter((r) => pattern.test(r.path) && r.status === 200).map((r) => r.path);

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The left view's canvas pixels (PNG screenshot of the element). */
async function leftPixels(): Promise<Buffer> {
  await page.waitForTimeout(500);
  const png = await page.locator('#left').screenshot();
  return sharp(png).raw().toBuffer();
}

test('the page loads: datasets, layers and overlays listed, tiles of the middle layer drawn', { skip }, async () => {
  await page.goto(`${viewer.url}?drawer=canvas`);
  await page.waitForFunction('window.inkwell && window.inkwell.ready === true');
  assert.equal(await page.locator('#dataset option').count(), 1);
  assert.equal(await page.locator('#zval').textContent(), '4');
  const names = await page.locator('#overlays .name').allTextContents();
  assert.deepEqual(names, ['mask', 'ink labels', 'run/predictions/frag_prob.png']);
  await waitFor('layer tiles', () => tileRequests(/^\/tiles\/0\/layer\/4\//).length > 0);
  const px = await leftPixels();
  assert.ok(
    px.some((v) => v > 40),
    'the view shows non-black pixels',
  );
});

test('the z slider changes the tile image', { skip }, async () => {
  const before4 = await leftPixels();
  await page.locator('#z').fill('6');
  await waitFor('layer 6 tiles', () => tileRequests(/^\/tiles\/0\/layer\/6\//).length > 0);
  const after6 = await leftPixels();
  assert.ok(!before4.equals(after6), 'the drawn image changed with the layer');
  // The same tile of two layers differs, and matches the data: render it directly.
  const t4 = await (await fetch(`${viewer.url}tiles/0/layer/4/10/0_0.png`)).arrayBuffer();
  const t6 = await (await fetch(`${viewer.url}tiles/0/layer/6/10/0_0.png`)).arrayBuffer();
  assert.ok(!Buffer.from(t4).equals(Buffer.from(t6)));
});

test('an overlay toggles on and off', { skip }, async () => {
  const off = await leftPixels();
  await page.locator('#overlays input[data-k="1"]').check();
  await waitFor('ink label overlay tiles', () => tileRequests(/^\/tiles\/0\/overlay\/1\//).length > 0);
  const on = await leftPixels();
  assert.ok(!off.equals(on), 'the ink-label overlay changed the image');
  await page.locator('#overlays input[data-k="1"]').uncheck();
  const offAgain = await leftPixels();
  assert.ok(!on.equals(offAgain), 'unchecking removed it');
});

test('zooming in requests finer tiles; hovering shows position and values', { skip }, async () => {
  const level = (p: string): number => Number(/^\/tiles\/0\/layer\/\d+\/(\d+)\//.exec(p)?.[1] ?? -1);
  const seen = viewer.requests.length;
  const fromBrowser = (): string[] =>
    viewer.requests
      .slice(seen)
      .filter((r) => r.status === 200)
      .map((r) => r.path)
      .filter((p) => /^\/tiles\/0\/layer\/6\//.test(p));
  const finestBefore = Math.max(...tileRequests(/^\/tiles\/0\/layer\/6\/\d+\/\d+_\d+\.png\?/).map(level));
  await page.evaluate('window.inkwell.left.viewport.zoomBy(6); window.inkwell.left.viewport.applyConstraints();');
  await waitFor(
    `tiles finer than level ${finestBefore}`,
    () => fromBrowser().some((p) => level(p) > finestBefore),
    30_000,
  );
  const box = (await page.locator('#left').boundingBox())!;
  await page.mouse.move(box.x + 10, box.y + 10);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
  await page
    .waitForFunction("/value \\d+/.test(document.getElementById('hover').textContent)", undefined, { timeout: 10_000 })
    .catch(async (err: Error) => {
      throw new Error(
        `${err.message}; hover shows ` +
          `'${await page.locator('#hover').textContent()}', value requests ` +
          `${JSON.stringify(viewer.requests.filter((r) => r.path.startsWith('/api/value')))}`,
      );
    });
  const text = (await page.locator('#hover').textContent())!;
  assert.match(text, /x \d+ {2}y \d+ {2}z 6/);
  assert.match(text, /ink labels: [01]/);
  assert.match(text, /frag_prob\.png: 0\.\d{3}/);
  await page.setViewportSize({ width: 1200, height: 620 });
  await page.locator('#sbs').check();
  await page.locator('#right').selectOption('2');
  await page.waitForTimeout(800);
  await page.screenshot({ path: join(process.env['INKWELL_SCREENSHOT_DIR'] ?? root, 'viewer.png') });
});

test('path traversal and writes are refused', { skip }, async () => {
  for (const p of [
    '/static/../../../package.json',
    '/static/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/osd/..%2f..%2fpackage.json',
    '/static/..%5c..%5cpackage.json',
    '/tiles/0/layer/4/8/..%2f0_0.png',
    '/static/%00',
  ]) {
    const r = await fetch(`${viewer.url.slice(0, -1)}${p}`);
    const body = await r.text();
    assert.ok(r.status === 403 || r.status === 404 || r.status === 400, `${p} answered ${r.status}`);
    assert.ok(!body.includes('"name": "inkwell"'), `${p} leaked package.json`);
  }
  // Raw (unnormalised) paths straight over a socket, as fetch would normalise `..` away itself.
  const { request } = await import('node:http');
  const u = new URL(viewer.url);
  const status = await new Promise<number>((ok) => {
    request({ host: u.hostname, port: u.port, path: '/static/../../../package.json' }, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    }).end();
  });
  assert.equal(status, 403);
  const put = await fetch(`${viewer.url}static/index.html`, { method: 'PUT', body: 'x' });
  assert.equal(put.status, 405);
  assert.equal((await fetch(`${viewer.url}static/viewer.js`)).status, 200, "the page's own files are served");
});
