import { shapeOf } from '../ir/bind.js';
import { type Kernel } from '../ir/kernel.js';
import { type Axis, type TensorDecl } from '../ir/tensor.js';
import { type KernelBuilder } from './kernel-builder.js';

export interface EmitOptions {
  /** Invocations per workgroup for elementwise and serial kernels. */
  readonly workgroupSize: number;
  /** Consecutive elements per invocation in elementwise kernels (1, 2 or 4), with vector loads where contiguous. */
  readonly vectorWidth: 1 | 2 | 4;
  /** Largest grid dimension the device allows. */
  readonly maxWorkgroupsPerDimension: number;
  /** Invocations sharing one row of a row group (a power of two), or undefined to choose from the row length. */
  readonly threadsPerRow?: number;
  /** Total invocations per row-group workgroup (rows per workgroup = this / threadsPerRow). */
  readonly rowWorkgroupSize: number;
  /** Reduce across a row team with subgroup operations (when every team is one whole workgroup). */
  readonly subgroups: boolean;
}

/** What the emitters need to know about the program's tensors. */
export interface EmitScope {
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  /** Tensors that live in global memory (inputs, outputs, and intermediates read by other kernels). */
  readonly stored: ReadonlySet<string>;
}

export const axisRanges = (axes: readonly Axis[]) =>
  Object.fromEntries(axes.map((a) => [a.name, [0, (a.size.op === 'int' ? a.size.value : 1) - 1] as const]));

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
