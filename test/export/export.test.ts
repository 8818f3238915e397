import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { dot } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { ManifestError, manifestOf, readManifest } from '../../src/export/manifest.js';
import { EXPORT_FILES, writeExport } from '../../src/export/write.js';
import { withDynamicSizes } from '../../src/ir/bind.js';
import { type IntExpr, evalInt } from '../../src/ir/intexpr.js';
import { type Program } from '../../src/ir/tensor.js';
import { type LowerOptions } from '../../src/passes/pipeline.js';
import { planFor } from '../../src/runtime/target.js';
import { gpu } from '../helpers/device.js';
import { exportCase } from '../helpers/export-case.js';

const MAP_READ = 0x1, COPY_DST = 0x8;

interface Loaded {
  createKernels(device: GPUDevice): Promise<{
    createBuffer(name: string, extra?: number): GPUBuffer;
    encode(encoder: GPUCommandEncoder, buffers: Record<string, GPUBuffer>, sizes?: Record<string, number>): void;
    destroy(): void;
  }>;
}

/**
 * Exports a program, loads the written loader module as a user would (no tilecraft involved),
 * runs it on the test device's own GPUDevice at `values` of the dynamic sizes, and compares with
 * the reference.
 */
async function exportAndRun(program: Program, sizes: Record<string, number>, values: Record<string, number>, lowering: LowerOptions = {}) {
  const device = await gpu();
  const c = await exportCase(device.info, program, sizes, values, lowering);
  const mod = (await import(pathToFileURL(join(c.dir, EXPORT_FILES.loader)).href)) as Loaded;
  const gpuDevice = device.device;
  const kernels = await mod.createKernels(gpuDevice);
  const buffers: Record<string, GPUBuffer> = {};
  for (const name of [...Object.keys(c.inputs), ...c.outputs]) buffers[name] = kernels.createBuffer(name);
  for (const [name, bytes] of Object.entries(c.inputs)) gpuDevice.queue.writeBuffer(buffers[name]!, 0, bytes);
  const encoder = gpuDevice.createCommandEncoder();
  kernels.encode(encoder, buffers, Object.keys(c.manifest.dynamic).length ? values : undefined);
  const reads = c.outputs.map((name) => {
    const size = c.manifest.tensors.find((m) => m.name === name)!.bytes;
    const staging = gpuDevice.createBuffer({ size, usage: MAP_READ | COPY_DST });
    encoder.copyBufferToBuffer(buffers[name]!, 0, staging, 0, size);
    return { name, staging };
  });
  gpuDevice.queue.submit([encoder.finish()]);
  const read: Record<string, Uint8Array> = {};
  for (const { name, staging } of reads) {
    await staging.mapAsync(MAP_READ);
    read[name] = new Uint8Array(staging.getMappedRange().slice(0));
    staging.unmap();
  }
  for (const b of Object.values(buffers)) b.destroy();
  kernels.destroy();
  return { failures: c.check(read), manifest: c.manifest, dir: c.dir };
}

describe('the manifest', () => {
  it('reads back through its schema, and a broken one is a typed error naming the field', async () => {
    const device = await gpu();
    const plan = planFor(device.info, findExample('matmul')!.build('f32'), { M: 8, N: 8, K: 8 });
    const m = manifestOf(plan);
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
    await writeExport(dir, m);
    expect(readManifest(readFileSync(join(dir, EXPORT_FILES.manifest), 'utf8'))).toEqual(JSON.parse(JSON.stringify(m)));
    const schema = JSON.parse(readFileSync(join(dir, EXPORT_FILES.schema), 'utf8')) as { type: string; required: string[] };
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['format', 'kernels', 'tensors']));
    const broken = JSON.parse(JSON.stringify(m)) as { kernels: { grid: unknown[]; bindings: { tensor: string }[] }[] };
    broken.kernels[0]!.grid = [1, 'x', 1];
    expect(() => readManifest(JSON.stringify(broken))).toThrow(ManifestError);
    expect(() => readManifest(JSON.stringify(broken))).toThrow(/kernels\.0\.grid\.1/);
    broken.kernels[0]!.grid = [1, 1, 1];
    broken.kernels[0]!.bindings[0]!.tensor = 'Nope';
    expect(() => readManifest(JSON.stringify(broken))).toThrow(/binds Nope, which is not a tensor/);
    expect(() => readManifest('{')).toThrow(/not JSON/);
  });
});

