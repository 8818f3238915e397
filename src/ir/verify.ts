import { isPacked4 } from './dtype.js';
import { ProgramError, ShapeError } from './errors.js';
import { type IntExpr, evalInt, intSyms, intVars, printInt } from './intexpr.js';
import { printExpr } from './print.js';
import { type Axis, type Expr, type FoldDef, type Program, type Stmt, type TensorDecl, children, freeVars } from './tensor.js';
import { type FoldScope, checkFoldRef, checkFoldStmt } from './verify-fold.js';

/**
 * The deepest expression a statement may hold. The passes, the printer and the reference walk
 * expressions recursively, so a deeper one would exhaust the stack; a chain of `let`s or outputs
 * (each statement reading the one before it) keeps every expression shallow at any length.
 */
export const MAX_EXPR_DEPTH = 1000;

/** The nesting depth of an expression (a leaf is 1), found without recursion. */
export function exprDepth(e: Expr): number {
  let deepest = 0;
  const stack: [Expr, number][] = [[e, 1]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    if (d > deepest) deepest = d;
    for (const c of children(n)) stack.push([c, d + 1]);
  }
  return deepest;
}

/** Throws a ProgramError, before any recursive walk, for a statement nested deeper than MAX_EXPR_DEPTH. */
export function checkExprDepth(p: Program): void {
  for (const s of p.stmts) {
    const depth = exprDepth(s.expr);
    if (depth > MAX_EXPR_DEPTH) {
      throw new ProgramError(
        `the expression for ${s.target.name} in program ${p.name} nests ${depth} operations deep; the limit is ${MAX_EXPR_DEPTH}: name intermediate results (let) to split it`,
        s.target.name,
      );
    }
  }
}

/**
 * Checks a program's structure: names defined once and before use, loads with the right number of
 * indices, every free index variable bound by the statement's target, reductions not shadowing,
 * sizes declared. With concrete sizes (`boundsOf`), also checks that every load stays in range.
 */
export function verifyProgram(p: Program): void {
  checkExprDepth(p);
  const sizeSet = new Set(p.sizes);
  for (const [s, max] of Object.entries(p.dynamic ?? {})) {
    if (!sizeSet.has(s)) throw new ProgramError(`dynamic size ${s} is not a size of program ${p.name} (its sizes: ${p.sizes.join(', ') || 'none'})`);
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ShapeError(`dynamic size ${s} needs an upper bound that is a positive integer, got ${max}`, undefined, s);
    }
  }
  const defined = new Map<string, TensorDecl>();
  const checkSizes = (where: string, e: IntExpr) => {
    for (const s of intSyms(e)) {
      if (!sizeSet.has(s)) throw new ProgramError(`${where} uses size ${s}, which program ${p.name} does not declare`);
    }
  };
  const declare = (t: TensorDecl) => {
    if (defined.has(t.name)) throw new ProgramError(`tensor ${t.name} is defined twice in program ${p.name}`);
    const seen = new Set<string>();
    for (const a of t.axes) {
      if (seen.has(a.name)) throw new ShapeError(`tensor ${t.name} has two axes named ${a.name}`, t.name, a.name);
      seen.add(a.name);
      checkSizes(`axis ${a.name} of ${t.name}`, a.size);
    }
    defined.set(t.name, t);
  };
  for (const t of p.inputs) declare(t);
  for (const s of p.stmts) {
    const t = s.target;
    if (s.expr.dtype !== t.dtype) {
      throw new ProgramError(`${t.name} is declared ${t.dtype} but its expression has dtype ${s.expr.dtype}`);
    }
    if (isPacked4(t.dtype)) {
      throw new ProgramError(`${t.name}: 4-bit tensors can be inputs only; compute in i32 or f32 and pack on the host`);
    }
    const axes = new Set(t.axes.map((a) => a.name));
    // a fold's target axes are checked against its definition, with a message that says so
    for (const v of s.expr.op === 'fold' ? [] : freeVars(s.expr)) {
      if (!axes.has(v)) {
        throw new ShapeError(
          `the expression for ${t.name} uses index ${v}, which is not an axis of ${t.name} (${[...axes].join(', ')}); reduce over it or add it to the output`,
          t.name,
          v,
        );
      }
    }
    if (s.expr.op === 'fold') {
      checkFoldStmt(t, s.expr, checkSizes, (e, bound, scope) => checkExpr(e, t.name, defined, bound, checkSizes, scope));
    } else {
      checkExpr(s.expr, t.name, defined, axes, checkSizes);
    }
    declare(t);
  }
  if (p.outputs.length === 0) throw new ProgramError(`program ${p.name} has no outputs`);
  for (const o of p.outputs) {
    if (!p.stmts.some((s) => s.target.name === o)) throw new ProgramError(`output ${o} is not computed by program ${p.name}`);
  }
}

