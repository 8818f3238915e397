import type { DType, ValueType } from './dtype.js';
import { assertNever } from './errors.js';
import { type IntExpr, evalInt } from './intexpr.js';

/**
 * Kernel IR: how a computation runs. Backend-neutral — no WGSL or CUDA spelling lives here; each
 * printer owns its language, and target legalization (packed types, missing math functions) is a
 * rewrite of this IR before printing.
 *
 * A kernel is launched on a grid of workgroups (CUDA: blocks) of `workgroup` invocations
 * (threads). Index arithmetic is i32. Global buffers are the kernel's parameters, in binding order.
 */

export interface KType {
  readonly scalar: ValueType;
  readonly lanes: 1 | 2 | 4;
}

export const kt = (scalar: ValueType, lanes: 1 | 2 | 4 = 1): KType => ({ scalar, lanes });
export const I32 = kt('i32');
export const U32 = kt('u32');
export const F32 = kt('f32');
export const BOOL = kt('bool');
export const sameType = (a: KType, b: KType) => a.scalar === b.scalar && a.lanes === b.lanes;

export type Builtin =
  /** Invocation index within the workgroup, flattened (0 .. invocations-1). */
  | 'local_index'
  | 'local_id_x' | 'local_id_y' | 'local_id_z'
  | 'group_id_x' | 'group_id_y' | 'group_id_z'
  | 'num_groups_x' | 'num_groups_y' | 'num_groups_z'
  /** Lanes per subgroup (warp); WebGPU leaves it to the device, CUDA's is 32. */
  | 'subgroup_size'
  | 'subgroup_lane';

export type KUnaryFn =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'erf' | 'sigmoid' | 'floor' | 'ceil' | 'sin' | 'cos' | 'recip'
  | 'not' | 'bitnot'
  /** f32 ↔ IEEE half bits in the low 16 bits of a u32: for devices without f16 arithmetic. */
  | 'f16_from_bits' | 'f16_to_bits';

export type KBinaryFn =
  | 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'max' | 'min' | 'pow'
  | 'and' | 'or' | 'xor' | 'shl' | 'shr'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne'
  | 'land' | 'lor';

export const COMPARISONS: ReadonlySet<KBinaryFn> = new Set<KBinaryFn>(['lt', 'le', 'gt', 'ge', 'eq', 'ne']);

export type KExpr =
  | { readonly op: 'const'; readonly type: KType; readonly value: number }
  | { readonly op: 'ref'; readonly type: KType; readonly name: string }
  | { readonly op: 'builtin'; readonly type: KType; readonly name: Builtin }
  /**
   * The run-time value of a dynamic size (`Program.dynamic`), an i32 from 1 to the size's bound,
   * the same for every invocation of a launch. The kernel lists it in `Kernel.params`.
   */
  | { readonly op: 'param'; readonly type: KType; readonly name: string }
  /**
   * Element `index` of a buffer; with `type.lanes > 1`, that many consecutive elements from
   * `index`, which the emitter guarantees is a multiple of the lane count (an aligned vector load).
   */
  | { readonly op: 'load'; readonly type: KType; readonly buffer: string; readonly index: KExpr }
  | { readonly op: 'unary'; readonly type: KType; readonly fn: KUnaryFn; readonly x: KExpr }
  | { readonly op: 'binary'; readonly type: KType; readonly fn: KBinaryFn; readonly a: KExpr; readonly b: KExpr }
  | { readonly op: 'select'; readonly type: KType; readonly cond: KExpr; readonly a: KExpr; readonly b: KExpr }
  /** Value conversion (float↔int truncates toward zero and saturates). */
  | { readonly op: 'cast'; readonly type: KType; readonly x: KExpr }
  /** Reinterprets the bits of a 32-bit value. */
  | { readonly op: 'bitcast'; readonly type: KType; readonly x: KExpr }
  /** Reduction across the lanes of the invocation's subgroup; every lane gets the result. */
  | { readonly op: 'subgroup'; readonly type: KType; readonly fn: 'sum' | 'max' | 'min'; readonly x: KExpr }
  /**
   * The value of `x` in lane `lane` of the invocation's subgroup. Every lane of the subgroup takes
   * part (subgroup-uniform control flow); lanes of a partial subgroup are not defined.
   */
  | { readonly op: 'shuffle'; readonly type: KType; readonly x: KExpr; readonly lane: KExpr }
  /** Component `lane` of a vector. */
  | { readonly op: 'extract'; readonly type: KType; readonly x: KExpr; readonly lane: number }
  /** A vector from scalars (one part: a splat). */
  | { readonly op: 'vector'; readonly type: KType; readonly parts: readonly KExpr[] };

