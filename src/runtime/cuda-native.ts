import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Typed access to tilecraft's CUDA addon (native/, built by scripts/build-addon.mjs into
 * build/Release/tilecraft_cuda.node). The addon opens libcuda and libnvrtc with dlopen() when
 * `load` is called, so loading it never fails for want of CUDA; what is missing is reported by
 * `load`'s status. Its device paths have been compiled, never run on a GPU.
 */

declare const handle: unique symbol;
/** An opaque, type-checked handle owned by the addon. */
export type CudaHandle<K extends string> = { readonly [handle]: K };
export type CuContext = CudaHandle<'context'>;
export type CuModule = CudaHandle<'module'>;
export type CuFunction = CudaHandle<'function'>;
export type CuAllocation = CudaHandle<'allocation'>;
export type CuEvent = CudaHandle<'event'>;

export interface CudaLibraryStatus {
  readonly loaded: boolean;
  /** The candidate that opened. */
  readonly path?: string;
  /** Why none of the candidates opened (the loader's messages, joined). */
  readonly error?: string;
}

export interface CudaNativeStatus {
  readonly libcuda: CudaLibraryStatus;
  readonly libnvrtc: CudaLibraryStatus & { readonly version?: string; readonly cubin?: boolean };
  readonly initialized: boolean;
}

export interface CudaDeviceAttributes {
  readonly name: string;
  readonly totalMemory: number;
  readonly major: number;
  readonly minor: number;
  readonly multiprocessors: number;
  readonly maxThreadsPerBlock: number;
  readonly maxBlockDimX: number;
  readonly maxBlockDimY: number;
  readonly maxBlockDimZ: number;
  readonly maxGridDimX: number;
  readonly maxGridDimY: number;
  readonly maxGridDimZ: number;
  readonly sharedMemoryPerBlock: number;
  readonly sharedMemoryPerBlockOptin: number;
  readonly sharedMemoryPerMultiprocessor: number;
  readonly registersPerBlock: number;
  readonly registersPerMultiprocessor: number;
  readonly warpSize: number;
  readonly maxThreadsPerMultiprocessor: number;
  readonly clockRateKHz: number;
  readonly memoryClockRateKHz: number;
  readonly memoryBusWidth: number;
  readonly l2CacheBytes: number;
}

export interface NvrtcOutput {
  /** False when the program did not compile; `log` says why. */
  readonly ok: boolean;
  readonly log: string;
  readonly ptx?: string;
  /** Present when compiled for a real architecture (sm_XY) by NVRTC 11.1 or newer. */
  readonly cubin?: Uint8Array;
}

export interface CudaFunctionAttributes {
  readonly registers: number;
  readonly sharedBytes: number;
  /** Local memory per thread: spills and stack. */
  readonly localBytes: number;
  readonly maxThreadsPerBlock: number;
  readonly ptxVersion: number;
  readonly binaryVersion: number;
}

/** What the addon exports. Every failing CUDA call throws a CudaNativeError. */
export interface CudaNative {
  load(libcuda: readonly string[], libnvrtc: readonly string[]): CudaNativeStatus;
  status(): CudaNativeStatus;
  /** cuInit(0); the driver's CUDA version, e.g. 12040 for 12.4. */
  init(): number;
  deviceCount(): number;
  deviceInfo(ordinal: number): CudaDeviceAttributes;
  /** The device's primary context, made current. */
  openContext(ordinal: number): CuContext;
  closeContext(context: CuContext): void;
  nvrtcCompile(source: string, name: string, options: readonly string[]): NvrtcOutput;
  /** A cubin (bytes) or PTX (text). */
  moduleLoad(context: CuContext, image: Uint8Array | string): CuModule;
  moduleUnload(module: CuModule): void;
  getFunction(module: CuModule, name: string): CuFunction;
  functionAttributes(fn: CuFunction): CudaFunctionAttributes;
  memAlloc(context: CuContext, bytes: number): CuAllocation;
  memFree(allocation: CuAllocation): void;
  memcpyHtoD(allocation: CuAllocation, source: Uint8Array): void;
  memcpyDtoH(destination: Uint8Array, allocation: CuAllocation): void;
  memsetD8(allocation: CuAllocation, value: number): void;
  /**
   * Asynchronous, on the default stream; each parameter is an allocation (passed as its device
   * pointer) or a number (passed as a 32-bit `int`: a dynamic size's value).
   */
  launch(
    fn: CuFunction,
    grid: readonly [number, number, number],
    block: readonly [number, number, number],
    sharedBytes: number,
    params: readonly (CuAllocation | number)[],
  ): void;
  synchronize(context: CuContext): void;
  eventCreate(context: CuContext): CuEvent;
  eventRecord(event: CuEvent): void;
  eventSynchronize(event: CuEvent): void;
  /** Milliseconds between two recorded events. */
  eventElapsed(start: CuEvent, end: CuEvent): number;
  eventDestroy(event: CuEvent): void;
}

