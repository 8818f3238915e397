import { type DType, isPacked4 } from '../ir/dtype.js';
import { NameAllocator } from '../ir/names.js';
import { type KBuffer, type KExpr, type KStmt, type KType, I32, kadd, kbuiltin, kconst, kdiv, kmod, kmul, kref } from '../ir/kernel.js';

/** Accumulates one kernel's statements and buffers, handing out fresh local names. */
export class KernelBuilder {
  private readonly stack: KStmt[][] = [[]];
  readonly buffers = new Map<string, KBuffer>();
  /** Every local's name: see NameAllocator.numbered. */
  private readonly names = new NameAllocator();

  get body(): KStmt[] {
    return this.stack[0]!;
  }

  emit(s: KStmt): void {
    this.stack[this.stack.length - 1]!.push(s);
  }

  /** `let name = value`, returning a reference. */
  let(base: string, value: KExpr): KExpr {
    if (value.op === 'const' || value.op === 'ref' || value.op === 'builtin') return value;
    const name = this.fresh(base);
    this.emit({ op: 'let', name, value });
    return kref(name, value.type);
  }

  /** A mutable local with an initial value. */
  var(base: string, type: KType, init: KExpr): string {
    const name = this.fresh(base);
    this.emit({ op: 'var', name, type, init });
    return name;
  }

  fresh(base: string): string {
    return this.names.numbered(base);
  }

  /** Runs `f` collecting the statements it emits, and returns them. */
  /** How many blocks deep the statements being emitted are (0: the kernel's body). */
  get depth(): number {
    return this.stack.length - 1;
  }

  block(f: () => void): KStmt[] {
    this.stack.push([]);
    f();
    return this.stack.pop()!;
  }

  if(cond: KExpr, then: () => void, otherwise?: () => void): void {
    const t = this.block(then);
    const e = otherwise ? this.block(otherwise) : [];
    if (t.length || e.length) this.emit({ op: 'if', cond, then: t, else: e });
  }

  for(base: string, start: KExpr, end: KExpr, step: KExpr, body: (v: KExpr) => void, unroll = false): void {
    if (start.op === 'const' && end.op === 'const' && step.op === 'const' && start.value < end.value && start.value + step.value >= end.value) {
      // one iteration: no loop (a loop costs a software GPU per iteration even when it runs once)
      body(start);
      return;
    }
    const name = this.fresh(base);
    const v = kref(name, I32);
    this.emit({ op: 'for', var: name, start, end, step, unroll, body: this.block(() => body(v)) });
  }

  /** Declares a global tensor; `shape` gives 4-bit tensors their packed row length. */
  global(name: string, dtype: DType, shape: readonly number[], access: 'read' | 'read_write'): void {
    const prev = this.buffers.get(name);
    if (prev && prev.access === 'read_write') return;
    const length = shape.reduce((a, b) => a * b, 1);
    const buffer: KBuffer = isPacked4(dtype)
      ? { name, scope: 'global', dtype, length, access, rowLength: shape[shape.length - 1] ?? 1 }
      : { name, scope: 'global', dtype, length, access };
    this.buffers.set(name, buffer);
  }

  /** An array in each invocation's own memory. */
  private_(base: string, dtype: DType, length: number): string {
    const name = this.fresh(base);
    this.buffers.set(name, { name, scope: 'private', dtype, length });
    return name;
  }

  shared(base: string, dtype: DType, length: number, atomic = false): string {
    const name = this.fresh(base);
    this.buffers.set(name, atomic ? { name, scope: 'workgroup', dtype, length, atomic } : { name, scope: 'workgroup', dtype, length });
    return name;
  }
}

/** Row-major coordinates of a flat index: `flat = ((c0 * n1 + c1) * n2 + c2)`. */
export function decode(flat: KExpr, shape: readonly number[]): KExpr[] {
  const out: KExpr[] = [];
  let stride = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const q = stride === 1 ? flat : kdiv(flat, kconst(stride));
    out.unshift(k === 0 ? q : kmod(q, kconst(shape[k]!)));
    stride *= shape[k]!;
  }
  return out;
}

/**
 * Launch geometry for `groups` workgroups: a grid no wider than `maxPerDim` in x (spilling into y)
 * and the expression for the flat workgroup index.
 */
export function linearGrid(groups: number, maxPerDim: number): { grid: [number, number, number]; index: KExpr } {
  const x = Math.max(1, Math.min(groups, maxPerDim));
  const y = Math.ceil(groups / x);
  const index = y === 1 ? kbuiltin('group_id_x') : kadd(kbuiltin('group_id_x'), kmul(kbuiltin('group_id_y'), kconst(x)));
  return { grid: [x, y, 1], index };
}
