import { type Server, createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * tilecraft in a browser: the library is bundled for the web, loaded into headless Chromium
 * (Debian's, with WebGPU enabled) and run on `navigator.gpu`, each result compared there with
 * the CPU reference. This is the path a web page takes: no Dawn package, no Node APIs.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let dir: string;
let server: Server;
let browser: Browser;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tilecraft-browser-'));
  await build({
    entryPoints: [fileURLToPath(new URL('../browser/entry.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Node-only paths (the Dawn fallback, reading files) are never taken in a page
    external: ['webgpu', 'node:*'],
    outfile: join(dir, 'tilecraft.js'),
    logLevel: 'warning',
  });
  const page = '<!doctype html><meta charset="utf-8"><script type="module" src="/tilecraft.js"></script>';
  server = createServer((req, res) => {
    if (req.url === '/tilecraft.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(dir, 'tilecraft.js')));
    } else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
      '--no-sandbox',
      '--disable-gpu-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('in headless Chromium, on navigator.gpu', () => {
  it('compiles and runs softmax, layernorm, a tiled matmul and f16 attention, matching the reference', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => 'tilecraftRun' in globalThis, undefined, { timeout: 30_000 });
    const r = await page.evaluate(async () => {
      const run = (globalThis as unknown as { tilecraftRun: () => Promise<unknown> }).tilecraftRun;
      return run();
    });
    expect(errors).toEqual([]);
    const out = r as { adapter: { name: string; features: string[] }; results: { case: string; output: string; ok: boolean; maxAbsError: number }[] };
    expect(out.results.map((x) => x.case)).toEqual(['softmax', 'layernorm', 'tiled matmul + GELU epilogue', 'f16 attention']);
    expect(out.results.filter((x) => !x.ok)).toEqual([]);
    await page.close();
  });
});
