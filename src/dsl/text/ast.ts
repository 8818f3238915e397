import * as ohm from 'ohm-js';
import { GRAMMAR_SOURCE } from './grammar.js';

/**
 * The syntax tree of the text language: what the grammar matched, with the source span of every
 * construct so that errors found while building the program can point back at it.
 */

/** Character offsets `[start, end)` into the source. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Ident {
  readonly name: string;
  readonly span: Span;
}

export interface SizedAxis {
  readonly name: Ident;
  readonly size: Ex;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%';
export type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';

export type Ex =
  | { readonly k: 'number'; readonly value: number; readonly span: Span }
  | { readonly k: 'name'; readonly id: Ident; readonly span: Span }
  | { readonly k: 'neg'; readonly x: Ex; readonly op: Span; readonly span: Span }
  | { readonly k: 'binary'; readonly fn: BinaryOp; readonly a: Ex; readonly b: Ex; readonly op: Span; readonly span: Span }
  | { readonly k: 'compare'; readonly fn: CompareOp; readonly a: Ex; readonly b: Ex; readonly op: Span; readonly span: Span }
  | {
      readonly k: 'call';
      readonly fn: Ident;
      /** `sum[j, k](x)`: the axes in brackets, or undefined when there are none. */
      readonly axes: readonly Ident[] | undefined;
      readonly args: readonly Arg[];
      readonly span: Span;
    }
  | { readonly k: 'view'; readonly x: Ex; readonly entries: readonly ViewEntry[]; readonly span: Span }
  /** `m'`: field m of the other partial state, in a fold's merge block. */
  | { readonly k: 'other'; readonly id: Ident; readonly span: Span };

export interface Arg {
  /** `eps = 1e-5`: the keyword, or undefined for a positional argument. */
  readonly key: Ident | undefined;
  readonly value: Ex;
  readonly span: Span;
}

/** One entry of a view bracket `x[...]`. */
export type ViewEntry =
  | { readonly k: 'merge'; readonly from: readonly Ident[]; readonly into: Ident; readonly span: Span }
  | { readonly k: 'split'; readonly axis: Ident; readonly parts: readonly SizedAxis[]; readonly span: Span }
  | { readonly k: 'rename'; readonly axis: Ident; readonly to: Ident; readonly span: Span }
  | { readonly k: 'slice'; readonly axis: Ident; readonly from: Ex | undefined; readonly to: Ex | undefined; readonly span: Span }
  | { readonly k: 'at'; readonly axis: Ident; readonly index: Ex; readonly span: Span }
  | { readonly k: 'broadcast'; readonly axis: Ident; readonly size: Ex; readonly span: Span }
  | { readonly k: 'axis'; readonly axis: Ident; readonly span: Span };

export type StmtAst =
  | { readonly k: 'input'; readonly name: Ident; readonly dtype: Ident; readonly axes: readonly SizedAxis[]; readonly span: Span }
  | {
      readonly k: 'let' | 'output' | 'bind';
      readonly name: Ident;
      /** `output C[m, n] = ...`: the storage order, or undefined. */
      readonly order: { readonly axes: readonly Ident[]; readonly span: Span } | undefined;
      readonly value: Ex;
      readonly span: Span;
    }
  | FoldAst;

/** A statement of a fold's step or merge block: `x = ...` (a local or alias) or `m <- ...` (a field). */
export interface BlockItem {
  readonly k: 'bind' | 'assign';
  readonly name: Ident;
  readonly value: Ex;
  readonly span: Span;
}

export type FoldItem =
  | { readonly k: 'state'; readonly name: Ident; readonly axes: readonly SizedAxis[]; readonly dtype: Ident; readonly init: Ex; readonly span: Span }
  | { readonly k: 'step' | 'merge'; readonly items: readonly BlockItem[]; readonly span: Span }
  | {
      readonly k: 'let' | 'output';
      readonly name: Ident;
      readonly order: { readonly axes: readonly Ident[]; readonly span: Span } | undefined;
      readonly value: Ex;
      readonly span: Span;
    };

export interface FoldAst {
  readonly k: 'fold';
  readonly kind: 'fold' | 'scan';
  readonly over: readonly SizedAxis[];
  readonly items: readonly FoldItem[];
  readonly span: Span;
}

export interface TypeParam {
  readonly name: Ident;
  readonly fallback: Ident | undefined;
}

export interface DynamicSizeAst {
  readonly size: Ident;
  /** The bound as written (checked to be a positive integer when the program is built). */
  readonly max: { readonly value: number; readonly span: Span };
}

