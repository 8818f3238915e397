import { archName, toCuda } from '../codegen-cuda/index.js';
import { type CudaLimits, STATIC_SHARED_LIMIT } from '../codegen-cuda/limits.js';
import { type Nvcc, NvccNotFoundError, findNvcc, nvccCompile } from '../codegen-cuda/nvcc.js';
import { DeviceError, DeviceLimitError, DeviceLostError, KernelCompileError, TilecraftError } from '../ir/errors.js';
import { type Kernel, globals, workgroupInvocations } from '../ir/kernel.js';
import { type CompiledKernel, type Device, type DeviceBuffer, type DeviceInfo, type DeviceLimits, type Launch, type RunResult, launchParams, launchWorkgroups } from './device.js';
import {
  type CuAllocation,
  type CuContext,
  type CuFunction,
  type CuModule,
  type CudaDeviceAttributes,
  type CudaEnv,
  type CudaLibraryCandidates,
  type CudaLibraryStatus,
  type CudaNative,
  type CudaNativeError,
  addonCandidates,
  cudaLibraryCandidates,
  loadCudaNative,
} from './cuda-native.js';

/**
 * The CUDA device: kernels printed as CUDA C++, compiled by NVRTC for the device's own
 * architecture (or by nvcc where libnvrtc is missing), launched through the driver API by the
 * native addon, timed with CUDA events.
 *
 * Compiled, and exercised only against a stand-in driver (test/runtime/cuda.test.ts): it has not
 * been run on a GPU yet.
 */

export interface CudaOptions {
  /** Device ordinal (default 0). */
  readonly ordinal?: number;
  /** Where to look for CUDA (CUDA_PATH, CUDA_HOME, PATH); `process.env` when omitted. */
  readonly env?: CudaEnv;
  /** Library candidates to try instead of the usual locations. */
  readonly libraries?: Partial<CudaLibraryCandidates>;
  /** Where the built addon may be. */
  readonly addon?: readonly string[];
  /** The kernel compiler: NVRTC when available (default), or nvcc. */
  readonly compiler?: 'auto' | 'nvrtc' | 'nvcc';
}

export interface CudaStatus {
  readonly available: boolean;
  /** Why CUDA cannot be used here, when it cannot. */
  readonly reason?: string;
  readonly addon?: string;
  readonly libcuda?: CudaLibraryStatus;
  readonly libnvrtc?: CudaLibraryStatus & { readonly version?: string };
  /** nvcc, the offline compiler used when libnvrtc is missing. */
  readonly nvcc?: string;
  readonly compiler?: 'nvrtc' | 'nvcc';
  readonly driverVersion?: string;
  readonly devices?: readonly { readonly name: string; readonly computeCapability: string }[];
}

interface Probe {
  readonly status: CudaStatus;
  readonly native?: CudaNative;
  readonly nvcc?: Nvcc;
  readonly includeDirs: readonly string[];
}

/** The loader's first message: the rest, one per candidate, stay in the status's `error`. */
const firstOf = (error: string | undefined) => error?.split('; ')[0] ?? 'not found';

