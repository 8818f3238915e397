import { type DType } from '../ir/dtype.js';
import { type Kernel, kernelParams, wideIndexNeed } from '../ir/kernel.js';
import { expandMath, legalizeNarrowTypes } from '../passes/legalize.js';
import { mergeLoads } from '../passes/merge-loads.js';
import { verifyKernel } from '../passes/verify-kernel.js';
import { type CudaLimits, archLimits, checkCudaLimits, sharedBytes } from './limits.js';
import { entryName, printCuda } from './print.js';
import { dropUnusedLocals } from './prune.js';

export interface CudaTarget {
  /** Compute capability as 10 * major + minor: 80 for sm_80 (A100), 90 for sm_90 (H100). */
  readonly sm: number;
  /** Limits to check before printing; the architecture's documented ones when omitted. */
  readonly limits?: CudaLimits;
}

/** How to launch a printed kernel: everything another runtime needs besides the source. */
export interface CudaLaunch {
  /** The `extern "C"` entry point's name. */
  readonly entry: string;
  readonly grid: readonly [number, number, number];
  readonly block: readonly [number, number, number];
  /** Always 0: the printer declares shared arrays statically. */
  readonly dynamicSharedBytes: number;
  /** Static shared memory the kernel declares. */
  readonly sharedBytes: number;
  /** Kernel parameters in order: one device pointer per global buffer (then the `sizes`). */
  readonly params: readonly { readonly name: string; readonly dtype: DType; readonly access: 'read' | 'read_write' }[];
  /** Dynamic sizes passed as `int` arguments after the buffers, in order (`Kernel.params`). */
  readonly sizes: readonly string[];
}

export interface CudaSource {
  readonly source: string;
  /** The legalized kernel that was printed (its global buffers are the launch's parameters). */
  readonly kernel: Kernel;
  readonly launch: CudaLaunch;
}

/** CUDA stores and computes in these; u4 and i4 are packed into u32 words by legalization. */
export const CUDA_NATIVE_TYPES: ReadonlySet<DType> = new Set<DType>(['f32', 'f16', 'bf16', 'i32', 'u32', 'i8']);

export const archName = (sm: number) => `sm_${sm}`;

/**
 * The CUDA target's legalization, all of it IR rewrites: sigmoid expands into exp (CUDA has erff
 * and tanhf), 4-bit buffers become u32 words with shift-and-mask loads, and locals nothing reads
 * are dropped (nvcc warns about them).
 */
export function legalizeForCuda(k: Kernel): Kernel {
  const legal = dropUnusedLocals(mergeLoads(legalizeNarrowTypes(expandMath(k, new Set(['sigmoid'])), CUDA_NATIVE_TYPES)));
  verifyKernel(legal);
  return legal;
}

/**
 * Legalizes a kernel for CUDA, checks it against the target's limits (a DeviceLimitError before
 * any compiler runs) and prints it with its launch metadata; index arithmetic is 64-bit when some
 * index can pass 2³¹−1 (`wideIndexNeed`). The output has been compiled
 * (nvcc, sm_80 and sm_90), not yet run on a GPU.
 */
export function toCuda(k: Kernel, target: CudaTarget): CudaSource {
  const legal = legalizeForCuda(k);
  checkCudaLimits(legal, target.limits ?? archLimits(target.sm), archName(target.sm));
  const launch: CudaLaunch = {
    entry: entryName(legal),
    grid: legal.grid,
    block: legal.workgroup,
    dynamicSharedBytes: 0,
    sharedBytes: sharedBytes(legal),
    params: legal.buffers
      .filter((b) => b.scope === 'global')
      .map((b) => ({ name: b.name, dtype: b.dtype, access: b.access ?? 'read_write' })),
    sizes: kernelParams(legal),
  };
  // decided before legalization too: a 4-bit buffer's element indices pass its word count
  const wideIndices = wideIndexNeed(k) !== undefined || wideIndexNeed(legal) !== undefined;
  return { source: printCuda(legal, { wideIndices }), kernel: legal, launch };
}

export { printCuda, entryName };
export { type PrintCudaOptions } from './print.js';
export { type CudaLimits, archLimits, checkCudaLimits, sharedBytes } from './limits.js';