export interface ProgramAst {
  readonly name: Ident;
  readonly typeParams: readonly TypeParam[];
  readonly sizes: readonly Ident[];
  /** `M <= 8192` in the size list: the dynamic sizes with their bounds, in order. */
  readonly dynamic: readonly DynamicSizeAst[];
  readonly stmts: readonly StmtAst[];
  readonly span: Span;
}

/** A failed match: the offset of the furthest point the parser reached, and what it expected there. */
export interface SyntaxFailure {
  readonly offset: number;
  readonly expected: string;
}

const grammar = ohm.grammar(GRAMMAR_SOURCE);

// Ohm hands semantic actions untyped nodes; these two helpers are the only place that trusts them.
const ast = <T>(n: ohm.Node): T => n['ast']() as T;
const list = <T>(n: ohm.Node): T[] => n.asIteration().children.map((c) => ast<T>(c));
const opt = <T>(n: ohm.Node): T | undefined => (n.numChildren === 0 ? undefined : ast<T>(n.child(0)));
const span = (n: ohm.Node): Span => ({ start: n.source.startIdx, end: n.source.endIdx });
const ident = (n: ohm.Node): Ident => ({ name: n.sourceString, span: span(n) });

const semantics = grammar.createSemantics().addOperation<unknown>('ast', {
  File(programs) {
    return programs.children.map((p) => ast<ProgramAst>(p));
  },
  Program(_kw, name, typeParams, _open, sizes, _close, _lb, stmts, _rb): ProgramAst {
    const params = list<{ id: Ident; max: DynamicSizeAst['max'] | undefined }>(sizes);
    return {
      name: ident(name),
      typeParams: opt<TypeParam[]>(typeParams) ?? [],
      sizes: params.map((p) => p.id),
      dynamic: params.flatMap((p) => (p.max ? [{ size: p.id, max: p.max }] : [])),
      stmts: stmts.children.map((s) => ast<StmtAst>(s)),
      span: span(this),
    };
  },
  SizeParam(name, _le, max) {
    const n = max.numChildren === 0 ? undefined : ast<Extract<Ex, { k: 'number' }>>(max.child(0));
    return { id: ident(name), max: n && { value: n.value, span: n.span } };
  },
  TypeParams(_lt, params, _gt) {
    return list<TypeParam>(params);
  },
  TypeParam(name, _eq, fallback): TypeParam {
    return { name: ident(name), fallback: fallback.numChildren === 0 ? undefined : ident(fallback.child(0)) };
  },
  Stmt(stmt, _semi) {
    return ast<StmtAst>(stmt);
  },
  Input(_kw, name, _colon, type): StmtAst {
    const [dtype, axes] = ast<[Ident, SizedAxis[]]>(type);
    return { k: 'input', name: ident(name), dtype, axes, span: span(this) };
  },
  TensorType(dtype, axes) {
    return [ident(dtype), opt<SizedAxis[]>(axes) ?? []];
  },
  AxisDecls(_lb, axes, _rb) {
    return list<SizedAxis>(axes);
  },
  SizedAxis(name, _colon, size): SizedAxis {
    return { name: ident(name), size: ast<Ex>(size) };
  },
  Let(_kw, name, order, _eq, value): StmtAst {
    return { k: 'let', name: ident(name), order: opt(order), value: ast<Ex>(value), span: span(this) };
  },
  Output(_kw, name, order, _eq, value): StmtAst {
    return { k: 'output', name: ident(name), order: opt(order), value: ast<Ex>(value), span: span(this) };
  },
  Bind(name, _eq, value): StmtAst {
    return { k: 'bind', name: ident(name), order: undefined, value: ast<Ex>(value), span: span(this) };
  },
  Fold(kind, _over, over, _lb, items, _rb): StmtAst {
    return { k: 'fold', kind: kind.sourceString as 'fold' | 'scan', over: list<SizedAxis>(over), items: items.children.map((i) => ast<FoldItem>(i)), span: span(this) };
  },
  FoldItem(item, _semi) {
    return ast<FoldItem>(item);
  },
  State(_kw, name, axes, _colon, dtype, _eq, init): FoldItem {
    return { k: 'state', name: ident(name), axes: opt<SizedAxis[]>(axes) ?? [], dtype: ident(dtype), init: ast<Ex>(init), span: span(this) };
  },
  FoldBlock(kind, _lb, items, _rb): FoldItem {
    return { k: kind.sourceString as 'step' | 'merge', items: items.children.map((i) => ast<BlockItem>(i)), span: span(this) };
  },
  BlockItem(item, _semi) {
    const s = ast<{ name: Ident; value: Ex; span: Span; k: string }>(item);
    return { k: s.k === 'assign' ? 'assign' : 'bind', name: s.name, value: s.value, span: s.span };
  },
  Assign(name, _arrow, value) {
    return { k: 'assign', name: ident(name), value: ast<Ex>(value), span: span(this) };
  },
  Primary_other(x) {
    return ast<Ex>(x);
  },
  otherState(name, _quote): Ex {
    return { k: 'other', id: ident(name), span: span(this) };
  },
  Order(_lb, axes, _rb) {
    return { axes: axes.asIteration().children.map(ident), span: span(this) };
  },
  Expr_compare(a, op, b): Ex {
    return { k: 'compare', fn: op.sourceString as CompareOp, a: ast<Ex>(a), b: ast<Ex>(b), op: span(op), span: span(this) };
  },
  Sum_binary(a, op, b): Ex {
    return { k: 'binary', fn: op.sourceString as BinaryOp, a: ast<Ex>(a), b: ast<Ex>(b), op: span(op), span: span(this) };
  },
  Product_binary(a, op, b): Ex {
    return { k: 'binary', fn: op.sourceString as BinaryOp, a: ast<Ex>(a), b: ast<Ex>(b), op: span(op), span: span(this) };
  },
  Unary_neg(op, x): Ex {
    return { k: 'neg', x: ast<Ex>(x), op: span(op), span: span(this) };
  },
  Postfix_view(x, view): Ex {
    return { k: 'view', x: ast<Ex>(x), entries: ast<ViewEntry[]>(view), span: span(this) };
  },
  View(_lb, entries, _rb) {
    return list<ViewEntry>(entries);
  },
  ViewEntry_merge(_lp, from, _rp, _arrow, into): ViewEntry {
    return { k: 'merge', from: from.asIteration().children.map(ident), into: ident(into), span: span(this) };
  },
  ViewEntry_split(axis, _arrow, _lp, parts, _rp): ViewEntry {
    return { k: 'split', axis: ident(axis), parts: list<SizedAxis>(parts), span: span(this) };
  },
  ViewEntry_rename(axis, _arrow, to): ViewEntry {
    return { k: 'rename', axis: ident(axis), to: ident(to), span: span(this) };
  },
  ViewEntry_slice(axis, _eq, from, _colon, to): ViewEntry {
    return { k: 'slice', axis: ident(axis), from: opt<Ex>(from), to: opt<Ex>(to), span: span(this) };
  },
  ViewEntry_at(axis, _eq, index): ViewEntry {
    return { k: 'at', axis: ident(axis), index: ast<Ex>(index), span: span(this) };
  },
  ViewEntry_broadcast(axis, _colon, size): ViewEntry {
    return { k: 'broadcast', axis: ident(axis), size: ast<Ex>(size), span: span(this) };
  },
  ViewEntry_axis(axis): ViewEntry {
    return { k: 'axis', axis: ident(axis), span: span(this) };
  },
  Primary_paren(_lp, x, _rp) {
    return ast<Ex>(x);
  },
  Primary_name(name): Ex {
    return { k: 'name', id: ident(name), span: span(this) };
  },
  Call(fn, axes, _lp, args, _rp): Ex {
    return { k: 'call', fn: ident(fn), axes: opt<Ident[]>(axes), args: list<Arg>(args), span: span(this) };
  },
  Axes(_lb, names, _rb) {
    return names.asIteration().children.map(ident);
  },
  Arg_named(key, _eq, value): Arg {
    return { key: ident(key), value: ast<Ex>(value), span: span(this) };
  },
  Arg_positional(value): Arg {
    return { key: undefined, value: ast<Ex>(value), span: span(this) };
  },
  number_inf(_kw): Ex {
    return { k: 'number', value: Infinity, span: span(this) };
  },
  number_nan(_kw): Ex {
    return { k: 'number', value: NaN, span: span(this) };
  },
  number_decimal(_int, _dot, _frac, _exp): Ex {
    return { k: 'number', value: Number(this.sourceString), span: span(this) };
  },
  number_fraction(_dot, _frac, _exp): Ex {
    return { k: 'number', value: Number(this.sourceString), span: span(this) };
  },
});

/** Parses a whole file into its programs, or says where and why the parse failed. */
export function parseAst(source: string): { ok: true; programs: ProgramAst[] } | { ok: false; failure: SyntaxFailure } {
  const m = grammar.match(source);
  if (m.failed()) return { ok: false, failure: { offset: m.getRightmostFailurePosition(), expected: m.getExpectedText() } };
  return { ok: true, programs: ast<ProgramAst[]>(semantics(m) as ohm.Node) };
}
