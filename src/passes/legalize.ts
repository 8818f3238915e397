import { type DType, type ValueType, isFloat, isPacked4 } from '../ir/dtype.js';
import { assertNever } from '../ir/errors.js';
import { NameAllocator } from '../ir/names.js';
import { type LetValues, kdivNonneg, kmodNonneg, letValues } from './affine.js';
import {
  type KBuffer,
  type KExpr,
  type KStmt,
  type KType,
  type Kernel,
  I32,
  U32,
  kadd,
  kbinary,
  kbitcast,
  kcast,
  kconst,
  kload,
  kchildren,
  kmapExpr,
  kmapStmtExprs,
  kmapStmts,
  kmul,
  kref,
  kselect,
  kt,
  kwithChildren,
  kunary,
} from '../ir/kernel.js';

/**
 * Target legalization: rewrites of kernel IR that make it printable in a language that lacks
 * some of its types or functions. Each printer states what it needs; these passes provide it.
 */

/**
 * Fresh names for the locals a pass introduces: each pass has its own prefix, and every name the
 * kernel already uses is skipped.
 */
export function namer(prefix: string, k: Kernel): () => string {
  const names = new NameAllocator(k.buffers.map((b) => b.name));
  kmapStmts(k.body, (s) => {
    if (s.op === 'let' || s.op === 'var') names.reserve(s.name);
    else if (s.op === 'for') names.reserve(s.var);
    else if (s.op === 'atomic' && s.result) names.reserve(s.result);
    else if (s.op === 'matrixDecl') names.reserve(s.name);
    return [s];
  });
  return () => names.numbered(prefix);
}

/**
 * Expands math functions the target lacks into primitives:
 *   sigmoid(x) -> 1 / (1 + exp(-x))
 *   erf(x)     -> odd Taylor series for |x| < 0.5, Abramowitz–Stegun 7.1.26 above (|error| < 2e-7)
 *   tanh(x)    -> tanh(clamp(x, -15, 15))   (some WGSL implementations overflow to NaN)
 * A non-trivial operand is bound to a `let` first, so it is computed once.
 */
export function expandMath(k: Kernel, fns: ReadonlySet<'erf' | 'sigmoid' | 'tanh'>): Kernel {
  const freshName = namer('em', k);
  const body = kmapStmts(k.body, (s) => {
    const pre: KStmt[] = [];
    const bind = (x: KExpr): KExpr => {
      if (x.op === 'const' || x.op === 'ref' || x.op === 'builtin') return x;
      const name = freshName();
      pre.push({ op: 'let', name, value: x });
      return kref(name, x.type);
    };
    const rewrite = (n: KExpr): KExpr => {
      if (n.op !== 'unary' || !(fns as ReadonlySet<string>).has(n.fn)) return n;
      const c = (v: number) => kconst(v, n.type);
      switch (n.fn) {
        case 'sigmoid':
          return kbinary('div', c(1), kadd(c(1), kunary('exp', kunary('neg', n.x))));
        case 'tanh':
          return kunary('tanh', kbinary('max', kbinary('min', n.x, c(15)), c(-15)));
        case 'erf':
          return erfOf(bind(n.x), c, bind);
        default:
          return n;
      }
    };
    // kmapStmts has already rewritten nested bodies: map only this statement's own expressions,
    // once per node (a rewrite applied again to its own output would clamp tanh twice)
    const out = mapOwnExprs(s, (e) => kmapExpr(e, rewrite));
    return [...pre, out];
  });
  return { ...k, body };
}

/**
 * Binds every `maxDepth` levels of a deeply nested expression to a `let`: shader compilers refuse
 * expressions nested beyond their parser's limit (WGSL's is reached by a chain of about 60
 * operations, which a fused elementwise chain can be). Branches of `select` and the right operand
 * of `&&` / `||` are left as they are: a target may not evaluate them, and a `let` would.
 */