const formatVersion = (v: number) => `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;

function probe(options: CudaOptions): Probe {
  const env = options.env ?? process.env;
  const loaded = loadCudaNative(options.addon ?? addonCandidates());
  if (!loaded.ok) {
    return { status: { available: false, reason: `${loaded.reason}; without it libcuda cannot be loaded` }, includeDirs: [] };
  }
  const found = cudaLibraryCandidates(env);
  const libs = { ...found, ...options.libraries };
  const native = loaded.native;
  const s = native.load(libs.libcuda, libs.libnvrtc);
  let nvcc: Nvcc | undefined;
  if (options.compiler === 'nvcc' || (options.compiler !== 'nvrtc' && !s.libnvrtc.loaded)) {
    try {
      nvcc = findNvcc(env);
    } catch (e) {
      if (!(e instanceof NvccNotFoundError)) throw e;
    }
  }
  const base = { addon: loaded.path, libcuda: s.libcuda, libnvrtc: s.libnvrtc, ...(nvcc ? { nvcc: nvcc.path } : {}) };
  const unavailable = (reason: string): Probe => ({ status: { available: false, reason, ...base }, native, includeDirs: libs.includeDirs });
  if (!s.libcuda.loaded) {
    return unavailable(`no CUDA driver: libcuda could not be loaded (${firstOf(s.libcuda.error)}; tried ${libs.libcuda.length} locations)`);
  }
  let driverVersion: number;
  let devices: CudaStatus['devices'];
  try {
    driverVersion = native.init();
    const n = native.deviceCount();
    devices = Array.from({ length: n }, (_, i) => {
      const a = native.deviceInfo(i);
      return { name: a.name, computeCapability: `${a.major}.${a.minor}` };
    });
  } catch (e) {
    return unavailable(`libcuda loaded from ${s.libcuda.path} but the driver did not start: ${(e as Error).message}`);
  }
  if (devices.length === 0) return unavailable(`libcuda loaded from ${s.libcuda.path} but it reports no CUDA device`);
  const compiler = options.compiler === 'nvcc' ? (nvcc ? 'nvcc' : undefined) : s.libnvrtc.loaded ? 'nvrtc' : options.compiler === 'nvrtc' ? undefined : nvcc ? 'nvcc' : undefined;
  if (!compiler) {
    return unavailable(
      `no CUDA compiler: libnvrtc could not be loaded (${firstOf(s.libnvrtc.error)}; tried ${libs.libnvrtc.length} locations) and nvcc was not found; ` +
        'install the CUDA toolkit (or its nvrtc package) and set CUDA_PATH',
    );
  }
  return {
    status: { available: true, ...base, compiler, driverVersion: formatVersion(driverVersion), devices },
    native,
    ...(nvcc ? { nvcc } : {}),
    includeDirs: libs.includeDirs,
  };
}

/** Whether CUDA can be used here, and if not, why (no addon, no libcuda, no device, no compiler). */
export function cudaStatus(options: CudaOptions = {}): CudaStatus {
  return probe(options).status;
}

/** Opens a CUDA device, or rejects with a DeviceError saying what is missing. */
export async function createCudaDevice(options: CudaOptions = {}): Promise<CudaDevice> {
  const p = probe(options);
  if (!p.status.available || !p.native) throw new DeviceError(`CUDA is unavailable: ${p.status.reason ?? 'unknown reason'}`);
  const ordinal = options.ordinal ?? 0;
  const count = p.status.devices?.length ?? 0;
  if (ordinal < 0 || ordinal >= count) throw new DeviceError(`no CUDA device ${ordinal}: this machine has ${count} (ordinals 0 .. ${count - 1})`);
  const native = p.native;
  const attrs = wrapNative(() => native.deviceInfo(ordinal), 'reading the device attributes');
  const context = wrapNative(() => native.openContext(ordinal), 'opening the CUDA context');
  const compiler: Compiler =
    p.status.compiler === 'nvcc' && p.nvcc ? { kind: 'nvcc', nvcc: p.nvcc } : { kind: 'nvrtc', version: p.status.libnvrtc?.version ?? '?', includeDirs: p.includeDirs };
  return new CudaDevice(native, context, attrs, compiler, p.status.driverVersion ?? '?');
}

type Compiler =
  | { readonly kind: 'nvrtc'; readonly version: string; readonly includeDirs: readonly string[] }
  | { readonly kind: 'nvcc'; readonly nvcc: Nvcc };

/** Errors that leave the CUDA context unusable: every later call fails the same way. */
const STICKY = new Set([
  'CUDA_ERROR_ILLEGAL_ADDRESS',
  'CUDA_ERROR_LAUNCH_FAILED',
  'CUDA_ERROR_ILLEGAL_INSTRUCTION',
  'CUDA_ERROR_MISALIGNED_ADDRESS',
  'CUDA_ERROR_INVALID_ADDRESS_SPACE',
  'CUDA_ERROR_INVALID_PC',
  'CUDA_ERROR_HARDWARE_STACK_ERROR',
  'CUDA_ERROR_ECC_UNCORRECTABLE',
  'CUDA_ERROR_LAUNCH_TIMEOUT',
]);

/** Runs an addon call, turning its error into a DeviceError (DeviceLostError when the context is gone). */
function wrapNative<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TilecraftError) throw e;
    const n = e as CudaNativeError;
    if (n.code && STICKY.has(n.code)) {
      throw new DeviceLostError(`${what}: ${n.message}; the CUDA context is unusable, create a new device`, n.code);
    }
    throw new DeviceError(`${what}: ${n.message ?? String(e)}`);
  }
}

interface CudaBuffer extends DeviceBuffer {
  readonly allocation: CuAllocation;
}

interface CudaCompiled extends CompiledKernel {
  readonly module: CuModule;
  readonly fn: CuFunction;
  readonly grid: readonly [number, number, number];
  readonly block: readonly [number, number, number];
}

export class CudaDevice implements Device {
  readonly info: DeviceInfo;
  /** What the printer checks kernels against before compiling. */
  readonly cudaLimits: CudaLimits;
  readonly sm: number;
  private readonly buffers = new Set<CudaBuffer>();
  private readonly modules = new Map<string, Promise<CudaCompiled>>();
  private destroyed = false;

  constructor(
    private readonly native: CudaNative,
    private readonly context: CuContext,
    readonly attributes: CudaDeviceAttributes,
    private readonly compiler: Compiler,
    driverVersion: string,
  ) {
    const a = attributes;
    this.sm = a.major * 10 + a.minor;
    const staticShared = Math.min(STATIC_SHARED_LIMIT, a.sharedMemoryPerBlock);
    this.cudaLimits = {
      maxThreadsPerBlock: a.maxThreadsPerBlock,
      maxBlockDim: [a.maxBlockDimX, a.maxBlockDimY, a.maxBlockDimZ],
      maxGridDim: [a.maxGridDimX, a.maxGridDimY, a.maxGridDimZ],
      maxStaticSharedBytes: staticShared,
      maxSharedBytesOptIn: a.sharedMemoryPerBlockOptin,
      // architectural since sm_35; no attribute reports it
      maxRegistersPerThread: 255,
      maxParamBytes: 4096,
    };
    const limits: DeviceLimits = {
      maxWorkgroupInvocations: a.maxThreadsPerBlock,
      maxWorkgroupSize: [a.maxBlockDimX, a.maxBlockDimY, a.maxBlockDimZ],
      // the lowering spills a long grid from x into y, so both must hold the same count
      maxWorkgroupsPerDimension: Math.min(a.maxGridDimX, a.maxGridDimY, a.maxGridDimZ),
      maxWorkgroupStorageBytes: staticShared,
      maxStorageBufferBindingSize: a.totalMemory,
      maxBufferSize: a.totalMemory,
      maxBuffersPerKernel: 4096 / 8,
      maxRegistersPerThread: 255,
    };
    const arch = archName(this.sm);
    const compilerName = compiler.kind === 'nvrtc' ? `NVRTC ${compiler.version}` : `nvcc ${compiler.nvcc.version}`;
    this.info = {
      backend: 'cuda',
      name: a.name,
      vendor: 'NVIDIA',
      architecture: arch,
      description: `${a.name} (${arch}, ${a.multiprocessors} SMs, ${(a.totalMemory / 2 ** 30).toFixed(1)} GiB)`,
      features: ['bf16', 'f16', 'subgroups', ...(this.sm >= 70 ? ['tensor-cores'] : [])],
      limits,
      extra: {
        computeCapability: `${a.major}.${a.minor}`,
        driverVersion,
        compiler: compilerName,
        multiprocessors: a.multiprocessors,
        sharedMemoryPerBlockOptin: a.sharedMemoryPerBlockOptin,
        registersPerBlock: a.registersPerBlock,
        registersPerMultiprocessor: a.registersPerMultiprocessor,
        l2CacheBytes: a.l2CacheBytes,
      },
    };
  }

  private alive(): void {
    if (this.destroyed) throw new DeviceError(`the CUDA device ${this.info.name} was destroyed`);
  }

  private call<T>(f: () => T, what: string): T {
    return wrapNative(f, what);
  }

  /** Legalizes, checks limits (before any compiler runs), prints, compiles and loads a kernel. */
  async compile(kernel: Kernel): Promise<CompiledKernel> {
    this.alive();
    const printed = toCuda(kernel, { sm: this.sm, limits: this.cudaLimits });
    let p = this.modules.get(printed.source);
    if (!p) {
      p = this.build(printed.source, printed.kernel, printed.launch.entry);
      this.modules.set(printed.source, p);
      p.catch(() => this.modules.delete(printed.source));
    }
    return p;
  }

  private async build(source: string, kernel: Kernel, entry: string): Promise<CudaCompiled> {
    const arch = archName(this.sm);
    const notes: string[] = [];
    let image: Uint8Array | string;
    if (this.compiler.kind === 'nvrtc') {
      const options = [`--gpu-architecture=${arch}`, '--std=c++17', ...this.compiler.includeDirs.map((d) => `--include-path=${d}`)];
      const out = this.call(() => this.native.nvrtcCompile(source, `${entry}.cu`, options), `NVRTC on kernel ${kernel.name}`);
      if (!out.ok) throw nvrtcError(out.log, source, kernel.name);
      const binary = out.cubin ?? out.ptx;
      if (binary === undefined) throw new DeviceError(`NVRTC produced neither a cubin nor PTX for kernel ${kernel.name}`);
      image = binary;
      notes.push(`compiled by NVRTC ${this.compiler.version} for ${arch}${out.cubin ? '' : ' (PTX, JIT-compiled by the driver)'}`);
    } else {
      const out = await nvccCompile(this.compiler.nvcc, source, { archs: [this.sm], label: kernel.name });
      image = out.binary;
      notes.push(`compiled by nvcc ${this.compiler.nvcc.version} for ${arch}`);
    }
    const module = this.call(() => this.native.moduleLoad(this.context, image), `loading the module of kernel ${kernel.name}`);
    const fn = this.call(() => this.native.getFunction(module, entry), `finding entry ${entry}`);
    const attrs = this.call(() => this.native.functionAttributes(fn), `reading the attributes of ${entry}`);
    notes.push(`${attrs.registers} registers, ${attrs.sharedBytes} bytes shared, ${attrs.localBytes} bytes local per thread${attrs.localBytes ? ' (spills or stack)' : ''}`);
    const threads = workgroupInvocations(kernel);
    if (attrs.maxThreadsPerBlock < threads) {
      this.call(() => this.native.moduleUnload(module), 'unloading a module');
      throw new DeviceLimitError(
        `kernel ${kernel.name} needs ${threads} threads per block but with ${attrs.registers} registers per thread ${arch} runs at most ${attrs.maxThreadsPerBlock}`,
        'maxRegistersPerThread',
        threads,
        attrs.maxThreadsPerBlock,
      );
    }
    return { kernel, source, notes, module, fn, grid: kernel.grid, block: kernel.workgroup };
  }

  /** A zero-filled allocation (WebGPU zero-fills buffers; CUDA does not). */
  createBuffer(bytes: number, label: string): DeviceBuffer {
    this.alive();
    if (bytes > this.info.limits.maxBufferSize) {
      throw new DeviceLimitError(`tensor ${label} needs ${bytes} bytes; ${this.info.name} has ${this.info.limits.maxBufferSize}`, 'totalMemory', bytes, this.info.limits.maxBufferSize);
    }
    const allocation = this.call(() => this.native.memAlloc(this.context, Math.max(4, Math.ceil(bytes / 4) * 4)), `allocating ${bytes} bytes for ${label}`);
    this.call(() => this.native.memsetD8(allocation, 0), `clearing ${label}`);
    const b: CudaBuffer = { bytes, label, allocation };
    this.buffers.add(b);
    return b;
  }

  private own(buffer: DeviceBuffer): CudaBuffer {
    const b = buffer as CudaBuffer;
    if (!this.buffers.has(b)) throw new DeviceError(`buffer ${buffer.label} does not belong to this CUDA device (or was destroyed)`);
    return b;
  }

  write(buffer: DeviceBuffer, data: ArrayBufferView): void {
    this.alive();
    const b = this.own(buffer);
    if (data.byteLength > Math.max(4, Math.ceil(b.bytes / 4) * 4)) {
      throw new DeviceError(`writing ${data.byteLength} bytes into ${b.label}, which holds ${b.bytes}`);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.call(() => this.native.memcpyHtoD(b.allocation, bytes), `writing ${b.label}`);
  }

  async read(buffer: DeviceBuffer, bytes = buffer.bytes): Promise<Uint8Array> {
    this.alive();
    const b = this.own(buffer);
    if (bytes > Math.max(4, Math.ceil(b.bytes / 4) * 4)) throw new DeviceError(`reading ${bytes} bytes from ${b.label}, which holds ${b.bytes}`);
    const out = new Uint8Array(bytes);
    // synchronous with the default stream: launches before it have finished
    this.call(() => this.native.memcpyDtoH(out, b.allocation), `reading ${b.label}`);
    return out;
  }

  async run(launches: readonly Launch[], options: { timing?: boolean } = {}): Promise<RunResult> {
    this.alive();
    const events = options.timing ? launches.map(() => [this.eventOrThrow(), this.eventOrThrow()] as const) : [];
    try {
      const t0 = performance.now();
      launches.forEach((l, i) => {
        const k = l.kernel as CudaCompiled;
        const params = globals(k.kernel);
        if (params.length !== l.buffers.length) {
          throw new DeviceError(`kernel ${k.kernel.name} takes ${params.length} buffers, ${l.buffers.length} given`);
        }
        // buffers' device pointers, then the dynamic sizes' values as ints (see printCuda)
        const args = [...l.buffers.map((b) => this.own(b).allocation), ...launchParams(l)];
        const ev = events[i];
        if (ev) this.call(() => this.native.eventRecord(ev[0]), 'recording a timing event');
        this.call(() => this.native.launch(k.fn, launchWorkgroups(l), k.block, 0, args), `launching ${k.kernel.name}`);
        if (ev) this.call(() => this.native.eventRecord(ev[1]), 'recording a timing event');
      });
      this.call(() => this.native.synchronize(this.context), `running ${launches.map((l) => l.kernel.kernel.name).join(', ')}`);
      const wallMs = performance.now() - t0;
      if (!options.timing) return { wallMs };
      const kernelMs = events.map(([a, b]) => this.call(() => this.native.eventElapsed(a, b), 'reading a timing event'));
      return { kernelMs, wallMs };
    } finally {
      for (const [a, b] of events) {
        for (const e of [a, b]) {
          try {
            this.native.eventDestroy(e);
          } catch {
            // a lost context takes its events with it
          }
        }
      }
    }
  }

  private eventOrThrow() {
    return this.call(() => this.native.eventCreate(this.context), 'creating a timing event');
  }

  destroyBuffer(buffer: DeviceBuffer): void {
    const b = buffer as CudaBuffer;
    if (!this.buffers.delete(b)) return;
    this.call(() => this.native.memFree(b.allocation), `freeing ${b.label}`);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const quietly = (f: () => void) => {
      try {
        f();
      } catch {
        // destroying a lost context: the driver frees what it held
      }
    };
    for (const b of this.buffers) quietly(() => this.native.memFree(b.allocation));
    this.buffers.clear();
    for (const p of this.modules.values()) p.then((m) => quietly(() => this.native.moduleUnload(m.module)), () => undefined);
    this.modules.clear();
    quietly(() => this.native.closeContext(this.context));
  }
}

/** NVRTC's log as a KernelCompileError pointing at the first error's line. */
function nvrtcError(log: string, source: string, kernel: string): KernelCompileError {
  const first = log.split('\n').find((l) => /error/.test(l)) ?? log.split('\n')[0] ?? 'no log';
  const m = /\((\d+)\): error/.exec(first);
  const message = `NVRTC rejected the CUDA for kernel ${kernel}: ${first.trim()}`;
  return m ? new KernelCompileError(message, kernel, source, Number(m[1])) : new KernelCompileError(message, kernel, source);
}
