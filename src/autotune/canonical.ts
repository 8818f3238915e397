import { type Sizes } from '../ir/bind.js';
import { type IntExpr, intSyms } from '../ir/intexpr.js';
import { type Axis, type Expr, type FoldDef, type Program, type TensorDecl, children, foldExprs, mapIndices, withChildren, withFoldExprs } from '../ir/tensor.js';

/**
 * The form of a program that tuning results are keyed by: the same program with its axis and
 * size names replaced by positional ones (`%a0`, `%s0`, ...), so renaming `m, k, n` to `i, k, j`
 * or `M` to `Rows` finds the schedule tuned for the other spelling. Sizes are numbered in the order
 * a structural walk first meets them (not the order they are declared in); axes are numbered per
 * statement, each binder (a reduction's axes, a fold's axes) taking fresh numbers in scope, so
 * only what the names refer to counts. Tensor names stay: they are how a caller binds data, and
 * the program's name and constraint descriptions go, being words for people. The result is only
 * hashed, never lowered.
 */
export interface CanonicalProgram {
  readonly program: Program;
  /** The program's size names to their canonical names. */
  readonly sizeNames: Readonly<Record<string, string>>;
}

export function canonicalProgram(p: Program): CanonicalProgram {
  const sizeNames = Object.fromEntries(sizeOrder(p).map((s, i) => [s, `%s${i}`]));
  const syms = (e: IntExpr) => renameInt(e, {}, sizeNames);
  const decl = (t: TensorDecl): TensorDecl => ({ ...t, axes: t.axes.map((a, i) => ({ name: `%a${i}`, size: syms(a.size) })) });
  const program: Program = {
    name: '',
    sizes: p.sizes.map((s) => sizeNames[s]!).sort(byNumber),
    inputs: p.inputs.map(decl),
    stmts: p.stmts.map((s) => {
      const scope = statementScope(s.target.axes, sizeNames);
      return { target: { ...s.target, axes: s.target.axes.map((a) => scope.axis(a)) }, expr: canonExpr(s.expr, scope) };
    }),
    outputs: p.outputs,
    constraints: p.constraints.map((c) => ({ a: syms(c.a), b: syms(c.b), what: '' })),
    // a dynamic size is part of what the program is (static programs keep their keys: no field)
    ...(p.dynamic && Object.keys(p.dynamic).length
      ? { dynamic: Object.fromEntries(Object.entries(p.dynamic).map(([s, max]) => [sizeNames[s]!, max])) }
      : {}),
  };
  return { program, sizeNames };
}

/** Sizes under their canonical names (those the program does not have are left out). */
export function canonicalSizes(c: CanonicalProgram, sizes: Sizes): Sizes {
  return Object.fromEntries(Object.entries(sizes).flatMap(([k, v]) => (Object.hasOwn(c.sizeNames, k) ? [[c.sizeNames[k]!, v]] : [])));
}

const byNumber = (a: string, b: string) => Number(a.slice(2)) - Number(b.slice(2));

/** Size names in the order a walk over inputs, statements and constraints first meets them; unused ones last, as declared. */
function sizeOrder(p: Program): string[] {
  const seen = new Set<string>();
  const meet = (e: IntExpr) => {
    intSyms(e, seen);
    return e;
  };
  for (const t of [...p.inputs, ...p.stmts.map((s) => s.target)]) t.axes.forEach((a) => meet(a.size));
  for (const s of p.stmts) mapIndices(s.expr, meet);
  for (const c of p.constraints) [c.a, c.b].forEach(meet);
  return [...seen, ...p.sizes.filter((s) => !seen.has(s))].filter((s) => p.sizes.includes(s));
}

/** Names in scope for one statement: its axes, then each binder's, numbered as met. */
interface Scope {
  readonly vars: Readonly<Record<string, string>>;
  /** An axis with its name and size renamed in this scope. */
  axis(a: Axis): Axis;
  int(e: IntExpr): IntExpr;
  /** A scope in which `names` are bound afresh (those already bound keep their names when `reuse`). */
  bind(names: readonly string[], reuse: boolean): Scope;
}

function statementScope(axes: readonly Axis[], sizes: Readonly<Record<string, string>>): Scope {
  let next = 0;
  return makeScope({}, sizes, () => `%a${next++}`).bind(
    axes.map((a) => a.name),
    false,
  );
}

function makeScope(vars: Readonly<Record<string, string>>, sizes: Readonly<Record<string, string>>, fresh: () => string): Scope {
  return {
    vars,
    int: (e) => renameInt(e, vars, sizes),
    axis: (a) => ({ name: vars[a.name] ?? a.name, size: renameInt(a.size, vars, sizes) }),
    bind: (names, reuse) => {
      const inner: Record<string, string> = { ...vars };
      for (const n of new Set(names)) if (!(reuse && Object.hasOwn(vars, n))) inner[n] = fresh();
      return makeScope(inner, sizes, fresh);
    },
  };
}

function canonExpr(e: Expr, scope: Scope): Expr {
  switch (e.op) {
    case 'reduce': {
      const inner = scope.bind(
        e.axes.map((a) => a.name),
        false,
      );
      return { ...e, axes: e.axes.map((a) => ({ name: inner.vars[a.name]!, size: scope.int(a.size) })), body: canonExpr(e.body, inner) };
    }
    case 'fold':
      return { ...e, def: canonFold(e.def, scope) };
    default: {
      const kids = children(e);
      // leaves carry the indices (loads, iotas, state reads); inner nodes only pass the scope on
      return kids.length === 0 ? mapIndices(e, (i) => scope.int(i)) : withChildren(e, kids.map((c) => canonExpr(c, scope)));
    }
  }
}

/**
 * A fold's axes: outer (and a scan's) axes index the node, so they take the statement's names
 * where it has them; the others (the steps, state field and output axes) are bound afresh.
 * State field and local names are the definition's own and stay.
 */
function canonFold(d: FoldDef, scope: Scope): FoldDef {
  const axes = [...d.outer, ...d.over, ...d.state.flatMap((s) => s.axes), ...d.outputs.flatMap((o) => o.axes)];
  const inner = scope.bind(
    axes.map((a) => a.name),
    true,
  );
  const rename = (xs: readonly Axis[]) => xs.map((a) => inner.axis(a));
  const body = withFoldExprs(d, foldExprs(d).map((x) => canonExpr(x, inner)));
  return {
    ...body,
    outer: rename(d.outer),
    over: rename(d.over),
    state: d.state.map((s) => ({ ...s, axes: rename(s.axes) })),
    outputs: body.outputs.map((o, k) => ({ ...o, axes: rename(d.outputs[k]!.axes) })),
  };
}

/** Renames index variables and size symbols (each by its own map) without simplifying. */
function renameInt(e: IntExpr, vars: Readonly<Record<string, string>>, syms: Readonly<Record<string, string>>): IntExpr {
  switch (e.op) {
    case 'int':
      return e;
    case 'var':
      return Object.hasOwn(vars, e.name) ? { op: 'var', name: vars[e.name]! } : e;
    case 'sym':
      return Object.hasOwn(syms, e.name) ? { op: 'sym', name: syms[e.name]! } : e;
    default:
      return { ...e, a: renameInt(e.a, vars, syms), b: renameInt(e.b, vars, syms) };
  }
}
