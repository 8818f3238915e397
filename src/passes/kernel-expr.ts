import { kdivNonneg, kmodNonneg } from './affine.js';
import { shapeOf } from '../ir/bind.js';
import { type ValueType } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import { type IntExpr, intVars } from '../ir/intexpr.js';
import {
  type KExpr,
  type KType,
  kadd,
  kbinary,
  kcast,
  kconst,
  kdiv,
  kload,
  kmod,
  kmul,
  kselect,
  kt,
  kunary,
} from '../ir/kernel.js';
import { type Expr, type ReduceFn, type TensorDecl } from '../ir/tensor.js';
import { intRange } from '../ir/verify.js';

/**
 * Translates tensor-IR expressions into kernel-IR expressions, given what each index variable is
 * in the kernel (a loop variable, a decoded thread index) and which tensors live in registers.
 */
export interface ExprContext {
  /** Index variable → its i32 value in the kernel. */
  readonly vars: ReadonlyMap<string, KExpr>;
  /** Index variable → [lo, hi], so floor division can use plain division when it is safe. */
  readonly ranges: Readonly<Record<string, readonly [number, number]>>;
  /** Tensor name → its declaration (for shapes and strides). */
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  /** Tensors held in registers (row-group results): name → their value for the current row. */
  readonly registers?: ReadonlyMap<string, KExpr>;
  /** Records each global tensor the expression reads. */
  readonly reads?: Set<string>;
  /** Set when the expression is one lane of a vectorized computation (see `VectorLanes`). */
  readonly vector?: VectorLanes;
  /**
   * Values the caller provides for nodes it lowers itself (fold state, per-step locals, results
   * held in registers, reductions it emitted as loops); `undefined` lowers the node as usual.
   */
  readonly resolve?: (e: Expr) => KExpr | undefined;
}

/**
 * One lane of a computation vectorized along an index variable: loads that are contiguous along
 * it become one aligned vector load shared by all lanes (bound once with `bind`), from which
 * each lane extracts its element.
 */
export interface VectorLanes {
  /** The index variable the lanes run along; in `vars` it holds this lane's value. */
  readonly axis: string;
  /** The variable's value in lane 0 (a multiple of `width`). */
  readonly base: KExpr;
  readonly lane: number;
  readonly width: 2 | 4;
  /** Vector loads made so far, by buffer and index, shared across lanes. */
  readonly loads: Map<string, KExpr>;
  readonly bind: (e: KExpr) => KExpr;
}

/** Types whose buffers take vector loads on every backend. */
const VECTOR_TYPES: ReadonlySet<string> = new Set(['f32', 'i32', 'u32']);

function vectorLoad(t: TensorDecl, index: readonly IntExpr[], ctx: ExprContext, v: VectorLanes): KExpr | undefined {
  const last = index[index.length - 1];
  const shape = shapeOf(t);
  if (!last || !alongLanes(last, v) || !VECTOR_TYPES.has(t.dtype)) return undefined;
  if ((shape[shape.length - 1] ?? 1) % v.width !== 0) return undefined;
  if (index.slice(0, -1).some((i) => intVars(i).has(v.axis))) return undefined;
  const vars = new Map(ctx.vars);
  vars.set(v.axis, v.base);
  const base = flatIndex(t, index.map((i) => intToK(i, { ...ctx, vars })));
  const key = `${t.name}:${JSON.stringify(base)}`;
  let vec = v.loads.get(key);
  if (!vec) {
    vec = v.bind(kload(t.name, base, kt(t.dtype, v.width)));
    v.loads.set(key, vec);
  }
  return { op: 'extract', type: kt(t.dtype), x: vec, lane: v.lane };
}

/**
 * A sum of terms, one of which is the lanes' variable and the rest multiples of the width that do
 * not involve it: consecutive lanes read consecutive, aligned elements.
 */
function alongLanes(i: IntExpr, v: VectorLanes): boolean {
  const terms: IntExpr[] = [];
  const flatten = (e: IntExpr): void => {
    if (e.op === 'add') {
      flatten(e.a);
      flatten(e.b);
    } else terms.push(e);
  };
  flatten(i);
  const lane = terms.filter((t) => t.op === 'var' && t.name === v.axis);
  const rest = terms.filter((t) => !(t.op === 'var' && t.name === v.axis));
  return lane.length === 1 && rest.every((t) => !intVars(t).has(v.axis) && multipleOf(t, v.width));
}

/** Whether an index expression is a multiple of `w` whatever its variables are. */
function multipleOf(e: IntExpr, w: number): boolean {
  switch (e.op) {
    case 'int':
      return e.value % w === 0;
    case 'mul':
      return multipleOf(e.a, w) || multipleOf(e.b, w);
    case 'add':
    case 'sub':
      return multipleOf(e.a, w) && multipleOf(e.b, w);
    default:
      return false;
  }
}

export const ktype = (t: ValueType): KType => kt(t);

