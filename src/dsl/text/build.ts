import { DTYPES, type DType, isDType } from '../../ir/dtype.js';
import { DTypeError, ProgramError, ShapeError, TilecraftError } from '../../ir/errors.js';
import { type IntBinOp, type IntExpr, ibin, int, sym } from '../../ir/intexpr.js';
import type { Program } from '../../ir/tensor.js';
import { dot, gelu, geluTanh, layernorm, logSoftmax, rmsnorm, silu, softmax } from '../ops.js';
import type { FieldSpec, FoldSpec } from '../fold.js';
import { ProgramBuilder } from '../program.js';
import type { Dt, FloatDt, Tensor } from '../tensor.js';
import type { Arg, BinaryOp, CompareOp, Ex, FoldAst, FoldItem, Ident, ProgramAst, SizedAxis, Span, StmtAst, ViewEntry } from './ast.js';
import { TextDslError } from './errors.js';

/**
 * Builds a tensor-IR program from a syntax tree by driving the TypeScript DSL's ProgramBuilder and
 * Tensor methods, in source order, exactly as a TypeScript author would: so both front ends give
 * the same IR (same fresh reduction names, same labels), and every shape and dtype check is the
 * DSL's own. Each DSL call runs under the span of the construct that made it, so a ShapeError,
 * DTypeError or ProgramError comes out as a TextDslError at that line and column.
 */

type T = Tensor<Dt, string>;

/**
 * A value in an expression. Numbers and sizes have no dtype of their own: like numbers in the
 * TypeScript DSL, they take the dtype of the tensor they meet (`X - 8`, `X / D`), and a cast gives
 * them one (`f32(D)`). Between themselves, numbers fold and sizes stay integer expressions.
 */
type Val = { readonly k: 'tensor'; readonly t: T } | { readonly k: 'number'; readonly v: number } | { readonly k: 'size'; readonly s: IntExpr };

interface Binding {
  readonly val: Val;
  readonly span: Span;
  readonly what: 'size' | 'input' | 'let' | 'output' | 'alias';
}

export interface SourceText {
  readonly file: string;
  readonly source: string;
}

type ArithFn = 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'pow' | 'max' | 'min';
type CompareFn = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';

const BINARY_OPS: Record<BinaryOp, ArithFn> = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod' };
const COMPARE_OPS: Record<CompareOp, CompareFn> = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne' };
/** Size arithmetic is integer arithmetic: `/` floors, as `idiv` does in the TypeScript DSL. */
const INT_OPS: Partial<Record<ArithFn, IntBinOp>> = { add: 'add', sub: 'sub', mul: 'mul', div: 'floordiv', mod: 'mod', max: 'max', min: 'min' };

const UNARY = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'floor', 'ceil', 'sin', 'cos', 'recip'] as const;
type UnaryName = (typeof UNARY)[number];
const ACTIVATIONS: Readonly<Record<string, (x: Tensor<FloatDt, string>) => T>> = { gelu, gelu_tanh: geluTanh, silu };
const REDUCTIONS = ['sum', 'max', 'min', 'mean'] as const;
type ReductionName = (typeof REDUCTIONS)[number];

/** Every function name, for "did you mean" and for names that may not be redefined as dtype parameters. */
const FUNCTIONS: readonly string[] = [
  ...UNARY,
  ...Object.keys(ACTIVATIONS),
  'sum', 'max', 'min', 'mean', 'pow', 'where', 'select', 'index',
  'softmax', 'logsoftmax', 'layernorm', 'rmsnorm', 'dot',
];


export function buildProgram(ast: ProgramAst, src: SourceText, dtypes: Readonly<Record<string, string>>): Program {
  return new ProgramEvaluator(ast, src).run(dtypes);
}

class ProgramEvaluator {
  private readonly p: ProgramBuilder;
  private readonly env = new Map<string, Binding>();
  private readonly dtypeParams = new Map<string, DType>();
  /** In a fold's merge block: the other partial state's fields (`m'`). */
  private other: ReadonlyMap<string, T> | undefined;

  constructor(
    private readonly ast: ProgramAst,
    private readonly src: SourceText,
  ) {
    this.p = this.at(ast.name.span, () => new ProgramBuilder(ast.name.name));
  }