describe('autotune export: the loader runs the kernels on a GPUDevice without tilecraft', () => {
  it('a GEMM at sizes that are not multiples of its tiles', async () => {
    const r = await exportAndRun(findExample('matmul')!.build('f32'), { M: 37, N: 45, K: 29 }, {});
    expect(r.failures).toEqual([]);
    expect(r.manifest.kernels).toHaveLength(1);
    expect(readFileSync(join(r.dir, EXPORT_FILES.kernels, `${r.manifest.kernels[0]!.name}.wgsl`), 'utf8')).toContain('@compute');
  });

  it('decoding attention at a dynamic length, split across workgroups (a temporary between two kernels)', async () => {
    const r = await exportAndRun(findExample('decode-attention')!.build('f32'), { B: 1, H: 2, M: 8192, D: 16 }, { M: 300 }, {
      defaults: { rows: { splitSteps: 4, threadsPerRow: 16, workgroupSize: 16 } },
    });
    expect(r.failures).toEqual([]);
    expect(r.manifest.dynamic).toEqual({ M: 8192 });
    expect(r.manifest.tensors.some((t) => t.role === 'temp')).toBe(true);
    expect(r.manifest.tensors.find((t) => t.name === 'K')!.extents).toEqual([null, null, 'M', null]);
  });

  it('a GEMM over a dynamic number of rows: the manifest gives the live workgroups as an expression of M, and the loader launches only those', async () => {
    const p = program('mm', (b) => {
      const M = b.dynamicSize('M', { max: 500 });
      const [N, K] = b.sizes('N', 'K');
      b.output('C', dot(b.input('A', 'f32', { m: M, k: K }), b.input('B', 'f32', { k: K, n: N }), 'k'));
    });
    for (const M of [1, 37, 500]) expect((await exportAndRun(p, { M: 500, N: 45, K: 29 }, { M })).failures, `M = ${M}`).toEqual([]);
    const { manifest } = await exportAndRun(p, { M: 500, N: 45, K: 29 }, { M: 37 });
    const k = manifest.kernels[0]!;
    expect(k.liveGroups).not.toBeNull();
    const at = (M: number) => evalInt(k.liveGroups as IntExpr, { M });
    expect(at(37)).toBeLessThan(at(500));
    expect(at(500)).toBeLessThanOrEqual(k.grid[0] * k.grid[1]);
    // an expression reading something that is not a size the kernel is given is refused
    const broken = JSON.parse(JSON.stringify(manifest)) as { kernels: { liveGroups: unknown }[] };
    broken.kernels[0]!.liveGroups = { op: 'sym', name: 'Q' };
    expect(() => readManifest(JSON.stringify(broken))).toThrow(/liveGroups reads Q/);
    broken.kernels[0]!.liveGroups = { op: 'pow', a: 1, b: 2 };
    expect(() => readManifest(JSON.stringify(broken))).toThrow(ManifestError);
  });

  it('attention over a dynamic number of queries (N made dynamic at export), at values below the bound', async () => {
    const p = withDynamicSizes(findExample('attention')!.build('f32'), { N: 64 });
    for (const N of [1, 37]) expect((await exportAndRun(p, { B: 1, H: 2, N: 64, M: 53, D: 16 }, { N })).failures, `N = ${N}`).toEqual([]);
  });

  it('an int4 GEMV (packed weights) and f16 tensors as packed halves', async () => {
    expect((await exportAndRun(findExample('int4-zp-gemm')!.build('f32'), { M: 1, N: 37, K: 64, G: 32 }, {})).failures).toEqual([]);
    expect((await exportAndRun(findExample('softmax')!.build('f16'), { N: 7, D: 100 }, {})).failures).toEqual([]);
  });

  it('refuses a missing buffer, a missing or out-of-range dynamic size, with errors naming them', async () => {
    const device = await gpu();
    const program = findExample('decode-attention')!.build('f32');
    const plan = planFor(device.info, program, { B: 1, H: 2, M: 64, D: 16 });
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
    await writeExport(dir, manifestOf(plan));
    const mod = (await import(pathToFileURL(join(dir, EXPORT_FILES.loader)).href)) as Loaded;
    const k = await mod.createKernels(device.device);
    const buffers = Object.fromEntries(['Q', 'K', 'V', 'O'].map((n) => [n, k.createBuffer(n)]));
    const enc = () => device.device.createCommandEncoder();
    expect(() => k.encode(enc(), buffers)).toThrow(/dynamic size M: give its value/);
    expect(() => k.encode(enc(), buffers, { M: 9000 })).toThrow(/M = 9000 must be an integer from 1 to its bound 8192/);
    expect(() => k.encode(enc(), { Q: buffers.Q!, K: buffers.K!, V: buffers.V! }, { M: 5 })).toThrow(/output O .* needs a buffer/);
    k.destroy();
    // kernels needing more of a limit than the device was given: refused up front, naming it
    const big = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
    await writeExport(big, { ...manifestOf(plan), requiredLimits: { maxComputeWorkgroupStorageSize: 2 ** 30 } });
    const tooBig = (await import(pathToFileURL(join(big, EXPORT_FILES.loader)).href)) as Loaded;
    await expect(tooBig.createKernels(device.device)).rejects.toThrow(/need maxComputeWorkgroupStorageSize >= 1073741824; this device has \d+/);
  });
});
