import { type DType } from '../ir/dtype.js';
import { type Kernel } from '../ir/kernel.js';
import { expandMath, legalizeNarrowTypes, splitDeepExpressions } from '../passes/legalize.js';
import { mergeLoads } from '../passes/merge-loads.js';
import { verifyKernel } from '../passes/verify-kernel.js';
import { checkWgslIndexRange } from './limits.js';
import { printWgsl } from './print.js';

export interface WgslTarget {
  /** The device has `shader-f16`: f16 is stored and computed natively. Otherwise f16 is stored as packed halves and computed in f32. */
  readonly shaderF16: boolean;
}

/** WGSL stores and computes in these types; the rest are legalized to u32 words and wider types. */
export function wgslNativeTypes(t: WgslTarget): ReadonlySet<DType> {
  return new Set<DType>(t.shaderF16 ? ['f32', 'i32', 'u32', 'f16'] : ['f32', 'i32', 'u32']);
}

/** Legalizes a kernel for WGSL and prints it; a DeviceLimitError when its indices can pass i32 (`checkWgslIndexRange`). */
export function toWgsl(k: Kernel, target: WgslTarget): { source: string; kernel: Kernel } {
  // before legalization: a 4-bit buffer's element indices pass its word count
  checkWgslIndexRange(k);
  const legal = splitDeepExpressions(mergeLoads(legalizeNarrowTypes(expandMath(k, new Set(['erf', 'sigmoid', 'tanh'])), wgslNativeTypes(target))));
  verifyKernel(legal);
  return { source: printWgsl(legal), kernel: legal };
}

export { printWgsl, checkWgslIndexRange };