  run(dtypes: Readonly<Record<string, string>>): Program {
    for (const tp of this.ast.typeParams) {
      this.declareDtypeParam(tp.name, tp.fallback, Object.hasOwn(dtypes, tp.name.name) ? dtypes[tp.name.name] : undefined);
    }
    for (const s of this.ast.sizes) {
      this.checkNewName(s);
      this.at(s.span, () => this.p.size(s.name));
      this.env.set(s.name, { val: { k: 'size', s: sym(s.name) }, span: s.span, what: 'size' });
    }
    for (const d of this.ast.dynamic) {
      if (!Number.isSafeInteger(d.max.value) || d.max.value < 1) {
        this.fail(`the bound of dynamic size ${d.size.name} must be a positive integer, got ${d.max.value}`, d.max.span);
      }
      this.at(d.max.span, () => this.p.dynamic(sym(d.size.name), d.max.value));
    }
    for (const s of this.ast.stmts) this.stmt(s);
    try {
      return this.p.build();
    } catch (e) {
      // the verifier names the tensor at fault; point at the statement that defined it
      const tensor = e instanceof ShapeError || e instanceof DTypeError || e instanceof ProgramError ? e.tensor : undefined;
      const def = tensor === undefined ? undefined : this.env.get(tensor);
      throw this.located(e, def?.span ?? this.ast.name.span);
    }
  }

  // -- statements -------------------------------------------------------------------------------

  private stmt(s: StmtAst): void {
    switch (s.k) {
      case 'input': {
        this.checkNewName(s.name);
        const dtype = this.dtype(s.dtype);
        const axes = this.sizedAxes(s.axes, `input ${s.name.name}`);
        const t = this.at(s.name.span, () => this.p.input(s.name.name, dtype, axes), s.axes.map((a) => a.name));
        this.bind(s.name, { k: 'tensor', t }, 'input');
        return;
      }
      case 'bind':
        this.checkNewName(s.name);
        this.bind(s.name, this.value(s.value), 'alias');
        return;
      case 'fold':
        this.fold(s);
        return;
      case 'let':
      case 'output': {
        this.checkNewName(s.name);
        let t = this.tensor(this.value(s.value), s.value.span, `${s.k} ${s.name.name}`);
        const order = s.order;
        if (order) t = this.at(order.span, () => t.permute(...order.axes.map((a) => a.name)), order.axes);
        const stored = t;
        const out = this.at(s.name.span, () => (s.k === 'let' ? this.p.let(s.name.name, stored) : this.p.output(s.name.name, stored)));
        this.bind(s.name, { k: 'tensor', t: out }, s.k);
        return;
      }
    }
  }

  // -- folds ------------------------------------------------------------------------------------

  /**
   * `fold over j: M { state ...; step { ... } merge { ... } output ... }` drives `p.fold` (or
   * `p.scan`): the step and merge blocks run as its callbacks with the state's fields bound to the
   * DSL's state tensors, so the IR is the one the TypeScript form builds.
   */
  private fold(s: FoldAst): void {
    const states = s.items.filter((i): i is Extract<FoldItem, { k: 'state' }> => i.k === 'state');
    const block = (k: 'step' | 'merge') => {
      const found = s.items.filter((i): i is Extract<FoldItem, { k: 'step' | 'merge' }> => i.k === k);
      if (found.length !== 1) this.fail(`a ${s.kind} needs exactly one ${k} block, got ${found.length}`, found[1]?.span ?? s.span);
      return found[0]!;
    };
    const step = block('step');
    const merge = block('merge');
    const results = s.items.filter((i): i is Extract<FoldItem, { k: 'let' | 'output' }> => i.k === 'let' || i.k === 'output');
    if (results.length === 0) this.fail(`a ${s.kind} needs at least one output or let giving its result`, s.span);
    const over = this.sizedAxes(s.over, `the ${s.kind}`);
    const fields: Record<string, FieldSpec> = Object.create(null) as Record<string, FieldSpec>;
    for (const f of states) {
      this.checkNewName(f.name);
      if (f.name.name in fields) this.fail(`state field ${f.name.name} is declared twice`, f.name.span);
      const dtype = this.dtype(f.dtype);
      const axes = this.sizedAxes(f.axes, `state field ${f.name.name}`);
      const v = this.value(f.init);
      const init = v.k === 'number' ? v.v : v.k === 'tensor' ? v.t : this.at(f.init.span, () => this.p.value(v.s, dtype));
      fields[f.name.name] = { dtype, axes, init };
    }
    for (const r of results) {
      this.checkNewName(r.name);
      if (r.order) this.fail(`a ${s.kind}'s results are stored in its own axis order (outer axes, then the result's own)`, r.order.span);
    }
    const spec: FoldSpec<Record<string, FieldSpec>, Record<string, T>> = {
      over,
      state: fields,
      step: (self, local) =>
        this.scoped(self, undefined, () => this.blockValues(step, fields, (name, t) => this.at(name.span, () => local(name.name, t)))),
      merge: (a, b) => this.scoped(a, b, () => this.blockValues(merge, fields, (_name, t) => t)),
      outputs: (self) =>
        this.scoped(self, undefined, () => {
          const out: Record<string, T> = Object.create(null) as Record<string, T>;
          for (const r of results) out[r.name.name] = this.tensor(this.value(r.value), r.value.span, `${s.kind} result ${r.name.name}`);
          return out;
        }),
    };
    const made = this.at(s.span, () => (s.kind === 'fold' ? this.p.fold(spec) : this.p.scan(spec)), s.over.map((a) => a.name));
    for (const r of results) {
      const t = made[r.name.name]!;
      const out = r.k === 'output' ? this.at(r.name.span, () => this.p.output(r.name.name, t)) : t;
      this.bind(r.name, { k: 'tensor', t: out }, r.k);
    }
  }

