import { afterAll, describe, expect, it } from 'vitest';
import { layernorm, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import {
  BindingError,
  DeviceError,
  DeviceLimitError,
  DeviceLostError,
  KernelCompileError,
  MissingFeatureError,
} from '../../src/ir/errors.js';
import { type HostTensor, randomHost } from '../../src/ir/host.js';
import { F32, type Kernel, kbuiltin, kcast, kconst, kref } from '../../src/ir/kernel.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { type CompileOptions, Executable } from '../../src/runtime/executable.js';
import { WebGpuDevice, createWebGpuDevice } from '../../src/runtime/webgpu.js';
import { checkOnDevice, gpu, mismatch } from '../helpers/device.js';

// WebGPU's enum values (the GPUBufferUsage / GPUMapMode globals are not defined in Node)
const STORAGE = 0x80;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

/** Y = X * X + 1 over [N]: one elementwise kernel. */
const square = program('square', (b) => {
  const x = b.input('X', 'f32', { i: b.size('N') });
  b.output('Y', x.mul(x).add(1));
});

/** Two kernels: an elementwise output and a reduction over the outer axis. */
const twoKernels = program('two_kernels', (b) => {
  const [N, D] = b.sizes('N', 'D');
  const x = b.input('X', 'f32', { i: N, j: D });
  b.output('E', x.exp());
  b.output('S', x.sum('i'));
});

/** A device of the caller's own, with default limits and no optional features. */
let own: { gpu: GPU; device: GPUDevice; adapter: GPUAdapter } | undefined;
async function ownDevice() {
  if (!own) {
    const { create } = await import('webgpu');
    const g = create([]);
    const adapter = await g.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    own = { gpu: g, adapter, device: await adapter.requestDevice() };
  }
  return own;
}
afterAll(() => own?.device.destroy());

async function readGpuBuffer(device: GPUDevice, buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(MAP_READ);
  const out = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return out;
}

async function caught(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, none was thrown');
}

// -----------------------------------------------------------------------------------------------

describe('device info', () => {
  it('reports the backend, a name, the optional features in use and limits that agree with the GPUDevice', async () => {
    const d = await gpu();
    expect(d.info.backend).toBe('webgpu');
    expect(d.info.name.length).toBeGreaterThan(0);
    for (const f of d.info.features) {
      expect(['shader-f16', 'subgroups', 'timestamp-query']).toContain(f);
      expect(d.device.features.has(f)).toBe(true);
      expect(d.hasFeature(f)).toBe(true);
    }
    expect([...d.info.features]).toEqual([...d.info.features].sort());
    expect(d.hasFeature('no-such-feature')).toBe(false);
    const l = d.device.limits;
    expect(d.info.limits).toMatchObject({
      maxWorkgroupInvocations: l.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupSize: [l.maxComputeWorkgroupSizeX, l.maxComputeWorkgroupSizeY, l.maxComputeWorkgroupSizeZ],
      maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxWorkgroupStorageBytes: l.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxBuffersPerKernel: l.maxStorageBuffersPerShaderStage,
    });
    // createWebGpuDevice raises limits to the adapter's: never below WebGPU's defaults
    expect(d.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(d.info.limits.maxWorkgroupInvocations).toBeGreaterThanOrEqual(256);
  });

  it('withoutFeatures leaves the named features off the device', async () => {
    const d = await gpu({ withoutFeatures: ['shader-f16', 'subgroups'] });
    expect(d.info.features).not.toContain('shader-f16');
    expect(d.info.features).not.toContain('subgroups');
    expect(d.device.features.has('shader-f16')).toBe(false);
    expect(d.device.features.has('subgroups')).toBe(false);
  });
});

describe('buffers', () => {
  it('write / read round trip, including lengths that are not a multiple of 4 bytes', async () => {
    const d = await gpu();
    for (const n of [1, 2, 3, 4, 5, 6, 7, 9, 1001, 4099]) {
      const b = d.createBuffer(n, `rt${n}`);
      expect(b.bytes).toBe(n);
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
      d.write(b, data);
      const back = await d.read(b);
      expect(back.length).toBe(n);
      expect(Array.from(back)).toEqual(Array.from(data));
      // a shorter read returns just those bytes
      const head = await d.read(b, Math.min(n, 3));
      expect(Array.from(head)).toEqual(Array.from(data.subarray(0, 3)));
      d.destroyBuffer(b);
    }
  });

  it('writes a typed-array view at an offset into its ArrayBuffer', async () => {
    const d = await gpu();
    const backing = new Float32Array([-1, 10, 20, 30, -2]);
    const view = new Float32Array(backing.buffer, 4, 3);
    const b = d.createBuffer(12, 'view');
    d.write(b, view);
    expect(Array.from(new Float32Array((await d.read(b)).buffer))).toEqual([10, 20, 30]);
    d.destroyBuffer(b);
  });

  it('refuses a write larger than the buffer', async () => {
    const d = await gpu();
    const b = d.createBuffer(8, 'small');
    expect(() => d.write(b, new Uint8Array(64))).toThrow(DeviceError);
    expect(() => d.write(b, new Uint8Array(64))).toThrow(/small/);
    d.destroyBuffer(b);
  });
});

describe('timing', () => {
  it('{ timing: true } returns one kernelMs per kernel; without it there are none', async () => {
    const d = await gpu();
    const sizes = { N: 37, D: 129 };
    const exe = await Executable.create(d, twoKernels, sizes);
    expect(exe.kernels.length).toBe(2);
    const inputs = { X: randomHost('f32', [37, 129], 1) };
    const timed = await exe.run(inputs, { timing: true });
    if (d.hasFeature('timestamp-query')) {
      expect(timed.timing.kernelMs).toHaveLength(exe.kernels.length);
      for (const ms of timed.timing.kernelMs!) {
        expect(Number.isFinite(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
      }
    } else {
      expect(timed.timing.kernelMs).toBeUndefined();
    }
    expect(timed.timing.wallMs).toBeGreaterThan(0);
    const ref = evaluate(twoKernels, sizes, inputs).outputs;
    expect(mismatch(timed.outputs.E!, ref.E!)).toBeUndefined();
    expect(mismatch(timed.outputs.S!, ref.S!, { rtol: 2e-5, atol: 1e-4 })).toBeUndefined();
    const untimed = await exe.run(inputs);
    expect(untimed.timing.kernelMs).toBeUndefined();
    exe.destroy();
  });
});

describe('warm-up', () => {
  it('runs every kernel once before the first real run, leaving uploaded inputs and later results intact', async () => {
    const d = await gpu();
    const sizes = { N: 37, D: 129 };
    const inputs = { X: randomHost('f32', [37, 129], 3) };
    const exe = await Executable.create(d, twoKernels, sizes, { warmup: true });
    exe.upload('X', inputs.X);
    const launched: string[] = [];
    const run = d.run.bind(d);
    d.run = (launches, o) => (launched.push(...launches.map((l) => l.kernel.kernel.name)), run(launches, o));
    try {
      await exe.warmup();
    } finally {
      d.run = run;
    }
    expect(launched).toEqual(exe.plan.kernels.map((k) => k.name));
    expect((await exe.download('X')).data).toEqual(inputs.X.data);
    const { outputs } = await exe.run(inputs);
    expect(mismatch(outputs.E!, evaluate(twoKernels, sizes, inputs).outputs.E!)).toBeUndefined();
    exe.destroy();
  });

  it('warms a program with a dynamic size up at its bound', async () => {
    const d = await gpu();
    const p = program('dyn', (b) => {
      const N = b.dynamicSize('N', { max: 64 });
      b.output('Y', b.input('X', 'f32', { i: N }).mul(2));
    });
    const exe = await Executable.create(d, p, { N: 64 }, { warmup: true });
    const { outputs } = await exe.run({ X: randomHost('f32', [5], 1) }, { sizes: { N: 5 } });
    expect(outputs.Y!.shape).toEqual([5]);
    exe.destroy();
  });
});

describe("the caller's own GPUDevice and GPUBuffers", () => {
  it('runs programs on a GPUDevice the caller created (default limits, no optional features)', async () => {
    const { device, adapter, gpu: g } = await ownDevice();
    const d = new WebGpuDevice(device, adapter.info, g);
    expect(d.device).toBe(device);
    expect(d.info.features).toEqual([]);
    expect(d.info.limits.maxStorageBufferBindingSize).toBe(device.limits.maxStorageBufferBindingSize);
    const r = await checkOnDevice(twoKernels, { N: 129, D: 37 }, { X: randomHost('f32', [129, 37], 2) }, { device: d, tol: { atol: 1e-4 } });
    expect(r.failures).toEqual([]);
  });

  it('dispatches on GPUBuffers the caller owns: no copies, the caller reads its own buffer', async () => {
    const d = await gpu();
    const dev = d.device;
    const n = 1001;
    const exe = await Executable.create(d, square, { N: n });
    // the executable's own X holds other data: the dispatch must read the caller's buffer instead
    exe.upload('X', randomHost('f32', [n], 99));
    const x = randomHost('f32', [n], 3);
    const xBuf = dev.createBuffer({ size: 4 * n, usage: STORAGE | COPY_DST, label: 'my X' });
    const yBuf = dev.createBuffer({ size: 4 * n, usage: STORAGE | COPY_SRC, label: 'my Y' });
    dev.queue.writeBuffer(xBuf, 0, x.data);
    const X = d.wrapBuffer(xBuf);
    const Y = d.wrapBuffer(yBuf);
    expect(X.bytes).toBe(4 * n);
    expect(X.label).toBe('my X');
    expect(d.gpuBuffer(X)).toBe(xBuf);
    await exe.dispatch({ X, Y });
    const got: HostTensor = { dtype: 'f32', shape: [n], data: new Float32Array(await readGpuBuffer(dev, yBuf, 4 * n)) };
    const ref = evaluate(square, { N: n }, { X: x }).outputs.Y!;
    expect(mismatch(got, ref)).toBeUndefined();
    // the executable's own Y was never written
    expect((await exe.download('Y')).data.every((v) => v === 0)).toBe(true);
    // releasing a wrapped buffer leaves the caller's GPUBuffer alive
    d.destroyBuffer(Y);
    expect(new Float32Array(await readGpuBuffer(dev, yBuf, 4 * n))[0]).toBe(ref.data[0]);
    xBuf.destroy();
    yBuf.destroy();
    exe.destroy();
  });

  it('refuses a caller buffer too small for its tensor, naming the tensor', async () => {
    const d = await gpu();
    const exe = await Executable.create(d, square, { N: 1001 });
    const small = d.device.createBuffer({ size: 4000, usage: STORAGE });
    const e = await caught(exe.dispatch({ Y: d.wrapBuffer(small) }));
    expect(e).toBeInstanceOf(BindingError);
    expect((e as BindingError).tensor).toBe('Y');
    expect((e as Error).message).toContain('4004');
    small.destroy();
    exe.destroy();
  });
});

// -----------------------------------------------------------------------------------------------

describe('typed errors', () => {
  it('KernelCompileError with the line and column of a WGSL error', async () => {
    const d = await gpu();
    // `fn` is a WGSL keyword: the kernel is well formed, its WGSL is not
    const k: Kernel = {
      name: 'broken_kernel',
      workgroup: [64, 1, 1],
      grid: [1, 1, 1],
      buffers: [{ name: 'Y', scope: 'global', dtype: 'f32', length: 64, access: 'read_write' }],
      body: [
        { op: 'let', name: 'fn', value: kcast(kbuiltin('local_index'), F32) },
        { op: 'store', buffer: 'Y', index: kbuiltin('local_index'), value: kref('fn', F32) },
      ],
    };
    const e = await caught(d.compile(k));
    expect(e).toBeInstanceOf(KernelCompileError);
    const err = e as KernelCompileError;
    expect(err.kernel).toBe('broken_kernel');
    expect(err.source).toContain('let fn = ');
    const line = err.source!.split('\n').findIndex((l) => l.includes('let fn = ')) + 1;
    expect(err.line).toBe(line);
    expect(err.column).toBeGreaterThan(0);
    expect(err.message).toContain('broken_kernel');
    expect(err.message).toMatch(new RegExp(`line ${line}, column \\d+`));
    // a correct kernel still compiles afterwards
    const ok: Kernel = { ...k, name: 'fixed_kernel', body: [{ op: 'store', buffer: 'Y', index: kconst(0), value: kconst(1, F32) }] };
    await expect(d.compile(ok)).resolves.toMatchObject({ kernel: { name: 'fixed_kernel' } });
  });

  it('DeviceLimitError for a tensor larger than maxStorageBufferBindingSize, naming the tensor', async () => {
    const d = await gpu();
    const max = d.info.limits.maxStorageBufferBindingSize;
    const M = 1001;
    const N = Math.ceil((max + 1) / (4 * M));
    // X is small; the broadcast output Y is one row too big to bind
    const p = program('too_big', (b) => {
      const x = b.input('X', 'f32', { j: b.size('M') });
      b.output('Y', x.broadcast({ i: b.size('N') }), ['i', 'j']);
    });
    const exe = await Executable.create(d, p, { N, M });
    exe.upload('X', randomHost('f32', [M], 4));
    const e = await caught(exe.dispatch());
    expect(e).toBeInstanceOf(DeviceLimitError);
    const err = e as DeviceLimitError;
    expect(err.limit).toBe('maxStorageBufferBindingSize');
    expect(err.message).toMatch(/\bY\b/);
    expect(err.requested).toBeGreaterThanOrEqual(4 * N * M);
    expect(err.available).toBe(max);
    expect(() => d.createBuffer(max + 4, 'Huge')).toThrow(/Huge/);
    exe.destroy();
  });

  it('BindingError for a wrong dtype, shape or length, a missing input, an unknown input or tensor', async () => {
    const d = await gpu();
    const n = 37;
    const exe = await Executable.create(d, square, { N: n });
    const cases: [string, () => Promise<unknown>, string][] = [
      ['dtype', () => exe.run({ X: randomHost('i32', [n]) }), 'X'],
      ['shape', () => exe.run({ X: randomHost('f32', [n + 1]) }), 'X'],
      ['rank', () => exe.run({ X: randomHost('f32', [1, n]) }), 'X'],
      ['length', () => exe.run({ X: { dtype: 'f32', shape: [n], data: new Float32Array(n - 1) } }), 'X'],
      ['array kind', () => exe.run({ X: { dtype: 'f32', shape: [n], data: new Int32Array(n) as never } }), 'X'],
      ['bytes', () => exe.run({ X: { dtype: 'f32', shape: [n], data: new Uint8Array(n) as never } }), 'X'],
      ['upload array kind', async () => exe.upload('X', { dtype: 'f32', shape: [n], data: new Uint32Array(n) }), 'X'],
      ['no data', () => exe.run({ X: { dtype: 'f32', shape: [n], data: null as never } }), 'X'],
      ['missing', () => exe.run({}), 'X'],
      ['unknown input', () => exe.run({ X: randomHost('f32', [n]), Z: randomHost('f32', [n]) }), 'Z'],
      ['unknown tensor', () => exe.download('Nope'), 'Nope'],
    ];
    for (const [what, f, tensor] of cases) {
      const e = await caught(f());
      expect(e, what).toBeInstanceOf(BindingError);
      expect((e as BindingError).tensor, what).toBe(tensor);
      expect((e as Error).message, what).toContain(tensor);
    }
    const none = await caught(exe.run(null as never));
    expect(none).toBeInstanceOf(BindingError);
    expect((none as Error).message).toMatch(/inputs of program square .*got null/);
    // the executable still works after refusing bad input
    const x = randomHost('f32', [n], 5);
    const { outputs } = await exe.run({ X: x });
    expect(mismatch(outputs.Y!, evaluate(square, { N: n }, { X: x }).outputs.Y!)).toBeUndefined();
    exe.destroy();
  });

  it('MissingFeatureError for subgroup kernels on a device without subgroups; f16 is emulated instead', async () => {
    const { device, adapter, gpu: g } = await ownDevice();
    const d = new WebGpuDevice(device, adapter.info, g);
    expect(d.hasFeature('subgroups')).toBe(false);
    const p = program('sg_softmax', (b) => {
      const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
      b.output('Y', softmax(x, 'j'));
    });
    const e = await caught(Executable.create(d, p, { N: 3, D: 1000 }, { defaults: { rows: { subgroups: true } } }));
    expect(e).toBeInstanceOf(MissingFeatureError);
    expect((e as MissingFeatureError).feature).toBe('subgroups');
    expect((e as Error).message).toContain('subgroups');

    const h = program('h_softmax', (b) => {
      const x = b.input('X', 'f16', { i: b.size('N'), j: b.size('D') });
      b.output('Y', softmax(x, 'j'));
    });
    const exe = await Executable.create(d, h, { N: 3, D: 37 });
    expect(exe.kernels.flatMap((k) => k.notes).join(' ')).toContain('shader-f16');
    exe.destroy();
  });

  it('DeviceLostError after the device is destroyed', async () => {
    const d = await createWebGpuDevice();
    const exe = await Executable.create(d, square, { N: 37 });
    const x = randomHost('f32', [37], 6);
    await exe.run({ X: x });
    d.destroy();
    const e = await caught(exe.run({ X: x }));
    expect(e).toBeInstanceOf(DeviceLostError);
    expect((e as DeviceLostError).reason).toBe('destroyed');
    expect(await caught(() => d.createBuffer(16, 'after'))).toBeInstanceOf(DeviceLostError);
    expect(await caught(d.compile(exe.kernels[0]!.kernel))).toBeInstanceOf(DeviceLostError);
  });
});

// -----------------------------------------------------------------------------------------------

describe('the subgroup reduction path', () => {
  const sm = program('softmax_rows', (b) => {
    const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
    b.output('Y', softmax(x, 'j'));
  });
  const ln = program('layernorm_rows', (b) => {
    const [N, D] = b.sizes('N', 'D');
    b.output('Y', layernorm(b.input('X', 'f32', { i: N, j: D }), 'j'));
  });
  // the default schedule, then teams forced onto short rows: one workgroup per row of 256 and of
  // 32 invocations (several subgroups each)
  const schedules: readonly CompileOptions[] = [
    { defaults: { rows: { subgroups: true } } },
    { grouping: { cooperativeMinLength: 1 }, defaults: { rows: { subgroups: true, threadsPerRow: 256, workgroupSize: 256 } } },
    { grouping: { cooperativeMinLength: 1 }, defaults: { rows: { subgroups: true, threadsPerRow: 32, workgroupSize: 32 } } },
  ];

  for (const D of [1, 31, 1000]) {
    for (const schedule of schedules) {
      it(`softmax over rows of ${D}, schedule ${JSON.stringify(schedule)}`, async () => {
        const d = await gpu();
        if (!d.hasFeature('subgroups')) {
          await expect(Executable.create(d, sm, { N: 37, D }, schedule)).rejects.toBeInstanceOf(MissingFeatureError);
          return;
        }
        const r = await checkOnDevice(sm, { N: 37, D }, { X: randomHost('f32', [37, D], D, [-8, 8]) }, { compile: schedule });
        expect(r.failures).toEqual([]);
        // a team per row reduces with subgroup operations, not a workgroup-memory tree
        const teams = schedule.defaults?.rows?.threadsPerRow !== undefined || D >= 32;
        if (teams) expect(r.sources.join('\n')).toMatch(/subgroupMax[\s\S]*subgroupAdd/);
      });
    }
  }

  it('subgroups asked for per kernel group by a schedule, for softmax over rows of 1000', async () => {
    const d = await gpu();
    if (!d.hasFeature('subgroups')) return;
    const schedule = { 'rows:Y_max,Y_sum,Y': { kind: 'rows', subgroups: true, threadsPerRow: 128, workgroupSize: 128 } } as const;
    const r = await checkOnDevice(sm, { N: 37, D: 1000 }, { X: randomHost('f32', [37, 1000], 9, [-8, 8]) }, { compile: { schedule } });
    expect(r.failures).toEqual([]);
    expect(r.plan.schedule['rows:Y_max,Y_sum,Y']).toMatchObject(schedule['rows:Y_max,Y_sum,Y']);
    expect(r.sources.join('\n')).toMatch(/subgroupMax[\s\S]*subgroupAdd/);
  });

  it('layernorm (two dependent reductions reusing the slots) over rows of 1000', async () => {
    const d = await gpu();
    if (!d.hasFeature('subgroups')) return;
    const r = await checkOnDevice(ln, { N: 5, D: 1000 }, { X: randomHost('f32', [5, 1000], 8, [-3, 5]) }, {
      compile: { defaults: { rows: { subgroups: true } } },
      tol: { atol: 1e-4 },
    });
    expect(r.failures).toEqual([]);
    expect(r.sources.join('\n')).toContain('subgroupAdd');
  });
});

// -----------------------------------------------------------------------------------------------

describe('the compiled-pipeline cache', () => {
  /** Y[i] = i over 64 elements, in one buffer called `name`. */
  const fill = (name: string, grid: [number, number, number] = [1, 1, 1]): Kernel => ({
    name: 'fill',
    workgroup: [64, 1, 1],
    grid,
    buffers: [{ name, scope: 'global', dtype: 'f32', length: 64, access: 'read_write' }],
    body: [{ op: 'store', buffer: name, index: kbuiltin('local_index'), value: kcast(kbuiltin('local_index'), F32) }],
  });

  it('kernels whose buffer names print alike each get back their own buffers', async () => {
    const d = await gpu();
    const names = ['é', ' ', '\0'];
    const compiled = [];
    for (const n of names) compiled.push(await d.compile(fill(n)));
    // the same WGSL for all three...
    expect(new Set(compiled.map((c) => c.source)).size).toBe(1);
    // ...but each binds its own buffer
    expect(compiled.map((c) => c.kernel.buffers[0]!.name)).toEqual(names);
    expect(await d.compile(fill('é'))).toBe(compiled[0]);
  });

  it('a kernel launched over another grid gets its own grid', async () => {
    const d = await gpu();
    const one = await d.compile(fill('Y', [1, 1, 1]));
    const two = await d.compile(fill('Y', [2, 1, 1]));
    expect(one.source).toBe(two.source);
    expect(two.kernel.grid).toEqual([2, 1, 1]);
  });
});