/** The type a reduction accumulates in: f16 and bf16 sums and extrema accumulate in f32. */
export const accumulatorType = (t: ValueType): ValueType => (t === 'f16' || t === 'bf16' ? 'f32' : t);

export function identityOf(fn: ReduceFn, t: ValueType): number {
  if (fn === 'sum') return 0;
  const big = t === 'i32' ? 2147483647 : t === 'u32' ? 4294967295 : Infinity;
  const small = t === 'i32' ? -2147483648 : t === 'u32' ? 0 : -Infinity;
  return fn === 'max' ? small : big;
}

export function combine(fn: ReduceFn, acc: KExpr, x: KExpr): KExpr {
  return kbinary(fn === 'sum' ? 'add' : fn, acc, x);
}

export function intToK(e: IntExpr, ctx: ExprContext): KExpr {
  switch (e.op) {
    case 'int':
      return kconst(e.value);
    case 'var': {
      const v = ctx.vars.get(e.name);
      if (!v) throw new TilecraftError(`internal: index variable ${e.name} has no kernel value`);
      return v;
    }
    case 'sym': {
      // a dynamic size: its run-time value, which the lowering binds as the variable `%name`
      const v = ctx.vars.get(`%${e.name}`);
      if (!v) throw new TilecraftError(`internal: size ${e.name} is unbound in a kernel`);
      return v;
    }
    case 'add':
      return kadd(intToK(e.a, ctx), intToK(e.b, ctx));
    case 'sub':
      return kbinary('sub', intToK(e.a, ctx), intToK(e.b, ctx));
    case 'mul':
      return kmul(intToK(e.a, ctx), intToK(e.b, ctx));
    case 'min':
    case 'max':
      return kbinary(e.op, intToK(e.a, ctx), intToK(e.b, ctx));
    case 'floordiv':
    case 'mod': {
      const a = intToK(e.a, ctx);
      const b = intToK(e.b, ctx);
      const [alo] = intRange(e.a, ctx.ranges);
      const [blo] = intRange(e.b, ctx.ranges);
      if (alo >= 0 && blo > 0) {
        if (b.op === 'const') return e.op === 'floordiv' ? kdivNonneg(a, b.value) : kmodNonneg(a, b.value);
        return e.op === 'floordiv' ? kdiv(a, b) : kmod(a, b);
      }
      // floor semantics for possibly negative operands: adjust the truncated result
      const r = kmod(a, b);
      const adjust = kbinary('land', kbinary('ne', r, kconst(0)), kbinary('ne', kbinary('lt', r, kconst(0)), kbinary('lt', b, kconst(0))));
      return e.op === 'floordiv'
        ? kbinary('sub', kdiv(a, b), kselect(adjust, kconst(1), kconst(0)))
        : kadd(r, kselect(adjust, b, kconst(0)));
    }
    default:
      return assertNever(e, 'int op');
  }
}

/** Row-major flat offset of an element. */
export function flatIndex(t: TensorDecl, index: readonly KExpr[]): KExpr {
  const shape = shapeOf(t);
  let flat: KExpr = kconst(0);
  shape.forEach((n, k) => {
    flat = kadd(kmul(flat, kconst(n)), index[k]!);
  });
  return flat;
}

export function exprToK(e: Expr, ctx: ExprContext): KExpr {
  const given = ctx.resolve?.(e);
  if (given) return given;
  switch (e.op) {
    case 'const':
      return kconst(e.value, ktype(e.dtype));
    case 'load': {
      const reg = ctx.registers?.get(e.tensor);
      if (reg) return reg;
      const t = ctx.tensors.get(e.tensor);
      if (!t) throw new TilecraftError(`internal: tensor ${e.tensor} unknown to the kernel`);
      ctx.reads?.add(e.tensor);
      const vec = ctx.vector && vectorLoad(t, e.index, ctx, ctx.vector);
      return vec ?? kload(e.tensor, flatIndex(t, e.index.map((i) => intToK(i, ctx))), ktype(t.dtype));
    }
    case 'iota':
      return kcast(intToK(e.index, ctx), ktype(e.dtype));
    case 'unary':
      return kunary(e.fn, exprToK(e.x, ctx));
    case 'binary':
      return kbinary(e.fn, exprToK(e.a, ctx), exprToK(e.b, ctx));
    case 'compare':
      return kbinary(e.fn, exprToK(e.a, ctx), exprToK(e.b, ctx));
    case 'select':
      return kselect(exprToK(e.cond, ctx), exprToK(e.a, ctx), exprToK(e.b, ctx));
    case 'cast':
      return kcast(exprToK(e.x, ctx), ktype(e.dtype));
    case 'reduce':
      throw new TilecraftError('internal: a reduction inside an expression reached the kernel emitter');
    case 'fold':
    case 'state':
    case 'local':
      throw new TilecraftError(`internal: ${e.op} reached the kernel emitter`);
    default:
      return assertNever(e, 'expr op');
  }
}