function checkExpr(
  e: Expr,
  stmt: string,
  defined: ReadonlyMap<string, TensorDecl>,
  bound: ReadonlySet<string>,
  checkSizes: (where: string, e: IntExpr) => void,
  /** Set inside a fold definition, whose parts check their own free variables. */
  fold?: FoldScope,
): void {
  const scoped = (index: readonly IntExpr[]) => {
    if (!fold) return;
    for (const i of index) {
      for (const v of intVars(i)) {
        if (!bound.has(v)) {
          throw new ShapeError(`${fold.what} uses index ${v}, which is not in scope there (${[...bound].join(', ') || 'none'})`, stmt, v);
        }
      }
    }
  };
  switch (e.op) {
    case 'load': {
      scoped(e.index);
      const t = defined.get(e.tensor);
      if (!t) throw new ProgramError(`${stmt} reads ${e.tensor} before it is defined`);
      if (t.axes.length !== e.index.length) {
        throw new ShapeError(`${stmt} indexes ${e.tensor} with ${e.index.length} indices; it has ${t.axes.length} axes`, e.tensor);
      }
      e.index.forEach((i) => checkSizes(`an index of ${e.tensor} in ${stmt}`, i));
      return;
    }
    case 'iota':
      scoped([e.index]);
      checkSizes(`an index expression in ${stmt}`, e.index);
      return;
    case 'state':
      scoped(e.index);
      checkFoldRef(e, stmt, fold);
      return;
    case 'local':
      checkFoldRef(e, stmt, fold);
      return;
    case 'fold':
      throw new ProgramError(`in ${stmt}, a fold is used inside an expression; a fold is only the whole right-hand side of a statement`);
    case 'reduce':
      if (new Set(e.axes.map((a) => a.name)).size !== e.axes.length) {
        throw new ProgramError(`in ${stmt}, a reduction binds the same axis twice (${e.axes.map((a) => a.name).join(', ')})`);
      }
      for (const a of e.axes) {
        if (bound.has(a.name)) {
          throw new ProgramError(`in ${stmt}, reduction axis ${a.name} shadows an index already in scope; rename it`);
        }
        checkSizes(`reduction axis ${a.name} in ${stmt}`, a.size);
      }
      checkExpr(e.body, stmt, defined, new Set([...bound, ...e.axes.map((a) => a.name)]), checkSizes, fold);
      return;
    default:
      for (const c of children(e)) checkExpr(c, stmt, defined, bound, checkSizes, fold);
  }
}

/** Range [lo, hi] an integer expression takes when each variable ranges over [0, size-1]. */
export function intRange(e: IntExpr, ranges: Readonly<Record<string, readonly [number, number]>>): [number, number] {
  switch (e.op) {
    case 'int':
      return [e.value, e.value];
    case 'sym': {
      // a dynamic size inside a kernel: its range is given as the variable `%name`
      const r = Object.hasOwn(ranges, `%${e.name}`) ? ranges[`%${e.name}`] : undefined;
      if (r) return [r[0], r[1]];
      throw new ProgramError(`size ${e.name} is not bound`);
    }
    case 'var': {
      const r = Object.hasOwn(ranges, e.name) ? ranges[e.name] : undefined;
      if (!r) throw new ProgramError(`index variable ${e.name} has no range`);
      return [r[0], r[1]];
    }
    default: {
      const [a0, a1] = intRange(e.a, ranges);
      const [b0, b1] = intRange(e.b, ranges);
      switch (e.op) {
        case 'add':
          return [a0 + b0, a1 + b1];
        case 'sub':
          return [a0 - b1, a1 - b0];
        case 'mul': {
          const c = [a0 * b0, a0 * b1, a1 * b0, a1 * b1];
          return [Math.min(...c), Math.max(...c)];
        }
        case 'floordiv':
          if (b0 <= 0) return [-Infinity, Infinity];
          return [Math.min(Math.floor(a0 / b0), Math.floor(a0 / b1)), Math.max(Math.floor(a1 / b0), Math.floor(a1 / b1))];
        case 'mod':
          if (b0 <= 0) return [-Infinity, Infinity];
          return a0 >= 0 && a1 < b0 ? [a0, a1] : [0, b1 - 1];
        case 'min':
          return [Math.min(a0, b0), Math.min(a1, b1)];
        case 'max':
          return [Math.max(a0, b0), Math.max(a1, b1)];
      }
    }
  }
}

/**
 * With all sizes bound to numbers, checks every axis is at least 1 and every load index stays
 * inside its tensor, naming the tensor and axis that would be read out of range.
 */
