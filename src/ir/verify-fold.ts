import { DTypeError, ProgramError, ShapeError } from './errors.js';
import type { IntExpr } from './intexpr.js';
import { type Axis, type Expr, type FoldDef, type TensorDecl, foldAxes } from './tensor.js';

/** Which part of a fold definition an expression belongs to: what it may read. */
export interface FoldScope {
  readonly def: FoldDef;
  readonly part: 'init' | 'local' | 'update' | 'merge' | 'output';
  /** How many locals are visible (the earlier ones, for a local; all of them, for an update). */
  readonly locals: number;
  /** The field (init, update, merge) or output the expression computes, for messages. */
  readonly what: string;
}

type CheckPart = (e: Expr, bound: ReadonlySet<string>, scope: FoldScope) => void;

/**
 * Checks the structure of a fold statement `t = fold(def).output k`: the state fields, the parts'
 * counts and dtypes, the target's axes, and the variables each part may use. The parts' own
 * expressions are walked by `checkPart` with the index variables in scope and the scope of the part.
 */
export function checkFoldStmt(
  t: TensorDecl,
  e: Extract<Expr, { op: 'fold' }>,
  checkSizes: (where: string, e: IntExpr) => void,
  checkPart: CheckPart,
): void {
  const d = e.def;
  const at = `the fold computing ${t.name}`;
  if (d.kind === 'scan' && d.over.length !== 1) {
    throw new ProgramError(`${at} is a scan, which runs over exactly one axis; it has ${d.over.length} (${names(d.over)})`);
  }
  if (d.over.length === 0) throw new ProgramError(`${at} runs over no axes`);
  const loops = uniqueAxes([...d.outer, ...d.over], t.name, `${at}: its outer and step axes`);
  for (const a of [...d.outer, ...d.over]) checkSizes(`axis ${a.name} of ${at}`, a.size);

  const fields = new Set<string>();
  for (const f of d.state) {
    if (fields.has(f.name)) throw new ProgramError(`${at} has two state fields named ${f.name}`);
    fields.add(f.name);
    uniqueAxes(f.axes, t.name, `state field ${f.name} of ${at}`, loops);
    for (const a of f.axes) checkSizes(`axis ${a.name} of state field ${f.name}`, a.size);
  }
  const count = (part: string, n: number) => {
    if (n !== d.state.length) {
      throw new ProgramError(`${at} has ${d.state.length} state fields (${d.state.map((f) => f.name).join(', ')}) but ${n} ${part} expressions`);
    }
  };
  count('init', d.init.length);
  count('update', d.update.length);
  count('merge', d.merge.length);
  const localNames = new Set<string>();
  for (const l of d.locals) {
    if (localNames.has(l.name) || fields.has(l.name)) throw new ProgramError(`${at} names two of its state fields or locals ${l.name}`);
    localNames.add(l.name);
  }

  const k = d.outputs[e.output];
  if (!k) throw new ProgramError(`${t.name} reads output ${e.output} of a fold with ${d.outputs.length} outputs`);
  if (e.dtype !== k.expr.dtype) throw new DTypeError(`${t.name} has dtype ${e.dtype} but fold output ${e.output} has ${k.expr.dtype}`, t.name);
  const want = foldAxes(d, e.output).map((a) => a.name);
  const got = t.axes.map((a) => a.name);
  if (want.join() !== got.join()) {
    const axis = got.find((a, i) => a !== want[i]) ?? want[got.length];
    throw new ShapeError(
      `${t.name} has axes (${got.join(', ')}) but fold output ${e.output} is indexed by (${want.join(', ')}): outer axes, ${d.kind === 'scan' ? 'the scanned axis, ' : ''}then the output's own`,
      t.name,
      axis,
    );
  }

  const outer = d.outer.map((a) => a.name);
  const over = d.over.map((a) => a.name);
  d.state.forEach((f, i) => {
    const own = f.axes.map((a) => a.name);
    const what = `state field ${f.name} of ${at}`;
    const typed = (part: string, x: Expr) => {
      if (x.dtype !== f.dtype) throw new DTypeError(`the ${part} of ${what} has dtype ${x.dtype}; the field is ${f.dtype}`, t.name);
    };
    typed('init', d.init[i]!);
    typed('update', d.update[i]!);
    typed('merge', d.merge[i]!);
    checkPart(d.init[i]!, new Set([...outer, ...own]), { def: d, part: 'init', locals: 0, what: `the init of ${what}` });
    checkPart(d.update[i]!, new Set([...outer, ...over, ...own]), { def: d, part: 'update', locals: d.locals.length, what: `the update of ${what}` });
    checkPart(d.merge[i]!, new Set([...outer, ...own]), { def: d, part: 'merge', locals: 0, what: `the merge of ${what}` });
  });
  d.locals.forEach((l, i) => {
    checkPart(l.expr, new Set([...outer, ...over]), { def: d, part: 'local', locals: i, what: `local ${l.name} of ${at}` });
  });
  d.outputs.forEach((o, i) => {
    // a scan's output is indexed by the step too, so it may read inputs at the step
    const own = uniqueAxes(o.axes, t.name, `output ${i} of ${at}`, new Set(d.kind === 'scan' ? [...outer, ...over] : outer));
    for (const a of o.axes) checkSizes(`axis ${a.name} of output ${i} of ${at}`, a.size);
    const vars = new Set([...outer, ...(d.kind === 'scan' ? over : []), ...own]);
    checkPart(o.expr, vars, { def: d, part: 'output', locals: 0, what: `output ${i} of ${at}` });
  });
}