  /** Runs `f` with the state's fields bound by name (and the other state's as `m'`), then unbinds them. */
  private scoped<R>(self: Readonly<Record<string, T>>, other: Readonly<Record<string, T>> | undefined, f: () => R): R {
    const saved = new Map(this.env);
    const savedOther = this.other;
    for (const [name, t] of Object.entries(self)) this.env.set(name, { val: { k: 'tensor', t }, span: { start: 0, end: 0 }, what: 'alias' });
    this.other = other ? new Map(Object.entries(other)) : undefined;
    try {
      return f();
    } finally {
      this.env.clear();
      for (const [k, v] of saved) this.env.set(k, v);
      this.other = savedOther;
    }
  }

  /** The field values a step or merge block assigns (`m <- ...`), binding its other names as it goes. */
  private blockValues(
    b: Extract<FoldItem, { k: 'step' | 'merge' }>,
    fields: Readonly<Record<string, FieldSpec>>,
    named: (name: Ident, t: T) => T,
  ): Record<string, T | number> {
    const out: Record<string, T | number> = Object.create(null) as Record<string, T | number>;
    for (const item of b.items) {
      const v = this.value(item.value);
      if (item.k === 'bind') {
        this.checkNewName(item.name);
        this.bind(item.name, v.k === 'tensor' ? { k: 'tensor', t: named(item.name, v.t) } : v, 'alias');
        continue;
      }
      const f = fields[item.name.name];
      if (!f) this.fail(`${item.name.name} is not a state field (${Object.keys(fields).join(', ')}); name a value with =`, item.name.span);
      if (item.name.name in out) this.fail(`state field ${item.name.name} is given twice in this ${b.k} block`, item.name.span);
      out[item.name.name] = v.k === 'size' ? this.at(item.value.span, () => this.p.value(v.s, f.dtype as DType)) : v.k === 'number' ? v.v : v.t;
    }
    for (const name of Object.keys(fields)) {
      if (!(name in out)) this.fail(`the ${b.k} block gives no value for state field ${name}; add ${name} <- ...`, b.span);
    }
    return out;
  }

  private bind(name: Ident, val: Val, what: Binding['what']): void {
    this.env.set(name.name, { val, span: name.span, what });
  }

  private checkNewName(id: Ident): void {
    const prev = this.env.get(id.name);
    if (prev) {
      const { line } = this.lineOf(prev.span.start);
      const as = { alias: 'a name', size: 'a size', input: 'an input', let: 'a let', output: 'an output' }[prev.what];
      this.fail(`${id.name} is already defined, as ${as} on line ${line}; choose another name`, id.span);
    }
    if (this.dtypeParams.has(id.name)) this.fail(`${id.name} is the program's dtype parameter; choose another name`, id.span);
  }


  private declareDtypeParam(name: Ident, fallback: Ident | undefined, given: string | undefined): void {
    if (isDType(name.name) || FUNCTIONS.includes(name.name)) {
      this.fail(`${name.name} names a ${isDType(name.name) ? 'dtype' : 'function'}; give the dtype parameter another name, e.g. T`, name.span);
    }
    if (this.dtypeParams.has(name.name)) this.fail(`dtype parameter ${name.name} is declared twice`, name.span);
    if (fallback && !isDType(fallback.name)) {
      this.fail(`unknown dtype ${fallback.name}; dtypes are ${DTYPES.join(', ')}${suggest(fallback.name, DTYPES)}`, fallback.span);
    }
    const chosen = given ?? fallback?.name;
    if (chosen === undefined) {
      this.fail(`dtype parameter ${name.name} has no default; give one (<${name.name} = f32>) or pass it, e.g. { dtypes: { ${name.name}: 'f32' } }`, name.span);
    }
    if (!isDType(chosen)) this.fail(`dtype parameter ${name.name} was given ${JSON.stringify(chosen)}; dtypes are ${DTYPES.join(', ')}`, name.span);
    this.dtypeParams.set(name.name, chosen);
  }

  private dtype(id: Ident): DType {
    const d = this.dtypeOrUndefined(id.name);
    if (d === undefined) {
      const known = [...DTYPES, ...this.dtypeParams.keys()];
      this.fail(`unknown dtype ${id.name}; dtypes are ${known.join(', ')}${suggest(id.name, known)}`, id.span);
    }
    return d;
  }