export type KStmt =
  | { readonly op: 'let'; readonly name: string; readonly value: KExpr }
  | { readonly op: 'var'; readonly name: string; readonly type: KType; readonly init?: KExpr }
  | { readonly op: 'assign'; readonly name: string; readonly value: KExpr }
  /** `buffer[index] = value`; a vector value stores that many consecutive elements from `index`. */
  | { readonly op: 'store'; readonly buffer: string; readonly index: KExpr; readonly value: KExpr }
  /** `for (var = start; var < end; var += step)`; `unroll` asks the printer to unroll when bounds are constant. */
  | {
      readonly op: 'for';
      readonly var: string;
      readonly start: KExpr;
      readonly end: KExpr;
      readonly step: KExpr;
      readonly unroll: boolean;
      readonly body: readonly KStmt[];
    }
  | { readonly op: 'if'; readonly cond: KExpr; readonly then: readonly KStmt[]; readonly else: readonly KStmt[] }
  /** Workgroup execution barrier that also orders workgroup-memory accesses. */
  | { readonly op: 'barrier' }
  /**
   * Atomic read-modify-write of a u32 / i32 element (`buffer[index] = buffer[index] fn value`) of a
   * buffer marked `atomic`; `result`, when given, names a new local holding the old value. Loads
   * and stores of an atomic buffer are atomic too.
   */
  | {
      readonly op: 'atomic';
      readonly fn: 'and' | 'or' | 'add' | 'max' | 'min';
      readonly buffer: string;
      readonly index: KExpr;
      readonly value: KExpr;
      readonly result?: string;
    }
  | { readonly op: 'comment'; readonly text: string }
  | MatrixStmt;

/**
 * Cooperative matrix operations (CUDA tensor cores through wmma): a 16x16x16 tile held jointly by
 * the 32 lanes of a subgroup. Every lane of the subgroup executes each statement together, in
 * subgroup-uniform control flow. Fragments are named; `a` tiles are 16 (M) x 16 (K), `b` tiles
 * 16 (K) x 16 (N), `acc` tiles 16 x 16 in f32.
 */
export type MatrixRole = 'a' | 'b' | 'acc';
export type MatrixLayout = 'row' | 'col';
export const MATRIX_TILE = 16;

export type MatrixStmt =
  /** `layout` is how `a` and `b` tiles are read from memory (fixed per fragment, as in wmma). */
  | {
      readonly op: 'matrixDecl';
      readonly name: string;
      readonly role: MatrixRole;
      readonly dtype: 'f16' | 'bf16' | 'f32';
      readonly layout: MatrixLayout;
    }
  | { readonly op: 'matrixFill'; readonly name: string; readonly value: number }
  /** Loads a tile from a buffer: element (r, c) at `offset + r * stride + c` (row) or `offset + r + c * stride` (col). */
  | {
      readonly op: 'matrixLoad';
      readonly name: string;
      readonly buffer: string;
      readonly offset: KExpr;
      readonly stride: number;
      readonly layout: MatrixLayout;
    }
  /** acc += a * b */
  | { readonly op: 'matrixMma'; readonly acc: string; readonly a: string; readonly b: string }
  /** Stores an accumulator tile row-major: element (r, c) to `offset + r * stride + c`. */
  | { readonly op: 'matrixStore'; readonly name: string; readonly buffer: string; readonly offset: KExpr; readonly stride: number };

export const isMatrixStmt = (s: KStmt): s is MatrixStmt => s.op.startsWith('matrix');

export type BufferScope = 'global' | 'workgroup' | 'private';

export interface KBuffer {
  readonly name: string;
  readonly scope: BufferScope;
  /** Element type; packed and narrow types appear only before legalization. */
  readonly dtype: DType;
  /** Length in elements (for global buffers: of the whole tensor). */
  readonly length: number;
  /** Global buffers only. */
  readonly access?: 'read' | 'read_write';
  /** 4-bit buffers: elements per row of the packed last axis (each row starts on a new word). */
  readonly rowLength?: number;
  /** Every access is atomic (u32 / i32 only): counters, and sub-word stores after legalization. */
  readonly atomic?: boolean;
}