/** Checks a `state` or `local` read against the part of the fold it is in. */
export function checkFoldRef(e: Extract<Expr, { op: 'state' | 'local' }>, stmt: string, scope: FoldScope | undefined): void {
  if (!scope) throw new ProgramError(`${stmt} reads ${e.op} ${e.op === 'state' ? e.field : e.name} outside a fold definition`);
  const d = scope.def;
  if (e.op === 'state') {
    const f = d.state.find((x) => x.name === e.field);
    if (!f) throw new ProgramError(`${scope.what} reads state field ${e.field}, which the fold does not have (${d.state.map((x) => x.name).join(', ')})`);
    if (scope.part === 'init') throw new ProgramError(`${scope.what} reads state field ${e.field}; an init cannot read the state it starts`);
    if (e.of === 'other' && scope.part !== 'merge') {
      throw new ProgramError(`${scope.what} reads ${e.field}' (the other partial state), which only a merge has`);
    }
    if (e.index.length !== f.axes.length) {
      throw new ShapeError(`${scope.what} indexes state field ${e.field} with ${e.index.length} indices; it has ${f.axes.length} axes`, stmt, e.field);
    }
    if (e.dtype !== f.dtype) throw new DTypeError(`${scope.what} reads state field ${e.field} as ${e.dtype}; it is ${f.dtype}`, stmt);
    return;
  }
  const k = d.locals.findIndex((l) => l.name === e.name);
  if (k < 0) throw new ProgramError(`${scope.what} reads local ${e.name}, which the fold does not have`);
  if (scope.part !== 'local' && scope.part !== 'update') {
    // outputs finalize a state, which may come from a merge: no step's locals are there
    throw new ProgramError(`${scope.what} reads local ${e.name}; only locals and updates may (an ${scope.part} sees no step)`);
  }
  if (k >= scope.locals) throw new ProgramError(`${scope.what} reads local ${e.name}, which is not computed before it`);
  if (d.locals[k]!.expr.dtype !== e.dtype) throw new DTypeError(`${scope.what} reads local ${e.name} as ${e.dtype}; it is ${d.locals[k]!.expr.dtype}`, stmt);
}

function names(axes: readonly Axis[]): string {
  return axes.map((a) => a.name).join(', ') || 'none';
}

/** The axis names, checked distinct among themselves and from `taken`. */
function uniqueAxes(axes: readonly Axis[], tensor: string, what: string, taken: ReadonlySet<string> = new Set()): Set<string> {
  const seen = new Set<string>();
  for (const a of axes) {
    if (seen.has(a.name) || taken.has(a.name)) throw new ShapeError(`${what} uses axis name ${a.name} twice; rename one`, tensor, a.name);
    seen.add(a.name);
  }
  return seen;
}