  private dtypeOrUndefined(name: string): DType | undefined {
    return isDType(name) ? name : this.dtypeParams.get(name);
  }

  /** `[i: N, j: D]` as a record the DSL takes (no prototype, so any axis name is a plain key). */
  private sizedAxes(axes: readonly SizedAxis[], where: string): Record<string, IntExpr> {
    const out: Record<string, IntExpr> = Object.create(null) as Record<string, IntExpr>;
    for (const a of axes) {
      if (a.name.name in out) this.fail(`${where} names axis ${a.name.name} twice`, a.name.span);
      out[a.name.name] = this.size(a.size);
    }
    return out;
  }

  // -- sizes ------------------------------------------------------------------------------------

  /** An integer expression over size names: axis sizes, slice bounds, positions. */
  private size(e: Ex): IntExpr {
    switch (e.k) {
      case 'number':
        if (!Number.isInteger(e.value)) this.fail(`sizes and positions are integers, got ${e.value}`, e.span);
        return this.at(e.span, () => int(e.value));
      case 'name': {
        const b = this.env.get(e.id.name);
        if (b?.val.k === 'size') return b.val.s;
        if (b?.val.k === 'number' && Number.isInteger(b.val.v)) return this.at(e.span, () => int((b.val as { v: number }).v));
        if (b) this.fail(`${e.id.name} is a ${b.val.k === 'tensor' ? 'tensor' : 'non-integer number'}, not a size`, e.span);
        const sizes = this.ast.sizes.map((s) => s.name);
        return this.fail(
          `unknown size ${e.id.name}; program ${this.ast.name.name} declares ${sizes.length ? sizes.join(', ') : 'no sizes'}${suggest(e.id.name, sizes)}`,
          e.span,
        );
      }
      case 'neg':
        return this.at(e.op, () => ibin('sub', 0, this.size(e.x)));
      case 'binary': {
        const a = this.size(e.a);
        const b = this.size(e.b);
        return this.at(e.op, () => ibin(INT_OPS[BINARY_OPS[e.fn]]!, a, b));
      }
      case 'call':
        if ((e.fn.name === 'max' || e.fn.name === 'min') && e.axes === undefined && e.args.length === 2 && e.args.every((a) => !a.key)) {
          const [a, b] = e.args.map((x) => this.size(x.value)) as [IntExpr, IntExpr];
          return this.at(e.fn.span, () => ibin(e.fn.name as 'max' | 'min', a, b));
        }
        break;
      case 'compare':
      case 'view':
      case 'other':
        break;
    }
    return this.fail('expected a size: integers and size names with + - * / % ( ) min max', e.span);
  }

  // -- values -----------------------------------------------------------------------------------

  private value(e: Ex): Val {
    switch (e.k) {
      case 'number':
        return { k: 'number', v: e.value };
      case 'name':
        return this.lookup(e.id);
      case 'neg': {
        const x = this.value(e.x);
        if (x.k === 'number') return { k: 'number', v: -x.v };
        if (x.k === 'size') return { k: 'size', s: this.at(e.op, () => ibin('sub', 0, x.s)) };
        return { k: 'tensor', t: this.at(e.op, () => x.t.neg()) };
      }
      case 'binary': {
        const a = this.value(e.a);
        const b = this.value(e.b);
        return this.arith(BINARY_OPS[e.fn], a, b, e.op);
      }
      case 'compare': {
        const a = this.value(e.a);
        const b = this.value(e.b);
        return this.compare(COMPARE_OPS[e.fn], a, b, e.op);
      }
      case 'call':
        return this.call(e);
      case 'view': {
        const x = this.tensor(this.value(e.x), e.x.span, 'a view');
        return { k: 'tensor', t: this.views(x, e.entries) };
      }
      case 'other': {
        const t = this.other?.get(e.id.name);
        if (t) return { k: 'tensor', t };
        if (this.other) this.fail(`${e.id.name}' names no state field; the fields are ${[...this.other.keys()].join(', ')}`, e.span);
        return this.fail(`${e.id.name}' (a field of the other partial state) can only be read in a fold's merge block`, e.span);
      }
    }
  }

  private lookup(id: Ident): Val {
    const b = this.env.get(id.name);
    if (b) return b.val;
    if (this.dtypeOrUndefined(id.name)) this.fail(`${id.name} is a dtype; cast a value with ${id.name}(x)`, id.span);
    if (FUNCTIONS.includes(id.name)) this.fail(`${id.name} is a function; call it, e.g. ${id.name}(x)`, id.span);
    const names = [...this.env.keys()];
    return this.fail(`unknown tensor or size ${id.name}${suggest(id.name, names)}`, id.span);
  }

  private tensor(v: Val, span: Span, what: string): T {
    if (v.k === 'tensor') return v.t;
    const c = v.k === 'number' ? String(v.v) : 'a size';
    return this.fail(`${what} needs a tensor, got ${c}; give a constant a dtype with a cast, e.g. f32(...)`, span);
  }