/** An error from the addon: the CUDA or NVRTC error name and the call that returned it. */
export interface CudaNativeError extends Error {
  readonly code?: string;
  readonly call?: string;
  readonly result?: number;
}

export type NativeLoad = { readonly ok: true; readonly native: CudaNative; readonly path: string } | { readonly ok: false; readonly reason: string };

export const ADDON_FILE = 'tilecraft_cuda.node';

/** Where the built addon may be: build/Release at the package root (found from this module upwards), or native/build/Release. */
export function addonCandidates(from: string = dirname(fileURLToPath(import.meta.url))): string[] {
  const out: string[] = [];
  let dir = from;
  for (let i = 0; i < 6; i++) {
    out.push(join(dir, 'build', 'Release', ADDON_FILE), join(dir, 'native', 'build', 'Release', ADDON_FILE));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

/**
 * Loads the addon (Node caches it, so this is cheap after the first call) or says why it cannot:
 * not built, or built for another Node ABI.
 */
export function loadCudaNative(candidates: readonly string[] = addonCandidates()): NativeLoad {
  const path = candidates.find((c) => existsSync(c));
  if (!path) {
    return {
      ok: false,
      reason: `the CUDA addon is not built (no ${ADDON_FILE} in build/Release): run \`node scripts/build-addon.mjs\` (needs a C++ compiler and Python; see build/addon-build.log)`,
    };
  }
  try {
    const native = createRequire(import.meta.url)(path) as CudaNative;
    return { ok: true, native, path };
  } catch (e) {
    return { ok: false, reason: `the CUDA addon at ${path} did not load (${(e as Error).message}): rebuild it with \`node scripts/build-addon.mjs\`` };
  }
}

/** Environment variables that say where CUDA is; pass `process.env` from the entry point. */
export type CudaEnv = Readonly<Record<string, string | undefined>>;

export interface CudaLibraryCandidates {
  readonly libcuda: readonly string[];
  readonly libnvrtc: readonly string[];
  /** Toolkit include folders holding cuda_fp16.h, for NVRTC's --include-path. */
  readonly includeDirs: readonly string[];
}

/** Toolkit roots: CUDA_PATH, CUDA_HOME, /usr/local/cuda, then /usr/local/cuda-X.Y newest first. */
export function cudaRoots(env: CudaEnv, local = '/usr/local'): string[] {
  const roots = [env.CUDA_PATH, env.CUDA_HOME, join(local, 'cuda')].filter((r): r is string => !!r);
  let versioned: string[] = [];
  try {
    versioned = readdirSync(local)
      .filter((d) => /^cuda-\d+(\.\d+)?$/.test(d))
      .sort((a, b) => versionOf(b) - versionOf(a))
      .map((d) => join(local, d));
  } catch {
    // no /usr/local: nothing more to try
  }
  return [...new Set([...roots, ...versioned])];
}

const versionOf = (d: string) => {
  const [major = 0, minor = 0] = d.replace('cuda-', '').split('.').map(Number);
  return major * 1000 + minor;
};

/**
 * The libraries to try, in order. libcuda is the driver's: the loader finds it by soname (WSL
 * keeps it apart); a toolkit's lib64/stubs/libcuda.so is deliberately absent, since it only
 * fails cuInit. libnvrtc comes with a toolkit: each root's lib64, then the sonames the loader
 * may know (13, 12, 11.2 for CUDA 11.2 to 11.8).
 */
export function cudaLibraryCandidates(env: CudaEnv, roots: readonly string[] = cudaRoots(env)): CudaLibraryCandidates {
  const libnvrtc: string[] = [];
  for (const r of roots) {
    for (const lib of ['lib64', 'lib', join('targets', 'x86_64-linux', 'lib')]) libnvrtc.push(join(r, lib, 'libnvrtc.so'));
  }
  libnvrtc.push('libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so.11.2');
  return {
    libcuda: ['libcuda.so.1', 'libcuda.so', '/usr/lib/wsl/lib/libcuda.so.1'],
    libnvrtc: [...new Set(libnvrtc)],
    includeDirs: roots.map((r) => join(r, 'include')).filter((d) => existsSync(join(d, 'cuda_fp16.h'))),
  };
}
