import { type BoundProgram, type Sizes, bindProgram, shapeOf } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import { type Kernel } from '../ir/kernel.js';
import { type Program, type TensorDecl } from '../ir/tensor.js';
import { type EmitOptions, emitElementwise, emitRows, emitSerial } from './emit.js';
import { DEFAULT_GROUP_OPTIONS, type GroupOptions, type KernelGroup, escapingTensors, groupStatements, stmtsOf } from './group.js';
import { hoistReductions } from './hoist-reductions.js';
import { inlineElementwise } from './inline-elementwise.js';
import { verifyKernel } from './verify-kernel.js';

/** A tensor the plan's kernels read or write in global memory. */
export interface PlanTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly role: 'input' | 'output' | 'temp';
}

/** A compiled program: kernels in launch order and the global tensors they bind by name. */
export interface Plan {
  readonly program: BoundProgram;
  readonly tensors: readonly PlanTensor[];
  readonly kernels: readonly Kernel[];
  /** The passes that ran, in order, with what each produced (for `--explain` and debugging). */
  readonly trace: readonly { readonly pass: string; readonly note: string }[];
}

export interface LowerOptions extends EmitOptions, GroupOptions {}

export const DEFAULT_LOWER_OPTIONS: LowerOptions = {
  ...DEFAULT_GROUP_OPTIONS,
  workgroupSize: 256,
  vectorWidth: 4,
  rowWorkgroupSize: 256,
  maxWorkgroupsPerDimension: 65535,
  subgroups: false,
};

/**
 * The pipeline, one named step at a time:
 * hoist reductions → bind sizes → inline elementwise producers → group into kernels → emit
 * kernel IR → verify.
 */
export function lower(p: Program, sizes: Sizes, options: Partial<LowerOptions> = {}): Plan {
  const opts: LowerOptions = { ...DEFAULT_LOWER_OPTIONS, ...options };
  const trace: { pass: string; note: string }[] = [];
  const hoisted = hoistReductions(p);
  trace.push({ pass: 'hoist-reductions', note: `${hoisted.stmts.length} statements` });
  const bound = bindProgram(hoisted, sizes);
  trace.push({ pass: 'bind-sizes', note: Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ') });
  const fused = inlineElementwise(bound);
  trace.push({ pass: 'inline-elementwise', note: `${fused.stmts.length} statements` });
  const groups = groupStatements(fused, opts);
  trace.push({ pass: 'group', note: groups.map(describe).join('; ') });
  const stored = escapingTensors(groups, fused.outputs);
  const tensors = new Map<string, TensorDecl>();
  for (const t of fused.inputs) tensors.set(t.name, t);
  for (const s of fused.stmts) tensors.set(s.target.name, s.target);
  const scope = { tensors, stored };
  const kernels = groups.map((g, i) => {
    const name = `${p.name}_${i}_${g.kind}`;
    switch (g.kind) {
      case 'elementwise':
        return emitElementwise(name, g.stmt, scope, opts);
      case 'serial':
        return emitSerial(name, g.stmt, scope, opts);
      case 'rows':
        return emitRows(name, g.rowShape, g.stmts, scope, opts);
    }
  });
  kernels.forEach(verifyKernel);
  trace.push({ pass: 'emit', note: `${kernels.length} kernels` });
  const used = new Set(kernels.flatMap((k) => k.buffers.filter((b) => b.scope === 'global').map((b) => b.name)));
  const planTensors: PlanTensor[] = [];
  for (const t of fused.inputs) planTensors.push({ name: t.name, dtype: t.dtype, shape: shapeOf(t), role: 'input' });
  for (const s of fused.stmts) {
    const role = fused.outputs.includes(s.target.name) ? 'output' : 'temp';
    if (role === 'output' || used.has(s.target.name)) {
      planTensors.push({ name: s.target.name, dtype: s.target.dtype, shape: shapeOf(s.target), role });
    }
  }
  return { program: fused, tensors: planTensors, kernels, trace };
}

function describe(g: KernelGroup): string {
  return `${g.kind}(${stmtsOf(g).map((s) => s.target.name).join(', ')})`;
}