  /** The dtype an untyped number or size takes from the tensor it meets. */
  private partnerDtype(t: T, span: Span): DType {
    if (t.dtype === 'bool') {
      this.fail(`${t.label} is a comparison (a boolean); turn it into numbers with where(cond, a, b)`, span);
    }
    return t.dtype;
  }

  /** An untyped value as a tensor of `t`'s dtype, or a number for the DSL to lift. */
  private operand(v: Val, t: T, span: Span): T | number {
    if (v.k === 'tensor') return v.t;
    if (v.k === 'number') return v.v;
    const s = v.s;
    return this.at(span, () => this.p.value(s, this.partnerDtype(t, span)));
  }

  private typed(v: Val, t: T, span: Span): T {
    const o = this.operand(v, t, span);
    if (typeof o !== 'number') return o;
    return this.at(span, () => this.p.scalar(o, this.partnerDtype(t, span)));
  }

  private arith(fn: ArithFn, a: Val, b: Val, span: Span): Val {
    if (a.k === 'tensor') {
      const o = this.operand(b, a.t, span);
      return { k: 'tensor', t: this.at(span, () => applyArith(a.t, fn, o)) };
    }
    if (b.k === 'tensor') {
      const l = this.typed(a, b.t, span);
      return { k: 'tensor', t: this.at(span, () => applyArith(l, fn, b.t)) };
    }
    if (a.k === 'number' && b.k === 'number') return { k: 'number', v: foldNumber(fn, a.v, b.v) };
    const op = INT_OPS[fn];
    if (!op) this.fail(`${fn} of sizes is not integer arithmetic; cast the size first, e.g. f32(D)`, span);
    const x = this.integer(a, span);
    const y = this.integer(b, span);
    return { k: 'size', s: this.at(span, () => ibin(op, x, y)) };
  }

  private integer(v: Val, span: Span): IntExpr {
    if (v.k === 'size') return v.s;
    if (v.k === 'number' && Number.isInteger(v.v)) return this.at(span, () => int(v.v));
    return this.fail(`size arithmetic needs integers; cast the size to mix it with ${v.k === 'number' ? v.v : 'a tensor'}, e.g. f32(D)`, span);
  }

  private compare(fn: CompareFn, a: Val, b: Val, span: Span): Val {
    if (a.k === 'tensor') {
      const o = this.operand(b, a.t, span);
      return { k: 'tensor', t: this.at(span, () => applyCompare(a.t, fn, o)) };
    }
    if (b.k === 'tensor') {
      const l = this.typed(a, b.t, span);
      return { k: 'tensor', t: this.at(span, () => applyCompare(l, fn, b.t)) };
    }
    return this.fail('a comparison needs a tensor on one side; give a constant a dtype, e.g. f32(D) > 2', span);
  }

  // -- calls ------------------------------------------------------------------------------------