export interface Kernel {
  readonly name: string;
  readonly workgroup: readonly [number, number, number];
  readonly grid: readonly [number, number, number];
  /** Global buffers in binding order, then workgroup and private arrays. */
  readonly buffers: readonly KBuffer[];
  readonly body: readonly KStmt[];
  /**
   * The dynamic sizes the kernel reads (`param` expressions), in a fixed order: the order in which
   * a launch supplies their values (`Launch.params`). WGSL: i32 fields of one uniform struct bound
   * after the storage buffers; CUDA: `int` arguments after the buffers. Absent: none.
   */
  readonly params?: readonly string[];
  /**
   * The workgroups that can do anything, as an expression of the dynamic sizes (size symbols):
   * the rest only test their guards (the grid is laid out at the sizes' bounds). A launch cuts
   * the grid to it (`launchGrid`). Absent: every workgroup of the grid.
   */
  readonly liveGroups?: IntExpr;
}

/**
 * The grid to launch at these values of the kernel's dynamic sizes: the flat workgroup count cut
 * to `liveGroups` (at least 1), keeping the x extent where the grid spills into y (the kernel
 * computes its flat index with that pitch).
 */
export function launchGrid(k: Kernel, values: Readonly<Record<string, number>>): [number, number, number] {
  const [x, y, z] = k.grid;
  if (!k.liveGroups || z !== 1) return [x, y, z];
  const groups = Math.max(1, Math.min(x * y, evalInt(k.liveGroups, values)));
  return y === 1 ? [groups, 1, 1] : [x, Math.ceil(groups / x), 1];
}

export const globals = (k: Kernel) => k.buffers.filter((b) => b.scope === 'global');

// ---------------------------------------------------------------------------------------------
// Expression constructors (types follow the operands; comparisons are bool)

export const kconst = (value: number, type: KType = I32): KExpr => ({ op: 'const', type, value });
export const kref = (name: string, type: KType): KExpr => ({ op: 'ref', type, name });
export const kbuiltin = (name: Builtin): KExpr => ({ op: 'builtin', type: I32, name });
/** The run-time value of dynamic size `name` (list it in the kernel's `params`). */
export const kparam = (name: string): KExpr => ({ op: 'param', type: I32, name });
/** The dynamic sizes a kernel reads, in launch order (`Kernel.params`; none when absent). */
export const kernelParams = (k: Kernel): readonly string[] => k.params ?? [];
export const kload = (buffer: string, index: KExpr, type: KType): KExpr => ({ op: 'load', type, buffer, index });
export const kunary = (fn: KUnaryFn, x: KExpr): KExpr => {
  const type = fn === 'f16_from_bits' ? kt('f32', x.type.lanes) : fn === 'f16_to_bits' ? kt('u32', x.type.lanes) : x.type;
  return { op: 'unary', type, fn, x };
};
export const kcast = (x: KExpr, type: KType): KExpr => (sameType(x.type, type) ? x : { op: 'cast', type, x });
export const kbitcast = (x: KExpr, type: KType): KExpr => (sameType(x.type, type) ? x : { op: 'bitcast', type, x });
export const kselect = (cond: KExpr, a: KExpr, b: KExpr): KExpr => ({ op: 'select', type: a.type, cond, a, b });

export function kbinary(fn: KBinaryFn, a: KExpr, b: KExpr): KExpr {
  const type = COMPARISONS.has(fn) ? kt('bool', a.type.lanes) : a.type;
  // constant folding for integer index arithmetic keeps generated code readable
  if (a.op === 'const' && b.op === 'const' && a.type.scalar === 'i32' && b.type.scalar === 'i32') {
    const v = foldI32(fn, a.value, b.value);
    if (v !== undefined) return kconst(v);
  }
  if (a.type.scalar === 'i32' && b.type.scalar === 'i32') {
    const isC = (e: KExpr, v: number) => e.op === 'const' && e.value === v;
    if (fn === 'add' && isC(a, 0)) return b; // 0+x -> x
    if ((fn === 'add' || fn === 'sub') && isC(b, 0)) return a; // x±0 -> x
    if (fn === 'mul' && (isC(a, 0) || isC(b, 0))) return kconst(0); // x*0 -> 0
    if (fn === 'mul' && isC(a, 1)) return b; // 1*x -> x
    if ((fn === 'mul' || fn === 'div') && isC(b, 1)) return a; // x*1, x/1 -> x
    if (fn === 'mod' && isC(b, 1)) return kconst(0); // x%1 -> 0
  }
  return { op: 'binary', type, fn, a, b };
}

function foldI32(fn: KBinaryFn, a: number, b: number): number | undefined {
  switch (fn) {
    case 'add':
      return (a + b) | 0;
    case 'sub':
      return (a - b) | 0;
    case 'mul':
      return Math.imul(a, b);
    case 'div':
      return b === 0 ? undefined : Math.trunc(a / b);
    case 'mod':
      return b === 0 ? undefined : a % b;
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
    default:
      return undefined;
  }
}