export function checkBounds(p: Program): void {
  const env: Record<string, number> = {}; // sizes are already bound: no symbols remain
  const decls = new Map<string, TensorDecl>();
  // a statement's target is declared only after its expression is walked, so it cannot read itself
  const checkDecl = (t: TensorDecl) => {
    t.axes.forEach((a) => {
      const n = evalInt(a.size, env);
      if (n < 1) throw new ShapeError(`axis ${a.name} of ${t.name} has size ${n}; sizes must be at least 1`, t.name, a.name);
    });
    decls.set(t.name, t);
  };
  p.inputs.forEach(checkDecl);
  for (const s of p.stmts) {
    const ranges: Record<string, [number, number]> = {};
    s.target.axes.forEach((a) => (ranges[a.name] = [0, evalInt(a.size, env) - 1]));
    walkBounds(s.expr, { stmt: s, decls, env, ranges });
    checkDecl(s.target);
  }
}

/**
 * What the bounds walk of one statement shares. `ranges` is one record for the whole statement,
 * filled in as the walk meets loop and reduction axes and never unwound: every binder writes its
 * axes before walking the expressions under it, so those see its ranges whatever was there before.
 */
interface BoundsWalk {
  readonly stmt: Stmt;
  readonly decls: ReadonlyMap<string, TensorDecl>;
  readonly env: Readonly<Record<string, number>>;
  readonly ranges: Record<string, [number, number]>;
}

type ExprOf<K extends Expr['op']> = Extract<Expr, { readonly op: K }>;

function walkBounds(e: Expr, w: BoundsWalk): void {
  if (e.op === 'fold') {
    walkFoldBounds(e.def, w);
    return;
  }
  if (e.op === 'state') checkStateBounds(e, w);
  if (e.op === 'reduce') bindRanges(e.axes, 'reduction', w);
  if (e.op === 'load') checkLoadBounds(e, w);
  children(e).forEach((c) => walkBounds(c, w));
}

/** Each part of a fold sees the loop axes and its own field's or output's axes. */
function walkFoldBounds(d: FoldDef, w: BoundsWalk): void {
  bindRanges([...d.outer, ...d.over], 'fold', w);
  d.state.forEach((f, i) => {
    bindRanges(f.axes, `state field ${f.name}:`, w);
    [d.init[i], d.update[i], d.merge[i]].forEach((x) => x && walkBounds(x, w));
  });
  d.locals.forEach((l) => walkBounds(l.expr, w));
  d.outputs.forEach((o) => {
    bindRanges(o.axes, 'fold output', w);
    walkBounds(o.expr, w);
  });
}

/** Gives each axis the range [0, size-1], rejecting an empty axis (`what` names its kind). */
function bindRanges(axes: readonly Axis[], what: string, w: BoundsWalk): void {
  for (const a of axes) {
    const n = evalInt(a.size, w.env);
    if (n < 1) throw new ShapeError(`${what} axis ${a.name} in ${w.stmt.target.name} has size ${n}`, w.stmt.target.name, a.name);
    w.ranges[a.name] = [0, n - 1];
  }
}

function checkStateBounds(e: ExprOf<'state'>, w: BoundsWalk): void {
  // a state read only occurs inside a fold, which is always a statement's whole expression
  const f = (w.stmt.expr.op === 'fold' ? w.stmt.expr.def.state.find((x) => x.name === e.field) : undefined)!;
  const target = w.stmt.target.name;
  e.index.forEach((ix, k) => {
    const [lo, hi] = intRange(ix, w.ranges);
    const n = evalInt(f.axes[k]!.size, w.env);
    if (lo < 0 || hi > n - 1) {
      throw new ShapeError(
        `${target} reads state field ${e.field} out of range on axis ${f.axes[k]!.name}: index ${printInt(ix)} spans [${lo}, ${hi}] but the axis has size ${n}`,
        target,
        f.axes[k]!.name,
      );
    }
  });
}

function checkLoadBounds(e: ExprOf<'load'>, w: BoundsWalk): void {
  const t = w.decls.get(e.tensor)!;
  e.index.forEach((ix, k) => {
    const [lo, hi] = intRange(ix, w.ranges);
    const n = evalInt(t.axes[k]!.size, w.env);
    if (lo < 0 || hi > n - 1) {
      const axis = t.axes[k]!.name;
      throw new ShapeError(
        `${w.stmt.target.name} reads ${e.tensor} out of range on axis ${axis}: index ${printInt(ix)} spans [${lo}, ${hi}] but ${axis} has size ${n} (in ${printExpr(e)})`,
        e.tensor,
        axis,
      );
    }
  });
}