  private call(e: Extract<Ex, { k: 'call' }>): Val {
    const name = e.fn.name;
    const tensorArg = (a: Arg | undefined, what = `${name}`) => this.tensor(this.value(a!.value), a!.span, what);

    const cast = this.dtypeOrUndefined(name);
    if (cast) {
      this.noAxes(e);
      const [x] = this.args(e, ['x'], 1);
      const v = this.value(x!.value);
      const t =
        v.k === 'tensor'
          ? this.at(e.fn.span, () => v.t.cast(cast))
          : v.k === 'number'
            ? this.at(e.fn.span, () => this.p.scalar(v.v, cast))
            : this.at(e.fn.span, () => this.p.value(v.s, cast));
      return { k: 'tensor', t };
    }
    if ((REDUCTIONS as readonly string[]).includes(name) && (e.axes || (name !== 'max' && name !== 'min'))) {
      const axes = this.axes(e, 'reduces over');
      const [x] = this.args(e, ['x'], 1);
      const t = tensorArg(x);
      return { k: 'tensor', t: this.at(e.fn.span, () => reduceBy(t, name as ReductionName, axes), e.axes) };
    }
    if ((UNARY as readonly string[]).includes(name)) {
      this.noAxes(e);
      const [x] = this.args(e, ['x'], 1);
      const v = this.value(x!.value);
      if (name === 'neg' && v.k === 'number') return { k: 'number', v: -v.v };
      const t = this.tensor(v, x!.span, `${name}`);
      return { k: 'tensor', t: this.at(e.fn.span, () => t[name as UnaryName]()) };
    }
    const activation = ACTIVATIONS[name];
    if (activation && Object.hasOwn(ACTIVATIONS, name)) {
      this.noAxes(e);
      const [x] = this.args(e, ['x'], 1);
      const t = tensorArg(x);
      return { k: 'tensor', t: this.at(e.fn.span, () => activation(t as Tensor<FloatDt, string>)) };
    }
    switch (name) {
      case 'pow':
      case 'max':
      case 'min': {
        this.noAxes(e);
        const [a, b] = this.args(e, ['a', 'b'], 2);
        const x = this.value(a!.value);
        const y = this.value(b!.value);
        return this.arith(name, x, y, e.fn.span);
      }
      case 'where':
      case 'select':
        return this.where(e);
      case 'index':
        return this.index(e);
      case 'softmax':
      case 'logsoftmax': {
        const [axis] = this.axes(e, 'normalizes over', 1);
        const [x] = this.args(e, ['x'], 1);
        const t = tensorArg(x) as Tensor<FloatDt, string>;
        const f = name === 'softmax' ? softmax : logSoftmax;
        return { k: 'tensor', t: this.at(e.fn.span, () => f(t, axis!), e.axes) };
      }
      case 'layernorm': {
        const [axis] = this.axes(e, 'normalizes over', 1);
        const [x, gamma, beta, eps] = this.args(e, ['x', 'gamma', 'beta', 'eps'], 1);
        const t = tensorArg(x) as Tensor<FloatDt, string>;
        const opts: { gamma?: Tensor<FloatDt, string>; beta?: Tensor<FloatDt, string>; eps?: number } = {};
        if (gamma) opts.gamma = tensorArg(gamma, 'gamma') as Tensor<FloatDt, string>;
        if (beta) opts.beta = tensorArg(beta, 'beta') as Tensor<FloatDt, string>;
        if (eps) opts.eps = this.number(eps);
        return { k: 'tensor', t: this.at(e.fn.span, () => layernorm(t, axis!, opts), e.axes) };
      }
      case 'rmsnorm': {
        const [axis] = this.axes(e, 'normalizes over', 1);
        const [x, weight, eps] = this.args(e, ['x', 'weight', 'eps'], 1);
        const t = tensorArg(x) as Tensor<FloatDt, string>;
        const opts: { weight?: Tensor<FloatDt, string>; eps?: number } = {};
        if (weight) opts.weight = tensorArg(weight, 'weight') as Tensor<FloatDt, string>;
        if (eps) opts.eps = this.number(eps);
        return { k: 'tensor', t: this.at(e.fn.span, () => rmsnorm(t, axis!, opts), e.axes) };
      }
      case 'dot': {
        const [first, ...rest] = this.axes(e, 'contracts over');
        const [a, b] = this.args(e, ['a', 'b'], 2);
        const x = tensorArg(a) as Tensor<'f32', string>;
        const y = tensorArg(b) as Tensor<'f32', string>;
        return { k: 'tensor', t: this.at(e.fn.span, () => dot(x, y, first!, ...rest), e.axes) };
      }
    }
    return this.fail(`unknown function ${name}${suggest(name, [...FUNCTIONS, ...DTYPES])}`, e.fn.span);
  }

  private where(e: Extract<Ex, { k: 'call' }>): Val {
    this.noAxes(e);
    const [c, a, b] = this.args(e, ['cond', 'a', 'b'], 3);
    const cond = this.tensor(this.value(c!.value), c!.span, `the condition of ${e.fn.name}`) as Tensor<'bool', string>;
    const x = this.value(a!.value);
    const y = this.value(b!.value);
    const partner = x.k === 'tensor' ? x.t : y.k === 'tensor' ? y.t : undefined;
    const branch = (v: Val, arg: Arg): T | number => {
      if (partner) return this.operand(v, partner, arg.span);
      if (v.k === 'size') this.fail(`${e.fn.name} cannot tell the dtype of a size here; cast it, e.g. f32(D)`, arg.span);
      return this.operand(v, cond, arg.span);
    };
    const tx = branch(x, a!);
    const ty = branch(y, b!);
    return { k: 'tensor', t: this.at(e.fn.span, () => cond.where(tx, ty)) };
  }

  /** `index(j, D)`: the position along axis j of size D (i32 unless a dtype is given). */
  private index(e: Extract<Ex, { k: 'call' }>): Val {
    this.noAxes(e);
    const [a, s, d] = this.args(e, ['axis', 'size', 'dtype'], 2);
    if (a!.value.k !== 'name') this.fail('index needs an axis name first, e.g. index(j, D)', a!.value.span);
    const axis = a!.value.id;
    const size = this.size(s!.value);
    let dtype: DType = 'i32';
    if (d) {
      if (d.value.k !== 'name') this.fail('the dtype of index is a dtype name, e.g. index(j, D, f32)', d.value.span);
      dtype = this.dtype(d.value.id);
    }
    return { k: 'tensor', t: this.at(e.fn.span, () => this.p.index(axis.name, size, dtype)) };
  }

