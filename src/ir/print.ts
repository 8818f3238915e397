import { assertNever } from './errors.js';
import { printInt } from './intexpr.js';
import type { Axis, Expr, FoldDef, Program, Stmt, TensorDecl } from './tensor.js';

const INFIX: Partial<Record<string, [string, number]>> = {
  add: ['+', 1],
  sub: ['-', 1],
  mul: ['*', 2],
  div: ['/', 2],
  lt: ['<', 0],
  le: ['<=', 0],
  gt: ['>', 0],
  ge: ['>=', 0],
  eq: ['==', 0],
  ne: ['!=', 0],
};

export const printAxes = (axes: readonly Axis[]): string =>
  axes.map((a) => `${a.name}: ${printInt(a.size)}`).join(', ');

export const printDecl = (t: TensorDecl): string => `${t.name}: ${t.dtype}[${printAxes(t.axes)}]`;

/** Readable index notation: `exp(X[i, j] - m[i]) / s[i]`. */
export function printExpr(e: Expr, outer = 0): string {
  switch (e.op) {
    case 'const':
      return e.dtype === 'f32' || e.dtype === 'bool' ? formatNumber(e.value) : `${formatNumber(e.value)}:${e.dtype}`;
    case 'load':
      return e.index.length === 0 ? e.tensor : `${e.tensor}[${e.index.map((i) => printInt(i)).join(', ')}]`;
    case 'iota':
      return `index<${e.dtype}>(${printInt(e.index)})`;
    case 'unary':
      return e.fn === 'neg' ? `-${printExpr(e.x, 3)}` : `${e.fn}(${printExpr(e.x)})`;
    case 'binary':
    case 'compare': {
      const infix = INFIX[e.fn];
      if (!infix) return `${e.fn}(${printExpr(e.a)}, ${printExpr(e.b)})`;
      const [sym, p] = infix;
      const s = `${printExpr(e.a, p)} ${sym} ${printExpr(e.b, p + 1)}`;
      return p < outer || (p === 0 && outer > 0) ? `(${s})` : s;
    }
    case 'select':
      return `select(${printExpr(e.cond)}, ${printExpr(e.a)}, ${printExpr(e.b)})`;
    case 'cast':
      return `${e.dtype}(${printExpr(e.x)})`;
    case 'reduce':
      return `${e.fn}[${printAxes(e.axes)}](${printExpr(e.body)})`;
    case 'fold':
      return `${printFoldDef(e.def)}.${e.output}`;
    case 'state': {
      const name = e.of === 'other' ? `${e.field}'` : e.field;
      return e.index.length === 0 ? name : `${name}[${e.index.map((i) => printInt(i)).join(', ')}]`;
    }
    case 'local':
      return e.name;
    default:
      return assertNever(e, 'expr op');
  }
}

/**
 * A fold definition in the text language's block form, on one line: the state fields with their
 * inits, the locals, the updates (`<-`), the merges (`m'` is the other partial state) and the
 * outputs by number (the statements name them).
 */
export function printFoldDef(d: FoldDef): string {
  const axes = (xs: readonly Axis[]) => (xs.length ? `[${printAxes(xs)}]` : '');
  const parts = [
    ...d.state.map((f, i) => `state ${f.name}${axes(f.axes)}: ${f.dtype} = ${printExpr(d.init[i]!)}`),
    ...d.locals.map((l) => `${l.name} = ${printExpr(l.expr)}`),
    ...d.state.map((f, i) => `${f.name} <- ${printExpr(d.update[i]!)}`),
    ...d.state.map((f, i) => `merge ${f.name} = ${printExpr(d.merge[i]!)}`),
    ...d.outputs.map((o, i) => `output ${i}${axes(o.axes)} = ${printExpr(o.expr)}`),
  ];
  const outer = d.outer.length ? ` outer ${printAxes(d.outer)}` : '';
  return `${d.kind} over ${printAxes(d.over)}${outer} { ${parts.join('; ')} }`;
}

export function printStmt(s: Stmt): string {
  return `${s.target.name}[${printAxes(s.target.axes)}]: ${s.target.dtype} = ${printExpr(s.expr)}`;
}

export function printProgram(p: Program): string {
  const dyn = p.dynamic ?? {};
  const sizes = p.sizes.map((s) => (Object.hasOwn(dyn, s) ? `${s} <= ${dyn[s]}` : s));
  const lines = [`program ${p.name}(${sizes.join(', ')})`];
  for (const t of p.inputs) lines.push(`  in  ${printDecl(t)}`);
  for (const s of p.stmts) lines.push(`  ${p.outputs.includes(s.target.name) ? 'out ' : '    '}${printStmt(s)}`);
  return lines.join('\n');
}

function formatNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  return String(v);
}