export const kadd = (a: KExpr, b: KExpr) => kbinary('add', a, b);
export const ksub = (a: KExpr, b: KExpr) => kbinary('sub', a, b);
export const kmul = (a: KExpr, b: KExpr) => kbinary('mul', a, b);
export const kdiv = (a: KExpr, b: KExpr) => kbinary('div', a, b);
export const kmod = (a: KExpr, b: KExpr) => kbinary('mod', a, b);
export const klt = (a: KExpr, b: KExpr) => kbinary('lt', a, b);
export const kand = (a: KExpr, b: KExpr) => kbinary('land', a, b);

// ---------------------------------------------------------------------------------------------
// Traversal

export function kchildren(e: KExpr): readonly KExpr[] {
  switch (e.op) {
    case 'const':
    case 'ref':
    case 'builtin':
    case 'param':
      return [];
    case 'load':
      return [e.index];
    case 'unary':
    case 'cast':
    case 'bitcast':
    case 'subgroup':
    case 'extract':
      return [e.x];
    case 'binary':
      return [e.a, e.b];
    case 'shuffle':
      return [e.x, e.lane];
    case 'select':
      return [e.cond, e.a, e.b];
    case 'vector':
      return e.parts;
    default:
      return assertNever(e, 'kernel expr');
  }
}

export function kwithChildren(e: KExpr, c: readonly KExpr[]): KExpr {
  const k = (i: number) => c[i]!;
  switch (e.op) {
    case 'const':
    case 'ref':
    case 'builtin':
    case 'param':
      return e;
    case 'load':
      return { ...e, index: k(0) };
    case 'unary':
      return { ...e, x: k(0) };
    case 'cast':
      return { ...e, x: k(0) };
    case 'bitcast':
      return { ...e, x: k(0) };
    case 'subgroup':
      return { ...e, x: k(0) };
    case 'shuffle':
      return { ...e, x: k(0), lane: k(1) };
    case 'extract':
      return { ...e, x: k(0) };
    case 'binary':
      return { ...e, a: k(0), b: k(1) };
    case 'select':
      return { ...e, cond: k(0), a: k(1), b: k(2) };
    case 'vector':
      return { ...e, parts: c };
    default:
      return assertNever(e, 'kernel expr');
  }
}

/** Bottom-up rewrite of every expression in an expression tree. */
export function kmapExpr(e: KExpr, f: (e: KExpr) => KExpr): KExpr {
  const kids = kchildren(e);
  const next = kids.map((c) => kmapExpr(c, f));
  return f(next.every((c, i) => c === kids[i]) ? e : kwithChildren(e, next));
}

/** Rewrites statements (bottom-up through bodies); `f` returns the statements that replace one. */
export function kmapStmts(body: readonly KStmt[], f: (s: KStmt) => readonly KStmt[]): KStmt[] {
  return body.flatMap((s) => {
    switch (s.op) {
      case 'for':
        return f({ ...s, body: kmapStmts(s.body, f) });
      case 'if':
        return f({ ...s, then: kmapStmts(s.then, f), else: kmapStmts(s.else, f) });
      default:
        return f(s);
    }
  });
}

/** Applies `f` to every expression of every statement. */
export function kmapStmtExprs(body: readonly KStmt[], f: (e: KExpr) => KExpr): KStmt[] {
  const m = (e: KExpr) => kmapExpr(e, f);
  return kmapStmts(body, (s): KStmt[] => {
    switch (s.op) {
      case 'let':
        return [{ ...s, value: m(s.value) }];
      case 'var':
        return [s.init ? { ...s, init: m(s.init) } : s];
      case 'assign':
        return [{ ...s, value: m(s.value) }];
      case 'store':
        return [{ ...s, index: m(s.index), value: m(s.value) }];
      case 'atomic':
        return [{ ...s, index: m(s.index), value: m(s.value) }];
      case 'for':
        return [{ ...s, start: m(s.start), end: m(s.end), step: m(s.step) }];
      case 'if':
        return [{ ...s, cond: m(s.cond) }];
      case 'matrixLoad':
      case 'matrixStore':
        return [{ ...s, offset: m(s.offset) }];
      case 'barrier':
      case 'comment':
      case 'matrixDecl':
      case 'matrixFill':
      case 'matrixMma':
        return [s];
      default:
        return assertNever(s, 'kernel stmt');
    }
  });
}