  private number(a: Arg): number {
    const v = this.value(a.value);
    if (v.k !== 'number') this.fail(`expected a number, e.g. ${a.key?.name ?? 'eps'} = 1e-5`, a.value.span);
    return v.v;
  }

  /** The axes in `f[...]`: required, and at most `max` of them. */
  private axes(e: Extract<Ex, { k: 'call' }>, verb: string, max = Infinity): string[] {
    const name = e.fn.name;
    if (!e.axes) this.fail(`${name} needs the axes it ${verb} in brackets, e.g. ${name}[j](...)`, e.fn.span);
    if (e.axes.length > max) this.fail(`${name} ${verb} one axis; got ${e.axes.map((a) => a.name).join(', ')}`, e.axes[max]!.span);
    return e.axes.map((a) => a.name);
  }

  private noAxes(e: Extract<Ex, { k: 'call' }>): void {
    const first = e.axes?.[0];
    if (first) this.fail(`${e.fn.name} takes no axes; only reductions, softmax, logsoftmax, layernorm, rmsnorm and dot do`, first.span);
  }

  /** Matches positional then keyword arguments to `params`; the first `required` must be given. */
  private args(e: Extract<Ex, { k: 'call' }>, params: readonly string[], required: number): (Arg | undefined)[] {
    const name = e.fn.name;
    const out: (Arg | undefined)[] = params.map(() => undefined);
    const signature = `${name}(${params.map((p, i) => (i < required ? p : `${p}?`)).join(', ')})`;
    let next = 0;
    let keyed = false;
    for (const a of e.args) {
      if (!a.key) {
        if (keyed) this.fail(`a positional argument cannot follow a keyword argument in ${name}`, a.span);
        if (next >= params.length) this.fail(`too many arguments: ${signature}`, a.span);
        out[next++] = a;
        continue;
      }
      keyed = true;
      const i = params.indexOf(a.key.name);
      if (i < 0) this.fail(`${name} has no parameter ${a.key.name}: ${signature}`, a.key.span);
      if (out[i]) this.fail(`${name} is given ${a.key.name} twice`, a.key.span);
      out[i] = a;
    }
    const missing = params.slice(0, required).filter((_, i) => !out[i]);
    if (missing.length) this.fail(`${name} is missing ${missing.join(', ')}: ${signature}`, e.fn.span);
    return out;
  }

  // -- views ------------------------------------------------------------------------------------

  private views(x: T, entries: readonly ViewEntry[]): T {
    const bare = entries.filter((v) => v.k === 'axis');
    if (bare.length === entries.length) {
      const names = bare.map((v) => v.axis);
      const whole: Span = { start: entries[0]!.span.start, end: entries[entries.length - 1]!.span.end };
      return this.at(whole, () => x.permute(...names.map((n) => n.name)), names);
    }
    if (bare[0]) {
      this.fail('a bare axis name belongs to a permutation, which lists every axis and nothing else, e.g. X[j, i]', bare[0].span);
    }
    let t = x;
    for (let i = 0; i < entries.length; i++) {
      const v = entries[i]!;
      if (v.k === 'rename') {
        // consecutive renames are one simultaneous rename, so X[i -> j, j -> i] swaps
        const group: Extract<ViewEntry, { k: 'rename' }>[] = [v];
        while (entries[i + 1]?.k === 'rename') group.push(entries[++i] as Extract<ViewEntry, { k: 'rename' }>);
        const map = Object.create(null) as Record<string, string>;
        for (const r of group) {
          if (r.axis.name in map) this.fail(`axis ${r.axis.name} is renamed twice`, r.axis.span);
          map[r.axis.name] = r.to.name;
        }
        const span: Span = { start: v.span.start, end: group[group.length - 1]!.span.end };
        const from = t;
        t = this.at(span, () => from.rename(map), group.flatMap((r) => [r.axis, r.to]));
        continue;
      }
      t = this.view(t, v);
    }
    return t;
  }

  private view(t: T, v: Exclude<ViewEntry, { k: 'rename' }>): T {
    switch (v.k) {
      case 'slice': {
        const axis = v.axis.name;
        const start = v.from ? this.size(v.from) : int(0);
        const end = v.to ? this.size(v.to) : this.at(v.axis.span, () => t.size(axis));
        return this.at(v.span, () => t.slice(axis, start, end), [v.axis]);
      }
      case 'at': {
        const index = this.size(v.index);
        return this.at(v.span, () => t.at(v.axis.name, index), [v.axis]);
      }
      case 'broadcast': {
        const axes = this.sizedAxes([{ name: v.axis, size: v.size }], 'broadcast');
        return this.at(v.span, () => t.broadcast(axes), [v.axis]);
      }
      case 'split': {
        const parts = this.sizedAxes(v.parts, `split of ${v.axis.name}`);
        return this.at(v.span, () => t.split(v.axis.name, parts), [v.axis, ...v.parts.map((p) => p.name)]);
      }
      case 'merge':
        return this.at(v.span, () => t.merge(v.from.map((a) => a.name), v.into.name), [...v.from, v.into]);
      case 'axis':
        return this.fail('internal: a bare axis outside a permutation', v.span);
    }
  }