export function splitDeepExpressions(k: Kernel, maxDepth = 24): Kernel {
  const freshName = namer('dx', k);
  const body = kmapStmts(k.body, (s) => {
    const pre: KStmt[] = [];
    const cut = (e: KExpr): { e: KExpr; depth: number } => {
      const kids = kchildren(e);
      if (kids.length === 0) return { e, depth: 1 };
      const guarded = (i: number) => (e.op === 'select' && i > 0) || (e.op === 'binary' && (e.fn === 'land' || e.fn === 'lor') && i === 1);
      const done = kids.map((c, i) => (guarded(i) ? { e: c, depth: depthOf(c) } : cut(c)));
      const next = done.every((d, i) => d.e === kids[i]) ? e : kwithChildren(e, done.map((d) => d.e));
      const depth = 1 + Math.max(...done.map((d) => d.depth));
      if (depth < maxDepth) return { e: next, depth };
      const name = freshName();
      pre.push({ op: 'let', name, value: next });
      return { e: kref(name, next.type), depth: 1 };
    };
    const out = mapOwnExprs(s, (e) => cut(e).e);
    return [...pre, out];
  });
  return { ...k, body };
}

function depthOf(e: KExpr): number {
  const kids = kchildren(e);
  return kids.length === 0 ? 1 : 1 + Math.max(...kids.map(depthOf));
}

/** Maps the expressions a statement holds itself (not those of its nested bodies). */
function mapOwnExprs(s: KStmt, m: (e: KExpr) => KExpr): KStmt {
  switch (s.op) {
    case 'let':
    case 'assign':
      return { ...s, value: m(s.value) };
    case 'var':
      return s.init ? { ...s, init: m(s.init) } : s;
    case 'store':
    case 'atomic':
      return { ...s, index: m(s.index), value: m(s.value) };
    case 'for':
      return { ...s, start: m(s.start), end: m(s.end), step: m(s.step) };
    case 'if':
      return { ...s, cond: m(s.cond) };
    case 'matrixLoad':
    case 'matrixStore':
      return { ...s, offset: m(s.offset) };
    case 'barrier':
    case 'comment':
    case 'matrixDecl':
    case 'matrixFill':
    case 'matrixMma':
      return s;
    default:
      return assertNever(s, 'kernel stmt');
  }
}

function erfOf(x: KExpr, c: (v: number) => KExpr, bind: (e: KExpr) => KExpr): KExpr {
  const mul = (a: KExpr, b: KExpr) => kbinary('mul', a, b);
  const a = bind(kunary('abs', x));
  const x2 = bind(mul(x, x));
  // 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
  const coeffs = [1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320];
  let series = c(coeffs[coeffs.length - 1]!);
  for (let i = coeffs.length - 2; i >= 0; i--) series = kadd(mul(series, x2), c(coeffs[i]!));
  const small = mul(mul(series, x), c(2 / Math.sqrt(Math.PI)));
  const t = bind(kbinary('div', c(1), kadd(c(1), mul(c(0.3275911), a))));
  const poly = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];
  let p = c(poly[poly.length - 1]!);
  for (let i = poly.length - 2; i >= 0; i--) p = kadd(mul(p, t), c(poly[i]!));
  const y = bind(kbinary('sub', c(1), mul(mul(p, t), kunary('exp', kunary('neg', x2)))));
  const large = kselect(kbinary('lt', x, c(0)), kunary('neg', y), y);
  return kselect(kbinary('lt', a, c(0.5)), small, large);
}

/**
 * Rewrites buffers of types the target cannot store into u32 words, and values of types it cannot
 * compute in into wider ones: bf16 (and f16 without native support) compute in f32, i8 / u4 / i4
 * in i32. Loads extract bits; stores become atomic and/or on the word so neighbours writing the
 * other halves of a word cannot race. Casts to a narrow type keep its rounding or wrapping.
 */
