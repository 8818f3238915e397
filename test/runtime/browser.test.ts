import { type Server, createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { withDynamicSizes } from '../../src/ir/bind.js';
import type { Program } from '../../src/ir/tensor.js';
import { gpu } from '../helpers/device.js';
import { type ExportCase, exportCase } from '../helpers/export-case.js';

/**
 * tilecraft in a browser: the library is bundled for the web, loaded into headless Chromium
 * (Debian's, with WebGPU enabled) and run on `navigator.gpu`, each result compared there with
 * the CPU reference. This is the path a web page takes: no Dawn package, no Node APIs.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The page's DOM, as the functions evaluated in it see it (this file is compiled without the DOM library). */
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
}
declare const byId: (id: string) => PageElement;
declare const all: (selector: string) => Iterable<PageElement>;
/** Defines `byId` and `all` in every page of a context, before the page's own scripts. */
const DOM_HELPERS = { content: 'globalThis.byId = (id) => document.getElementById(id); globalThis.all = (s) => document.querySelectorAll(s);' };

/** The program exported for the page that loads it without tilecraft. */
const EXPORTED: Record<string, { program: Program; sizes: Record<string, number>; values: Record<string, number> }> = {
  matmul: { program: findExample('matmul')!.build('f32'), sizes: { M: 37, N: 45, K: 29 }, values: {} },
  // N made dynamic at export: one set of kernels for any number of queries up to 64
  attention: { program: withDynamicSizes(findExample('attention')!.build('f32'), { N: 64 }), sizes: { B: 1, H: 2, N: 64, M: 53, D: 16 }, values: { N: 37 } },
  gemv: { program: findExample('int4-zp-gemm')!.build('f32'), sizes: { M: 1, N: 37, K: 64, G: 32 }, values: {} },
};
const exported: Record<string, ExportCase> = {};

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
    outfile: join(dir, 'tilecraft.js'),
    logLevel: 'warning',
  });
  // the example page, bundled as its README says, with 'tilecraft' resolved to this checkout
  await build({
    entryPoints: [fileURLToPath(new URL('../../examples/web/main.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    alias: { tilecraft: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) },
    outfile: join(dir, 'web', 'main.js'),
    logLevel: 'warning',
  });
  const page = '<!doctype html><meta charset="utf-8"><script type="module" src="/tilecraft.js"></script>';
  // an exported GEMM, loaded by a page through its own loader module (no tilecraft bundle)
  // lowered for this machine's Dawn device (the page's Chromium runs the same WGSL)
  const info = (await gpu()).info;
  for (const [name, c] of Object.entries(EXPORTED)) exported[name] = await exportCase(info, c.program, c.sizes, c.values);
  // a page that loads an exported program's own loader module (no tilecraft bundle) and moves bytes
  const exportPage = `<!doctype html><meta charset="utf-8"><script type="module">
    globalThis.exportRun = async (name, inputs, sizes, outputs) => {
      const { createKernels, manifest } = await import('/export/' + name + '/tilecraft-kernels.js');
      const adapter = await navigator.gpu.requestAdapter();
      const device = await adapter.requestDevice({ requiredLimits: manifest.requiredLimits });
      const k = await createKernels(device);
      const buffers = {};
      for (const [t, bytes] of Object.entries(inputs)) {
        buffers[t] = k.createBuffer(t);
        device.queue.writeBuffer(buffers[t], 0, new Uint8Array(bytes));
      }
      for (const t of outputs) buffers[t] = k.createBuffer(t);
      const encoder = device.createCommandEncoder();
      k.encode(encoder, buffers, Object.keys(sizes).length ? sizes : undefined);
      const reads = outputs.map((t) => {
        const read = device.createBuffer({ size: buffers[t].size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        encoder.copyBufferToBuffer(buffers[t], 0, read, 0, buffers[t].size);
        return [t, read];
      });
      device.queue.submit([encoder.finish()]);
      const out = {};
      for (const [t, read] of reads) {
        await read.mapAsync(GPUMapMode.READ);
        out[t] = Array.from(new Uint8Array(read.getMappedRange()));
      }
      return out;
    };
  </script>`;
  server = createServer((req, res) => {
    if (req.url === '/tilecraft.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(dir, 'tilecraft.js')));
    } else if (/^\/export\/\w+\/tilecraft-kernels\.js$/.test(req.url ?? '')) {
      const name = req.url!.split('/')[2]!;
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(exported[name]!.dir, 'tilecraft-kernels.js')));
    } else if (req.url === '/web/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(readFileSync(new URL('../../examples/web/index.html', import.meta.url)));
    } else if (req.url === '/web/main.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(dir, 'web', 'main.js')));
    } else if (req.url === '/export.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(exportPage);
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

  it('runs exported kernels (a GEMM, attention over a dynamic number of queries, an int4 GEMV) through their own loader module, matching the reference', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}export.html`);
    await page.waitForFunction(() => 'exportRun' in globalThis, undefined, { timeout: 30_000 });
    type Run = (name: string, inputs: Record<string, number[]>, sizes: Record<string, number>, outputs: readonly string[]) => Promise<Record<string, number[]>>;
    for (const [name, c] of Object.entries(exported)) {
      const inputs = Object.fromEntries(Object.entries(c.inputs).map(([t, bytes]) => [t, Array.from(bytes)]));
      const got = await page.evaluate(
        async ([n, i, v, o]) => (globalThis as unknown as { exportRun: Run }).exportRun(n, i, v, o),
        [name, inputs, EXPORTED[name]!.values, c.outputs] as const,
      );
      expect(c.check(Object.fromEntries(Object.entries(got).map(([t, bytes]) => [t, Uint8Array.from(bytes)]))), name).toEqual([]);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  // The example page tunes a matmul on the page's device, shows the table, runs the winner
  // against the reference and keeps it in localStorage under the device fingerprint: a second
  // visit finds it, and a fresh profile on the same machine computes the same fingerprint.
  it('the example page tunes a kernel in the page, shows the table, and finds its winner again on the next visit', async () => {
    const context = await browser.newContext();
    await context.addInitScript(DOM_HELPERS);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const settled = async () => {
      // settled: an error, or a schedule chosen and checked against the reference
      await page.waitForFunction(() => byId('status').dataset.state === 'error' || byId('check').dataset.maxError !== undefined, undefined, { timeout: 600_000 });
      return page.evaluate(() => ({
        state: byId('status').dataset.state,
        status: byId('status').textContent,
        fingerprint: byId('device').dataset.fingerprint,
        maxError: Number(byId('check').dataset.maxError),
        rows: [...all('#results tbody tr')].map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
      }));
    };
    await page.goto(`${url}web/`);
    const first = await settled();
    expect(first.state, first.status ?? '').toBe('tuned');
    expect(errors).toEqual([]);
    expect(first.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(first.maxError).toBeLessThan(1e-3);
    // ranked by median, the default among them, the winner first and no slower than the default
    expect(first.rows.length).toBeGreaterThan(1);
    const medians = first.rows.map((r) => Number(r[2]));
    expect([...medians].sort((x, y) => x - y)).toEqual(medians);
    expect(first.rows.some((r) => r[1]!.endsWith('(default)'))).toBe(true);
    expect(Number(first.rows[0]![4]!.replace('×', ''))).toBeGreaterThanOrEqual(0.97);

    await page.reload();
    const second = await settled();
    expect(second.state, second.status ?? '').toBe('kept');
    expect(second.fingerprint).toBe(first.fingerprint);
    expect(second.maxError).toBeLessThan(1e-3);
    await context.close();

    const fresh = await browser.newContext();
    await fresh.addInitScript(DOM_HELPERS);
    const other = await fresh.newPage();
    await other.goto(`${url}web/`);
    await other.waitForFunction(() => byId('device').dataset.fingerprint !== undefined, undefined, { timeout: 60_000 });
    expect(await other.evaluate(() => byId('device').dataset.fingerprint)).toBe(first.fingerprint);
    await fresh.close();
  }, 600_000);
});
