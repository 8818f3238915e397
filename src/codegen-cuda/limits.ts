import { DeviceLimitError } from '../ir/errors.js';
import { type Kernel, globals, workgroupInvocations } from '../ir/kernel.js';
import { scalarBytes } from './scalars.js';

/**
 * What a CUDA launch must fit in. Checked before NVRTC or nvcc ever see the kernel, so a search
 * skips an impossible configuration at the cost of a comparison, not a compile.
 */
export interface CudaLimits {
  readonly maxThreadsPerBlock: number;
  readonly maxBlockDim: readonly [number, number, number];
  readonly maxGridDim: readonly [number, number, number];
  /**
   * Static `__shared__` bytes per block: 48 KiB on every architecture (ptxas refuses more), and no
   * more than the device's default per-block shared memory. More needs dynamic shared memory and
   * the opt-in, which the printer does not use.
   */
  readonly maxStaticSharedBytes: number;
  /** Per-block shared memory with the opt-in (dynamic shared memory only), for the record. */
  readonly maxSharedBytesOptIn: number;
  readonly maxRegistersPerThread: number;
  /** Kernel parameter space; each global buffer is one 8-byte pointer. */
  readonly maxParamBytes: number;
}

export const STATIC_SHARED_LIMIT = 48 * 1024;

/** Shared memory per block with the opt-in, by compute capability (CUDA programming guide, table of technical specifications). */
const OPT_IN_SHARED: Readonly<Record<number, number>> = {
  75: 64 * 1024,
  80: 163 * 1024,
  86: 99 * 1024,
  87: 163 * 1024,
  89: 99 * 1024,
  90: 227 * 1024,
  100: 227 * 1024,
  103: 227 * 1024,
  120: 99 * 1024,
  121: 99 * 1024,
};

/** The documented limits of an architecture (`sm` is 10 * major + minor: 80 for sm_80). */
export function archLimits(sm: number): CudaLimits {
  return {
    maxThreadsPerBlock: 1024,
    maxBlockDim: [1024, 1024, 64],
    maxGridDim: [2 ** 31 - 1, 65535, 65535],
    maxStaticSharedBytes: STATIC_SHARED_LIMIT,
    maxSharedBytesOptIn: OPT_IN_SHARED[sm] ?? STATIC_SHARED_LIMIT,
    maxRegistersPerThread: 255,
    maxParamBytes: 4096,
  };
}

/** Bytes of the kernel's static `__shared__` arrays, each aligned to its element size. */
export function sharedBytes(k: Kernel): number {
  let total = 0;
  for (const b of k.buffers) {
    if (b.scope !== 'workgroup') continue;
    const size = scalarBytes(b.dtype);
    total = Math.ceil(total / size) * size + b.length * size;
  }
  return total;
}

const AXES = ['x', 'y', 'z'] as const;

/** Throws a DeviceLimitError naming the limit, the kernel's need and what to change. */
export function checkCudaLimits(k: Kernel, limits: CudaLimits, arch = 'this device'): void {
  const threads = workgroupInvocations(k);
  if (threads > limits.maxThreadsPerBlock) {
    throw new DeviceLimitError(
      `kernel ${k.name} uses ${threads} threads per block; CUDA allows ${limits.maxThreadsPerBlock} on ${arch}: lower the group's workgroupSize knob`,
      'maxThreadsPerBlock',
      threads,
      limits.maxThreadsPerBlock,
    );
  }
  k.workgroup.forEach((n, i) => {
    if (n > limits.maxBlockDim[i]!) {
      throw new DeviceLimitError(
        `kernel ${k.name} has a block ${n} threads wide in ${AXES[i]}; ${arch} allows ${limits.maxBlockDim[i]}`,
        `maxBlockDim${AXES[i]!.toUpperCase()}`,
        n,
        limits.maxBlockDim[i],
      );
    }
  });
  k.grid.forEach((n, i) => {
    if (n > limits.maxGridDim[i]!) {
      throw new DeviceLimitError(
        `kernel ${k.name} launches ${n} blocks in ${AXES[i]}; ${arch} allows ${limits.maxGridDim[i]}: lower maxWorkgroupsPerDimension`,
        `maxGridDim${AXES[i]!.toUpperCase()}`,
        n,
        limits.maxGridDim[i],
      );
    }
  });
  const shared = sharedBytes(k);
  if (shared > limits.maxStaticSharedBytes) {
    throw new DeviceLimitError(
      `kernel ${k.name} needs ${shared} bytes of static shared memory; ${arch} allows ${limits.maxStaticSharedBytes} ` +
        `(static __shared__ is capped at ${STATIC_SHARED_LIMIT} bytes; the device's opt-in maximum, ${limits.maxSharedBytesOptIn}, ` +
        'applies to dynamic shared memory only): use fewer threads per block or a smaller tile',
      'maxStaticSharedBytes',
      shared,
      limits.maxStaticSharedBytes,
    );
  }
  const params = globals(k).length * 8;
  if (params > limits.maxParamBytes) {
    throw new DeviceLimitError(
      `kernel ${k.name} takes ${globals(k).length} buffers (${params} bytes of parameters); CUDA allows ${limits.maxParamBytes} bytes`,
      'maxParamBytes',
      params,
      limits.maxParamBytes,
    );
  }
}