  // -- errors -----------------------------------------------------------------------------------

  /**
   * Runs one DSL call; a TilecraftError it throws is reported at `span`, or at the axis it names
   * when that axis is one of `axes`.
   */
  private at<R>(span: Span, f: () => R, axes?: readonly Ident[]): R {
    try {
      return f();
    } catch (e) {
      const axis = e instanceof ShapeError ? axes?.find((a) => a.name === e.axis) : undefined;
      throw this.located(e, axis?.span ?? span);
    }
  }

  private located(e: unknown, span: Span): unknown {
    if (e instanceof TextDslError || !(e instanceof TilecraftError)) return e;
    // the DSL's hints spell casts the TypeScript way
    const hint = /\bcast\(/.test(e.message) ? ' (here a cast is written f32(x))' : '';
    return new TextDslError(e.message + hint, { ...this.src, start: span.start, end: span.end }, 'semantic', e);
  }

  private fail(reason: string, span: Span): never {
    throw new TextDslError(reason, { ...this.src, start: span.start, end: span.end }, 'semantic');
  }

  private lineOf(offset: number): { line: number } {
    let line = 1;
    for (let i = 0; i < offset; i++) if (this.src.source.charCodeAt(i) === 10) line++;
    return { line };
  }
}

function applyArith(t: T, fn: ArithFn, o: T | number): T {
  switch (fn) {
    case 'add':
      return t.add(o);
    case 'sub':
      return t.sub(o);
    case 'mul':
      return t.mul(o);
    case 'div':
      return t.div(o);
    case 'mod':
      return t.mod(o);
    case 'pow':
      return t.pow(o);
    case 'max':
      return t.max(o);
    case 'min':
      return t.min(o);
  }
}

function applyCompare(t: T, fn: CompareFn, o: T | number): T {
  switch (fn) {
    case 'lt':
      return t.lt(o);
    case 'le':
      return t.le(o);
    case 'gt':
      return t.gt(o);
    case 'ge':
      return t.ge(o);
    case 'eq':
      return t.eq(o);
    case 'ne':
      return t.ne(o);
  }
}

function reduceBy(t: T, fn: ReductionName, axes: readonly string[]): T {
  const [first, ...rest] = axes as [string, ...string[]];
  switch (fn) {
    case 'sum':
      return t.sum(first, ...rest);
    case 'mean':
      return t.mean(first, ...rest);
    case 'max':
      return t.max(first, ...rest);
    case 'min':
      return t.min(first, ...rest);
  }
}

/** Constant folding of two numbers, as JavaScript would compute them in the TypeScript DSL. */
function foldNumber(fn: ArithFn, a: number, b: number): number {
  switch (fn) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'mod':
      return a % b;
    case 'pow':
      return a ** b;
    case 'max':
      return Math.max(a, b);
    case 'min':
      return Math.min(a, b);
  }
}

/** The most edits a "did you mean" suggestion may be away from the name written. */
const MAX_SUGGEST_EDITS = 2;

/** ", did you mean X?" for the closest candidate within two edits, or "". */
export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestDist = MAX_SUGGEST_EDITS + 1;
  for (const c of candidates) {
    const d = boundedEditDistance(name, c, bestDist - 1);
    if (d < bestDist && d < Math.max(name.length, c.length)) {
      best = c;
      bestDist = d;
    }
  }
  return best === undefined ? '' : `; did you mean ${best}?`;
}

/**
 * The edit distance of a and b when it is at most `max`, else max + 1. Only the diagonal band of
 * width 2 * max + 1 can hold such a path, so this takes O(max * length) time: names of any length
 * (a 20 000-character name in a large file) cost linear time, where the full table was quadratic.
 */
export function boundedEditDistance(a: string, b: string, max: number): number {
  if (max < 0) return a === b ? 0 : 1;
  const over = max + 1;
  if (Math.abs(a.length - b.length) > max) return over;
  // prev[j] / cur[j]: distance of a[0, i) and b[0, j), capped at `over`. Only the band
  // [i - max, i + max] of each row is written; cells beyond its right edge were never written
  // (the band only moves right) and keep the fill, the cell left of it is set per row.
  let prev = new Int32Array(b.length + 1).fill(over);
  let cur = new Int32Array(b.length + 1).fill(over);
  for (let j = 0; j <= Math.min(b.length, max); j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - max);
    const hi = Math.min(b.length, i + max);
    cur[lo - 1] = lo === 1 ? Math.min(i, over) : over;
    let rowMin = cur[lo - 1]!;
    for (let j = lo; j <= hi; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), over);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return over;
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}
