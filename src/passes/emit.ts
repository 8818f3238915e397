import { shapeOf } from '../ir/bind.js';
import { type Kernel } from '../ir/kernel.js';
import { type IntExpr } from '../ir/intexpr.js';
import { type TensorDecl } from '../ir/tensor.js';
import { type KernelBuilder } from './kernel-builder.js';

/** What the emitters need to know about the program's tensors. */
export interface EmitScope {
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  /** Tensors that live in global memory (inputs, outputs, and intermediates read by other kernels). */
  readonly stored: ReadonlySet<string>;
  /**
   * Dynamic sizes (laid out at their bounds): their bounds, each tensor's dynamic extents per axis,
   * and the dynamic extents of reduction and fold axes, as expressions of the size symbols.
   */
  readonly dynamic?: {
    readonly bounds: Readonly<Record<string, number>>;
    readonly axes: Readonly<Record<string, readonly (IntExpr | undefined)[]>>;
    readonly loops: Readonly<Record<string, IntExpr>>;
  };
}

export function readsOf(k: KernelBuilder, scope: EmitScope, reads: ReadonlySet<string>): void {
  for (const t of reads) {
    const d = scope.tensors.get(t)!;
    k.global(t, d.dtype, shapeOf(d), 'read');
  }
}

export function finish(name: string, k: KernelBuilder, workgroup: number, grid: readonly [number, number, number]): Kernel {
  // outputs bind after inputs, both in first-use order
  const buffers = [...k.buffers.values()];
  const order = (b: (typeof buffers)[number]) => (b.scope !== 'global' ? 2 : b.access === 'read' ? 0 : 1);
  buffers.sort((a, b) => order(a) - order(b));
  return { name, workgroup: [workgroup, 1, 1], grid: [grid[0], grid[1], grid[2]], buffers, body: k.body };
}