/** Visits every expression node (pre-order) in a statement list. */
export function kvisit(body: readonly KStmt[], f: (e: KExpr) => void): void {
  const ve = (e: KExpr) => {
    f(e);
    kchildren(e).forEach(ve);
  };
  for (const s of body) {
    switch (s.op) {
      case 'let':
      case 'assign':
        ve(s.value);
        break;
      case 'var':
        if (s.init) ve(s.init);
        break;
      case 'store':
      case 'atomic':
        ve(s.index);
        ve(s.value);
        break;
      case 'for':
        ve(s.start);
        ve(s.end);
        ve(s.step);
        kvisit(s.body, f);
        break;
      case 'if':
        ve(s.cond);
        kvisit(s.then, f);
        kvisit(s.else, f);
        break;
      case 'matrixLoad':
      case 'matrixStore':
        ve(s.offset);
        break;
      case 'barrier':
      case 'comment':
      case 'matrixDecl':
      case 'matrixFill':
      case 'matrixMma':
        break;
      default:
        assertNever(s, 'kernel stmt');
    }
  }
}

/** What a kernel needs from the device. */
export function kernelFeatures(k: Kernel): { f16: boolean; subgroups: boolean; matrices: boolean } {
  let f16 = k.buffers.some((b) => b.dtype === 'f16');
  let subgroups = false;
  let matrices = false;
  kmapStmts(k.body, (s) => {
    if (isMatrixStmt(s)) matrices = true;
    return [s];
  });
  kvisit(k.body, (e) => {
    if (e.type.scalar === 'f16') f16 = true;
    if (e.op === 'subgroup' || e.op === 'shuffle' || (e.op === 'builtin' && e.name.startsWith('subgroup'))) subgroups = true;
  });
  return { f16, subgroups, matrices };
}

export const workgroupInvocations = (k: Kernel) => k.workgroup[0] * k.workgroup[1] * k.workgroup[2];

// ---------------------------------------------------------------------------------------------
// Statement visitor

/** One handler per statement kind: adding a kind to KStmt breaks every visitor until it handles it. */
export type KStmtVisitor<R> = { readonly [Op in KStmt['op']]: (s: Extract<KStmt, { readonly op: Op }>) => R };

/** Calls the handler of `s`'s kind. */
export function visitStmt<R>(s: KStmt, v: KStmtVisitor<R>): R {
  switch (s.op) {
    case 'let':
      return v.let(s);
    case 'var':
      return v.var(s);
    case 'assign':
      return v.assign(s);
    case 'store':
      return v.store(s);
    case 'for':
      return v.for(s);
    case 'if':
      return v.if(s);
    case 'barrier':
      return v.barrier(s);
    case 'atomic':
      return v.atomic(s);
    case 'comment':
      return v.comment(s);
    case 'matrixDecl':
      return v.matrixDecl(s);
    case 'matrixFill':
      return v.matrixFill(s);
    case 'matrixLoad':
      return v.matrixLoad(s);
    case 'matrixMma':
      return v.matrixMma(s);
    case 'matrixStore':
      return v.matrixStore(s);
    default:
      return assertNever(s, 'kernel stmt');
  }
}

/** Calls `f` on every statement, pre-order, entering loop and branch bodies. */
export function forEachStmt(body: readonly KStmt[], f: (s: KStmt) => void): void {
  for (const s of body) {
    f(s);
    if (s.op === 'for') forEachStmt(s.body, f);
    if (s.op === 'if') {
      forEachStmt(s.then, f);
      forEachStmt(s.else, f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Index range

/** The largest value i32 index arithmetic holds. */
export const I32_INDEX_MAX = 2 ** 31 - 1;

/** Why a kernel's indices may not fit in i32: its largest global buffer, or its grid, whichever is larger. */
export interface WideIndexNeed {
  /** The global buffer with the most elements, when it is past the i32 range; absent when only the grid is. */
  readonly buffer?: string;
  /** That buffer's length in elements, or the grid's invocation count. */
  readonly length: number;
  /** Grid × workgroup invocations of one launch. */
  readonly invocations: number;
}

/**
 * Whether some index of `k` can exceed 2³¹−1: a global buffer has more elements than that (an
 * element index, or the offset computed before it is bounds-checked, can pass it), or the launch
 * has more invocations (the flat invocation index can). Undefined when everything fits in i32.
 */
export function wideIndexNeed(k: Kernel): WideIndexNeed | undefined {
  const invocations = workgroupInvocations(k) * k.grid[0] * k.grid[1] * k.grid[2];
  let largest: KBuffer | undefined;
  for (const b of globals(k)) if (!largest || b.length > largest.length) largest = b;
  if (largest && largest.length > I32_INDEX_MAX) return { buffer: largest.name, length: largest.length, invocations };
  if (invocations > I32_INDEX_MAX) return { length: invocations, invocations };
  return undefined;
}