export function legalizeNarrowTypes(k: Kernel, native: ReadonlySet<DType>): Kernel {
  const narrow = (t: ValueType): boolean => t !== 'bool' && !native.has(t);
  const promoted = (t: ValueType): ValueType => (!narrow(t) ? t : isFloat(t) ? 'f32' : 'i32');
  const P = (t: KType): KType => (narrow(t.scalar) ? kt(promoted(t.scalar), t.lanes) : t);
  if (!k.buffers.some((b) => narrow(b.dtype)) && !usesNarrow(k, narrow)) return k;

  const freshName = namer('nt', k);
  const lets = letValues(k.body);
  const buffers = new Map(k.buffers.map((b) => [b.name, b]));
  const stored = new Set<string>();
  const findStores = (body: readonly KStmt[]) =>
    kmapStmts(body, (s) => {
      if (s.op === 'store') stored.add(s.buffer);
      return [s];
    });
  findStores(k.body);

  // applied once per node, bottom-up: the word loads it creates must not be rewritten again
  const rewriteExpr = (n: KExpr): KExpr => {
    if (n.op === 'load') {
      const b = buffers.get(n.buffer)!;
      if (b.scope === 'global' && narrow(b.dtype)) return loadNarrow(b, n.index, lets);
      return n;
    }
    if (n.op === 'cast' && narrow(n.type.scalar)) return castToNarrow(n.x, n.type.scalar as DType, P);
    return n;
  };

  let body: KStmt[] = kmapStmtExprs(k.body, rewriteExpr);
  body = kmapStmts(body, (s) => {
    if (s.op !== 'store') return [s];
    const b = buffers.get(s.buffer)!;
    if (b.scope !== 'global' || !narrow(b.dtype)) return [s];
    return storeNarrow(b, s.index, s.value, freshName, lets);
  });
  // finally every remaining narrow type becomes its computing type
  body = kmapStmtExprs(body, (e) => (narrow(e.type.scalar) ? ({ ...e, type: P(e.type) } as KExpr) : e));
  body = kmapStmts(body, (s) => (s.op === 'var' && narrow(s.type.scalar) ? [{ ...s, type: P(s.type) }] : [s]));
  const newBuffers: KBuffer[] = k.buffers.map((b) => {
    if (!narrow(b.dtype)) return b;
    if (b.scope !== 'global') return { ...b, dtype: promoted(b.dtype) as DType };
    const words = wordsOf(b);
    const out: KBuffer = { name: b.name, scope: 'global', dtype: 'u32', length: words, access: b.access ?? 'read' };
    return stored.has(b.name) ? { ...out, atomic: true } : out;
  });
  return { ...k, buffers: newBuffers, body };
}

function usesNarrow(k: Kernel, narrow: (t: ValueType) => boolean): boolean {
  let found = false;
  kmapStmtExprs(k.body, (e) => {
    if (narrow(e.type.scalar)) found = true;
    return e;
  });
  return found;
}

function bitsPer(dtype: DType): number {
  return dtype === 'f16' || dtype === 'bf16' ? 16 : dtype === 'i8' ? 8 : isPacked4(dtype) ? 4 : 32;
}

function wordsOf(b: KBuffer): number {
  if (isPacked4(b.dtype)) {
    const row = b.rowLength ?? b.length;
    return Math.ceil(b.length / row) * Math.ceil(row / 8);
  }
  return Math.ceil((b.length * bitsPer(b.dtype)) / 32);
}

/**
 * Word index and bit shift of element `e` (an element index, so non-negative). Affine indices
 * simplify: elements `8·kb + u` of a 4-bit buffer read word `kb` at shift `4u`.
 */
function locate(b: KBuffer, e: KExpr, lets: LetValues): { word: KExpr; shift: KExpr } {
  const bits = bitsPer(b.dtype);
  const per = 32 / bits;
  if (isPacked4(b.dtype) && b.rowLength !== undefined && b.rowLength % 8 !== 0) {
    const row = kdivNonneg(e, b.rowLength, lets);
    const col = kmodNonneg(e, b.rowLength, lets);
    return { word: kadd(kmul(row, kconst(Math.ceil(b.rowLength / 8))), kdivNonneg(col, 8, lets)), shift: kmul(kmodNonneg(col, 8, lets), kconst(4)) };
  }
  return { word: kdivNonneg(e, per, lets), shift: kmul(kmodNonneg(e, per, lets), kconst(bits)) };
}

