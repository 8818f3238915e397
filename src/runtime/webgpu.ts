import { toWgsl } from '../codegen-wgsl/index.js';
import {
  BackendValidationError,
  DeviceError,
  DeviceLimitError,
  DeviceLostError,
  KernelCompileError,
  MissingFeatureError,
} from '../ir/errors.js';
import { type Kernel, globals, kernelFeatures, kernelParams } from '../ir/kernel.js';
import { checkKernelLimits } from './limits.js';
import { type CompiledKernel, type Device, type DeviceBuffer, type DeviceInfo, type DeviceLimits, type Launch, type RunResult, launchParams, launchWorkgroups } from './device.js';

// WebGPU's enum values, spelled out so the module needs no globals from the host.
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 0x1;
const COMPUTE = 0x4;

/** Features tilecraft asks for when the adapter offers them. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/*
 * The WebGPU objects the public API takes and gives (a device, its adapter's info, buffers) are
 * the host's global types: from TypeScript's DOM library (TypeScript 7 declares WebGPU there),
 * from @webgpu/types, or, where a project has neither, these empty declarations, which merge with
 * either when present. So tilecraft's declarations compile in any setup, without bringing a second
 * copy of the WebGPU types that would collide with the DOM library's.
 */
declare global {
  interface GPUDevice {}
  interface GPUBuffer {}
  interface GPUAdapterInfo {}
}

export interface WebGpuOptions {
  readonly powerPreference?: 'low-power' | 'high-performance';
  /** Options for the `webgpu` package's `create()` in Node, e.g. `['backend=vulkan']`. */
  readonly dawnOptions?: readonly string[];
  /** Optional features not to request even when offered, e.g. to exercise the f16 fallback. */
  readonly withoutFeatures?: readonly string[];
}

interface WgBuffer extends DeviceBuffer {
  readonly gpu: GPUBuffer;
  readonly owned: boolean;
}

interface WgCompiled extends CompiledKernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** Finds a WebGPU implementation: `navigator.gpu` in browsers, the `webgpu` package (Dawn) in Node. */
async function gpuEntry(opts: WebGpuOptions): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let mod: { create(options: string[]): GPU };
  try {
    // '#dawn' is the `webgpu` package in Node and a stub in browser bundles (package.json "imports")
    mod = (await import('#dawn')) as unknown as typeof mod;
  } catch (e) {
    throw new DeviceError(`no WebGPU here: navigator.gpu is absent and the 'webgpu' package failed to load (${(e as Error).message})`);
  }
  return mod.create([...(opts.dawnOptions ?? [])]);
}

/**
 * Acquires the default WebGPU adapter and a device with every limit raised to the adapter's and
 * the optional features tilecraft uses. Throws a DeviceError that says how to get a software GPU
 * when there is no adapter.
 */
export async function createWebGpuDevice(opts: WebGpuOptions = {}): Promise<WebGpuDevice> {
  const gpu = await gpuEntry(opts);
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
  if (!adapter) {
    throw new DeviceError(
      'no WebGPU adapter found. On Linux without a GPU, install a software Vulkan driver (Mesa 25 lavapipe): ' +
        'see "A software GPU" in the README, or run scripts/setup.sh as root.',
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f) && !opts.withoutFeatures?.includes(f));
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  return new WebGpuDevice(device, adapter.info, gpu);
}

export class WebGpuDevice implements Device {
  readonly info: DeviceInfo;
  private readonly pipelines = new Map<string, Promise<WgCompiled>>();
  private lost: GPUDeviceLostInfo | undefined;
  private uncaptured: string[] = [];

  /**
   * Wraps a `GPUDevice` — yours, when tilecraft kernels run inside your WebGPU application. Pass
   * the adapter's info for an accurate device fingerprint.
   */
  constructor(
    readonly device: GPUDevice,
    adapterInfo?: GPUAdapterInfo,
    /** Held so it is not garbage-collected while the device lives (Dawn's instance in Node). */
    readonly instance?: unknown,
  ) {
    const lim = device.limits;
    const limits: DeviceLimits = {
      maxWorkgroupInvocations: lim.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupSize: [lim.maxComputeWorkgroupSizeX, lim.maxComputeWorkgroupSizeY, lim.maxComputeWorkgroupSizeZ],
      maxWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
      maxWorkgroupStorageBytes: lim.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxBuffersPerKernel: lim.maxStorageBuffersPerShaderStage,
    };
    const info = adapterInfo ?? device.adapterInfo;
    const sub = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const extra: Record<string, number> = {};
    if (sub?.subgroupMinSize) extra.subgroupMinSize = sub.subgroupMinSize;
    if (sub?.subgroupMaxSize) extra.subgroupMaxSize = sub.subgroupMaxSize;
    this.info = {
      backend: 'webgpu',
      name: info?.description || info?.device || 'WebGPU device',
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description ?? '',
      features: [...device.features].filter((f) => (WANTED_FEATURES as readonly string[]).includes(f)).sort(),
      limits,
      extra,
    };
    void device.lost.then((l) => {
      this.lost = l;
    });
    device.addEventListener('uncapturederror', (ev) => {
      this.uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
    });
  }