function loadNarrow(b: KBuffer, index: KExpr, lets: LetValues): KExpr {
  const { word, shift } = locate(b, index, lets);
  const w = kload(b.name, word, U32);
  const bits = bitsPer(b.dtype);
  const field = () => kbinary('and', kbinary('shr', w, shift), kconst(bits === 32 ? 0xffffffff : 2 ** bits - 1, U32));
  switch (b.dtype) {
    case 'bf16':
      return kbitcast(kbinary('shl', field(), kconst(16)), kt('f32'));
    case 'f16':
      return kunary('f16_from_bits', field());
    case 'u4':
      return kbitcast(field(), I32);
    case 'i8':
    case 'i4':
      // move the field to the top, then shift back arithmetically to sign-extend
      return kbinary('shr', kbitcast(kbinary('shl', w, kbinary('sub', kconst(32 - bits), shift)), I32), kconst(32 - bits));
    default:
      throw new Error(`internal: no narrow load for ${b.dtype}`);
  }
}

/** Bits (in the low end of a u32) of a promoted value stored as `dtype`, rounded or wrapped. */
function narrowBits(dtype: DType, v: KExpr): KExpr {
  switch (dtype) {
    case 'bf16': {
      // round to nearest even on the 16 bits kept
      const b = kbitcast(v, U32);
      const lsb = kbinary('and', kbinary('shr', b, kconst(16)), kconst(1, U32));
      return kbinary('shr', kadd(kadd(b, kconst(0x7fff, U32)), lsb), kconst(16));
    }
    case 'f16':
      return kunary('f16_to_bits', v);
    case 'i8':
      return kbinary('and', kbitcast(v, U32), kconst(0xff, U32));
    case 'u4':
    case 'i4':
      return kbinary('and', kbitcast(v, U32), kconst(0xf, U32));
    default:
      throw new Error(`internal: no narrow store for ${dtype}`);
  }
}

function storeNarrow(b: KBuffer, index: KExpr, value: KExpr, freshName: () => string, lets: LetValues): KStmt[] {
  const { word, shift } = locate(b, index, lets);
  const mask = kconst(2 ** bitsPer(b.dtype) - 1, U32);
  const w = freshName();
  const s = freshName();
  const v = freshName();
  const wr = kref(w, I32);
  const sr = kref(s, I32);
  // bound once: narrowBits reads its operand more than once (bf16 rounding)
  const vr = kref(v, value.type);
  return [
    { op: 'let', name: w, value: word },
    { op: 'let', name: s, value: shift },
    { op: 'let', name: v, value },
    { op: 'atomic', fn: 'and', buffer: b.name, index: wr, value: kunary('bitnot', kbinary('shl', mask, sr)) },
    { op: 'atomic', fn: 'or', buffer: b.name, index: wr, value: kbinary('shl', narrowBits(b.dtype, vr), sr) },
  ];
}

/** A cast to a narrow type, computed in the wider type with the narrow type's rounding or range. */
function castToNarrow(x: KExpr, to: DType, P: (t: KType) => KType): KExpr {
  const wide = P(kt(to));
  const fromFloat = isFloat(x.type.scalar);
  switch (to) {
    case 'bf16': {
      const f = kcast(x, wide);
      const bits = narrowBits('bf16', f);
      return kbitcast(kbinary('shl', bits, kconst(16)), wide);
    }
    case 'f16':
      return kunary('f16_from_bits', kunary('f16_to_bits', kcast(x, wide)));
    case 'i8':
    case 'u4':
    case 'i4': {
      const [lo, hi] = to === 'i8' ? [-128, 127] : to === 'u4' ? [0, 15] : [-8, 7];
      if (fromFloat) {
        const c = (v: number) => kconst(v, x.type);
        return kcast(kbinary('max', kbinary('min', x, c(hi)), c(lo)), I32);
      }
      const bits = to === 'i8' ? 8 : 4;
      const v = kcast(x, I32);
      return to === 'u4' ? kbinary('and', v, kconst(15)) : kbinary('shr', kbinary('shl', v, kconst(32 - bits)), kconst(32 - bits));
    }
    default:
      return kcast(x, wide);
  }
}