  hasFeature(f: string): boolean {
    return this.info.features.includes(f);
  }

  private checkAlive(): void {
    if (this.lost) {
      throw new DeviceLostError(`the WebGPU device was lost (${this.lost.reason}): ${this.lost.message}`, this.lost.reason);
    }
  }

  async compile(kernel: Kernel): Promise<CompiledKernel> {
    this.checkAlive();
    const needs = kernelFeatures(kernel);
    if (needs.subgroups && !this.hasFeature('subgroups')) {
      throw new MissingFeatureError(`kernel ${kernel.name} uses subgroup operations; this device lacks the 'subgroups' feature`, 'subgroups');
    }
    checkKernelLimits(kernel, this.info.limits);
    const shaderF16 = this.hasFeature('shader-f16');
    const { source, kernel: legal } = toWgsl(kernel, { shaderF16 });
    const notes = needs.f16 && !shaderF16 ? ['device lacks shader-f16: f16 tensors are stored as packed halves and computed in f32'] : [];
    const key = pipelineKey(source, legal);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(kernel.name, source, legal, notes);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  private async build(name: string, source: string, kernel: Kernel, notes: string[]): Promise<WgCompiled> {
    const d = this.device;
    d.pushErrorScope('validation');
    const module = d.createShaderModule({ code: source, label: name });
    const info = await module.getCompilationInfo();
    const err = info.messages.find((m) => m.type === 'error');
    await d.popErrorScope();
    if (err) {
      throw new KernelCompileError(
        `WGSL for kernel ${name} did not compile: ${err.message} (line ${err.lineNum}, column ${err.linePos})`,
        name,
        source,
        err.lineNum,
        err.linePos,
      );
    }
    const entries: GPUBindGroupLayoutEntry[] = globals(kernel).map((b, i) => ({
      binding: i,
      visibility: COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    // dynamic sizes: one uniform struct after the storage buffers (see printWgsl)
    if (kernelParams(kernel).length) entries.push({ binding: entries.length, visibility: COMPUTE, buffer: { type: 'uniform' } });
    const layout = d.createBindGroupLayout({ entries, label: name });
    d.pushErrorScope('validation');
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await d.createComputePipelineAsync({
        layout: d.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
        label: name,
      });
    } catch (e) {
      await d.popErrorScope();
      throw new BackendValidationError(`WebGPU rejected the pipeline for kernel ${name}: ${(e as Error).message}`, name, source);
    }
    const v = await d.popErrorScope();
    if (v) throw new BackendValidationError(`WebGPU rejected the pipeline for kernel ${name}: ${v.message}`, name, source);
    return { kernel, source, notes, pipeline, layout };
  }

  createBuffer(bytes: number, label: string): DeviceBuffer {
    this.checkAlive();
    // whole 16-byte units, so kernels may view any buffer as an array of vec4
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const l = this.info.limits;
    if (size > l.maxStorageBufferBindingSize) {
      throw new DeviceLimitError(
        `tensor ${label} needs ${size} bytes; this device binds at most ${l.maxStorageBufferBindingSize} bytes per storage buffer (maxStorageBufferBindingSize)`,
        'maxStorageBufferBindingSize',
        size,
        l.maxStorageBufferBindingSize,
      );
    }
    const gpu = this.device.createBuffer({ size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST, label });
    const b: WgBuffer = { bytes, label, gpu, owned: true };
    return b;
  }

  /** Uses a caller's GPUBuffer (STORAGE usage; COPY_SRC/COPY_DST for read/write) without copying. */
  wrapBuffer(gpu: GPUBuffer, label = gpu.label || 'external'): DeviceBuffer {
    const b: WgBuffer = { bytes: gpu.size, label, gpu, owned: false };
    return b;
  }

  /** The GPUBuffer behind a tilecraft buffer, to use in your own passes. */
  gpuBuffer(b: DeviceBuffer): GPUBuffer {
    return (b as WgBuffer).gpu;
  }

  write(buffer: DeviceBuffer, data: ArrayBufferView): void {
    this.checkAlive();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength > buffer.bytes) {
      throw new DeviceError(`writing ${bytes.byteLength} bytes into ${buffer.label}, which holds ${buffer.bytes}`);
    }
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer((buffer as WgBuffer).gpu, 0, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer((buffer as WgBuffer).gpu, 0, padded);
    }
  }

  async read(buffer: DeviceBuffer, bytes = buffer.bytes): Promise<Uint8Array> {
    this.checkAlive();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST, label: `${buffer.label}:read` });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer((buffer as WgBuffer).gpu, 0, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await this.mapOrLost(staging);
    const out = new Uint8Array(staging.getMappedRange().slice(0, bytes));
    staging.unmap();
    staging.destroy();
    return out;
  }

  async run(launches: readonly Launch[], options: { timing?: boolean } = {}): Promise<RunResult> {
    this.checkAlive();
    const d = this.device;
    const timing = options.timing === true && this.hasFeature('timestamp-query');
    launches.forEach(launchParams); // a bad value throws before anything is encoded
    const query = timing ? d.createQuerySet({ type: 'timestamp', count: 2 * launches.length }) : undefined;
    d.pushErrorScope('validation');
    const enc = d.createCommandEncoder();
    // one small uniform buffer per launch that reads dynamic sizes, freed when the run is done
    const uniforms: GPUBuffer[] = [];
    if (timing) {
      launches.forEach((l, i) => {
        const pass = enc.beginComputePass({
          timestampWrites: { querySet: query!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        this.encodeLaunch(pass, l, uniforms);
        pass.end();
      });
    } else {
      const pass = enc.beginComputePass();
      for (const l of launches) this.encodeLaunch(pass, l, uniforms);
      pass.end();
    }
    let resolve: GPUBuffer | undefined;
    let readback: GPUBuffer | undefined;
    if (query) {
      const size = 16 * launches.length;
      resolve = d.createBuffer({ size, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
      readback = d.createBuffer({ size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
      enc.resolveQuerySet(query, 0, 2 * launches.length, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, readback, 0, size);
    }
    const t0 = performance.now();
    d.queue.submit([enc.finish()]);
    const err = await d.popErrorScope();
    if (err) {
      uniforms.forEach((u) => u.destroy());
      throw new BackendValidationError(
        `WebGPU rejected the dispatch of ${launches.map((l) => l.kernel.kernel.name).join(', ')}: ${err.message}`,
      );
    }
    try {
      await this.doneOrLost();
    } finally {
      uniforms.forEach((u) => u.destroy());
    }
    const wallMs = performance.now() - t0;
    if (!readback) return { wallMs };
    await this.mapOrLost(readback);
    const ts = new BigInt64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    readback.destroy();
    resolve?.destroy();
    query?.destroy();
    const kernelMs = launches.map((_, i) => Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6);
    return { kernelMs, wallMs };
  }

  /** Records one launch in a compute pass: its pipeline, its buffers and dynamic sizes (a uniform added to `uniforms`), its live grid. */
  private encodeLaunch(pass: GPUComputePassEncoder, l: Launch, uniforms: GPUBuffer[]): void {
    const d = this.device;
    const k = l.kernel as WgCompiled;
    const params = globals(k.kernel);
    if (params.length !== l.buffers.length) {
      throw new DeviceError(`kernel ${k.kernel.name} binds ${params.length} buffers, ${l.buffers.length} given`);
    }
    const entries: GPUBindGroupEntry[] = l.buffers.map((b, i) => ({ binding: i, resource: { buffer: (b as WgBuffer).gpu } }));
    const values = launchParams(l);
    if (values.length) {
      const data = new Int32Array(Math.ceil(values.length / 4) * 4); // whole 16-byte units
      data.set(values);
      const u = d.createBuffer({ size: data.byteLength, usage: USAGE.UNIFORM | USAGE.COPY_DST, label: `${k.kernel.name}:params` });
      d.queue.writeBuffer(u, 0, data);
      uniforms.push(u);
      entries.push({ binding: entries.length, resource: { buffer: u } });
    }
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, d.createBindGroup({ layout: k.layout, entries }));
    pass.dispatchWorkgroups(...launchWorkgroups(l));
  }

  private async doneOrLost(): Promise<void> {
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.device.lost]);
    this.checkAlive();
  }

  private async mapOrLost(b: GPUBuffer): Promise<void> {
    try {
      await Promise.race([b.mapAsync(MAP_READ), this.device.lost.then(() => Promise.reject(new Error('lost')))]);
    } catch (e) {
      this.checkAlive();
      throw new DeviceError(`reading back a buffer failed: ${(e as Error).message}`);
    }
  }

  destroyBuffer(buffer: DeviceBuffer): void {
    const b = buffer as WgBuffer;
    if (b.owned) b.gpu.destroy();
  }

  destroy(): void {
    this.pipelines.clear();
    this.device.destroy();
  }

  /** Validation errors the device reported outside any error scope, oldest first. */
  takeUncapturedErrors(): string[] {
    const e = this.uncaptured;
    this.uncaptured = [];
    return e;
  }
}

/**
 * What a compiled pipeline is cached under: the WGSL, and what binding it and launching it take
 * from the kernel (its buffers' names, dtypes and access in binding order, its params, its grid
 * and the live part of the grid).
 * Generated code spells names with only ASCII letters, digits and _, so kernels whose buffers are
 * named differently can print the same WGSL; each must get back its own buffers to bind.
 */
function pipelineKey(source: string, kernel: Kernel): string {
  const layout = globals(kernel).map((b) => [b.name, b.dtype, b.access ?? 'read_write', b.atomic ?? false]);
  return JSON.stringify([layout, kernelParams(kernel), kernel.grid, kernel.liveGroups ?? null, source]);
}
