import { type Sizes } from '../ir/bind.js';
import { TilecraftError } from '../ir/errors.js';
import { NameAllocator } from '../ir/names.js';
import { stateRead } from '../ir/fold.js';
import { type IntExpr, evalInt, iadd, ibin, imul, int, intSyms, intVars, ivar } from '../ir/intexpr.js';
import { printExpr } from '../ir/print.js';
import { intRange } from '../ir/verify.js';
import {
  type Axis,
  type Expr,
  type FoldDef,
  type FoldOutput,
  type Program,
  type StateField,
  type Stmt,
  type TensorDecl,
  binary,
  cast,
  children,
  compare,
  constant,
  freeVars,
  iota,
  load,
  mapExpr,
  reduce,
  select,
  substIndex,
  unary,
  visitExpr,
  withChildren,
} from '../ir/tensor.js';

/**
 * The chunkwise-parallel form of a linear recurrence, derived from the scan a user writes.
 *
 * A scan over `t` whose state field follows
 *
 *     S_t[d, e] = a(t, d) * S_{t-1}[d, e] + k(t, d) * v(t, e)      (S_0 = 0)
 *     o_t[e]    = sum[d](q(t, d) * S_t[d, e])
 *
 * (linear attention: a = 1; retention: a constant per head; Mamba-2's SSD: a scalar per step;
 * gated linear attention: a vector over d) is sequential in t as written. Cut into chunks of C
 * steps, with G(t, d) the sum of log a over the steps of t's chunk up to t, it is
 *
 *     intra[t, e] = sum[s in chunk(t), s <= t](sum[d](q(t, d) k(s, d) exp(G(t, d) - G(s, d))) v(s, e))
 *     W[c, d, e]  = sum[s in chunk c](exp(G(end c, d) - G(s, d)) k(s, d) v(s, e))
 *     S[c, d, e]  = exp(G(end c, d)) S[c - 1, d, e] + W[c, d, e]          (a scan over chunks)
 *     o[t, e]     = intra[t, e] + sum[d](q(t, d) exp(G(t, d)) S[chunk(t) - 1, d, e])
 *
 * Every exponent is a sum of log-decays over steps that run forward in time, so it is at most 0:
 * nothing overflows however long the sequence, and decays near 0 underflow to exact zeros (a
 * log-decay is clamped at LOG_DECAY_FLOOR so that a decay of exactly 0 stays finite). A decay
 * built from exponentials, powers, products and sigmoids is taken apart in log space (`exp(y)` as
 * `y`, `sigmoid(x)^(1/16)` as a stable log-sigmoid over 16), never rounded through them. With a
 * decay per key dimension the products inside a chunk go by sub-chunks (`subChunkScores`).
 *
 * The rewrite emits these as tensor statements — contractions, a row reduction, a scan over
 * chunks — which the rest of the pipeline groups, tiles and tunes like any other; no template.
 * Intermediates are f32 whatever the inputs' dtype, and each takes only the axes its expression
 * reads, so the query-key products of a recurrence written per value column are not recomputed
 * per column. A fold over the same recurrence whose output is the state itself (the final state,
 * for decoding to continue from) becomes a read of the last chunk's state.
 *
 * It declines — with a reason — a state that does not start at 0, an update that is not linear in
 * its own field, a decay that reads a value axis, an additive term that is not a product of a key
 * part (over the summed axis) and a value part, an output that reads the state other than through
 * such a sum (or, for a fold, as the whole field), a decay not known to be positive (its log is
 * taken), a scan over a dynamic axis, locals that read the state, and fields that read each other.
 */
export interface ChunkScanOptions {
  /** Steps per chunk for the scan computing a statement (at most the sequence length is used); DEFAULT_CHUNK when left out. */
  readonly chunkFor?: (stmt: string) => number;
  /** Throw a `ChunkScanError` for a recurrence that cannot be chunked instead of leaving it as written. */
  readonly required?: boolean;
  /** Where the new statements' names come from; by default one that knows the program's names. */
  readonly names?: NameAllocator;
}

export interface ChunkScanReport {
  readonly program: Program;
  /** Statements rewritten into the chunked form: the chunk asked for, the chunk used (at most the length), the length. */
  readonly rewritten: readonly { readonly stmt: string; readonly chunk: number; readonly used: number; readonly length: number }[];
  /** Scans (and folds) that were left as written, and why. */
  readonly declined: readonly { readonly stmt: string; readonly reason: string }[];
}

/** A recurrence the chunked form was asked for (`required`) but does not apply to. */
export class ChunkScanError extends TilecraftError {
  override name = 'ChunkScanError';
  constructor(
    readonly stmt: string,
    readonly reason: string,
  ) {
    super(`statement ${stmt}: the chunkwise form does not apply: ${reason}`);
  }
}

/** Default steps per chunk. */
export const DEFAULT_CHUNK = 32;
/** The smallest log-decay used: exp of it is about 1e-26, a decay of exactly 0 stays finite. */
export const LOG_DECAY_FLOOR = -60;

/** One field's recurrence: S <- decay * S + additive, over the field's own axes. */
interface Linear {
  readonly field: StateField;
  /** undefined: the decay is 1. */
  readonly decay: Expr | undefined;
  readonly additive: Expr;
}

/** A sum over one axis of the field of a query times the state: `sum[x](q * S[..x..])`. */
interface Readout {
  readonly node: Expr;
  readonly field: StateField;
  /** The reduction variable and the position of the field's axis it indexes. */
  readonly x: string;
  readonly pos: number;
  readonly query: Expr;
  /** The field's index (position `pos` is the reduction variable). */
  readonly index: readonly IntExpr[];
}

export function chunkScan(p: Program, sizes: Sizes, options: ChunkScanOptions = {}): ChunkScanReport {
  const rewritten: { stmt: string; chunk: number; used: number; length: number }[] = [];
  const declined: { stmt: string; reason: string }[] = [];
  const out: Stmt[] = [];
  const memo = new Map<string, TensorDecl>();
  const names = options.names ?? NameAllocator.forProgram(p);
  const fresh = (base: string) => names.fresh(base);
  for (const s of p.stmts) {
    if (s.expr.op !== 'fold' || (s.expr.def.kind !== 'scan' && !isFinalState(s.expr.def, s.expr.output))) {
      out.push(s);
      continue;
    }
    const chunk = options.chunkFor?.(s.target.name) ?? DEFAULT_CHUNK;
    if (!Number.isInteger(chunk) || chunk < 1) throw new ChunkScanError(s.target.name, `steps per chunk must be a positive integer, got ${chunk}`);
    const made = derive(p, s, sizes, chunk, fresh, memo);
    if (typeof made === 'string') {
      if (options.required) throw new ChunkScanError(s.target.name, made);
      declined.push({ stmt: s.target.name, reason: made });
      out.push(s);
      continue;
    }
    out.push(...made.stmts, made.stmt);
    rewritten.push({ stmt: s.target.name, chunk, used: made.chunk, length: made.length });
  }
  return { program: rewritten.length ? { ...p, stmts: out } : p, rewritten, declined };
}

/** A fold (not a scan) whose output is one of its fields, whole: the final state. */
function isFinalState(d: FoldDef, k: number): boolean {
  const e = d.outputs[k]?.expr;
  return d.kind === 'fold' && e?.op === 'state' && e.of === 'self';
}

const sum = (xs: readonly Expr[]): Expr => xs.reduce((a, b) => binary('add', a, b));
const product = (xs: readonly Expr[], dtype: Expr['dtype']): Expr => (xs.length ? xs.reduce((a, b) => binary('mul', a, b)) : constant(1, dtype));
const f32 = (e: Expr) => cast(e, 'f32');

function terms(e: Expr): Expr[] {
  return e.op === 'binary' && e.fn === 'add' ? [...terms(e.a), ...terms(e.b)] : [e];
}
function factors(e: Expr): Expr[] {
  return e.op === 'binary' && e.fn === 'mul' ? [...factors(e.a), ...factors(e.b)] : [e];
}
function readsState(e: Expr): boolean {
  if (e.op === 'state') return true;
  return children(e).some(readsState);
}
const isIdentityRead = (e: Expr, f: StateField) =>
  e.op === 'state' && e.of === 'self' && e.field === f.name && e.index.every((ix, k) => ix.op === 'var' && ix.name === f.axes[k]!.name);

/** The fold's update with its locals substituted, or why not. */
function inlineLocals(d: FoldDef, e: Expr): Expr | string {
  const locals = new Map<string, Expr>();
  for (const l of d.locals) {
    if (readsState(l.expr)) return `the step's local ${l.name} reads the state`;
    locals.set(l.name, substLocals(l.expr, locals));
  }
  return substLocals(e, locals);
}
function substLocals(e: Expr, locals: ReadonlyMap<string, Expr>): Expr {
  return mapExpr(e, (n) => (n.op === 'local' ? locals.get(n.name)! : n));
}

/** A field's update as decay * field + additive, or why it is not. */
function linearOf(d: FoldDef, k: number, ranges: Readonly<Record<string, readonly [number, number]>>): Linear | string {
  const field = d.state[k]!;
  const init = d.init[k]!;
  if (init.op !== 'const' || init.value !== 0) return `state ${field.name} starts at ${printExpr(init)}, not 0`;
  const u = inlineLocals(d, d.update[k]!);
  if (typeof u === 'string') return u;
  let decay: Expr | undefined | null = null;
  const additive: Expr[] = [];
  for (const term of terms(u)) {
    const fs = factors(term);
    const own = fs.filter((f) => isIdentityRead(f, field));
    const rest = fs.filter((f) => !isIdentityRead(f, field));
    if (rest.some(readsState)) return `the update of ${field.name} reads the state other than as ${field.name} itself (${printExpr(term)})`;
    if (own.length > 1) return `the update of ${field.name} is not linear in it (${printExpr(term)})`;
    if (own.length === 0) {
      additive.push(term);
      continue;
    }
    if (decay !== null) return `the update of ${field.name} has more than one term in ${field.name}`;
    decay = rest.length ? product(rest, field.dtype) : undefined;
  }
  if (decay === null) return `the update of ${field.name} does not carry the state over`;
  if (!additive.length) return `the update of ${field.name} adds nothing`;
  if (decay?.op === 'const' && decay.value === 1) decay = undefined;
  if (decay && !positive(decay, ranges)) {
    return `the decay of ${field.name}, ${printExpr(decay)}, is not known to be positive, and the chunked form works with its logarithm: write it as exp of a log-decay (or a sigmoid)`;
  }
  const fieldVars = new Set(field.axes.map((a) => a.name));
  if (decay && [...freeVars(decay)].filter((v) => fieldVars.has(v)).length > 1) {
    return `the decay of ${field.name} reads more than one of its axes (${printExpr(decay)})`;
  }
  return { field, decay, additive: sum(additive) };
}

/** The sums of a query times a field in an output, each replaced by `replace`, or why not. */
function readoutsOf(d: FoldDef, e: Expr): Readout[] | string {
  const found: Readout[] = [];
  const walk = (n: Expr): string | undefined => {
    if (n.op === 'reduce' && n.fn === 'sum' && n.axes.length === 1) {
      const x = n.axes[0]!.name;
      const fs = factors(n.body);
      const states = fs.filter((f) => f.op === 'state');
      const rest = fs.filter((f) => f.op !== 'state');
      const s = states[0];
      if (states.length === 1 && s?.op === 'state' && !rest.some(readsState)) {
        const field = d.state.find((f) => f.name === s.field)!;
        const pos = s.index.findIndex((ix) => ix.op === 'var' && ix.name === x);
        if (pos >= 0 && s.index.every((ix, k) => k === pos || !intVars(ix).has(x))) {
          found.push({ node: n, field, x, pos, query: product(rest, n.dtype), index: s.index });
          return undefined;
        }
      }
    }
    if (n.op === 'state') return `an output reads state ${n.field} other than through a sum over one of its axes of a query times it`;
    for (const c of children(n)) {
      const why = walk(c);
      if (why) return why;
    }
    return undefined;
  };
  const why = walk(e);
  return why ?? found;
}

interface Derived {
  readonly stmts: readonly Stmt[];
  readonly stmt: Stmt;
  readonly chunk: number;
  readonly length: number;
}

/** A recurrence the chunked form applies to: its scanned axis and length, its output's readouts, its fields' updates. */
interface Recurrence {
  readonly def: FoldDef;
  readonly t: Axis;
  readonly T: number;
  readonly out: FoldOutput;
  readonly reads: readonly Readout[];
  readonly linear: ReadonlyMap<string, Linear>;
}

/** The chunked statements for one output of a scan (or the final state of a fold), or why not. */
function derive(p: Program, s: Stmt, sizes: Sizes, chunk: number, fresh: (base: string) => string, memo: Map<string, TensorDecl>): Derived | string {
  const r = recurrenceOf(p, s, sizes);
  if (typeof r === 'string') return r;
  const form = new ChunkedForm(s, r, chunk, sizes, fresh, memo);
  const stmt = form.output();
  return typeof stmt === 'string' ? stmt : { stmts: form.stmts, stmt, chunk: form.C, length: r.T };
}

/** The statement's recurrence, or why the chunked form does not apply to it. */
function recurrenceOf(p: Program, s: Stmt, sizes: Sizes): Recurrence | string {
  const root = s.expr as Extract<Expr, { op: 'fold' }>;
  const def = root.def;
  if (def.over.length !== 1) return `the fold runs over ${def.over.length} axes, not one`;
  const t = def.over[0]!;
  if (p.dynamic && [...intSyms(t.size)].some((n) => Object.hasOwn(p.dynamic!, n))) return `the scanned axis ${t.name} has a dynamic length`;
  const out = def.outputs[root.output]!;
  const ranges: Record<string, [number, number]> = {};
  for (const a of [...def.outer, ...def.over, ...def.state.flatMap((f) => f.axes), ...out.axes]) ranges[a.name] = [0, evalInt(a.size, sizes) - 1];
  const reads = def.kind === 'scan' ? readoutsOf(def, out.expr) : [];
  if (typeof reads === 'string') return reads;
  const fields = new Set([...reads.map((r) => r.field.name), ...(out.expr.op === 'state' ? [out.expr.field] : [])]);
  if (!fields.size) return 'no output reads the state';
  const linear = new Map<string, Linear>();
  for (const name of fields) {
    const l = linearOf(def, def.state.findIndex((f) => f.name === name), ranges);
    if (typeof l === 'string') return l;
    linear.set(name, l);
  }
  return { def, t, T: evalInt(t.size, sizes), out, reads, linear };
}

/**
 * The statements of one chunked recurrence, over the index variables `c` (the chunk), `pi` and
 * `pj` (positions in it: a step and a step it reads from) and `x` (the summed key dimension),
 * named apart from everything the fold binds. Each intermediate takes the variables its
 * expression reads, outer axes first, and one equal to an earlier one (a normalizer's scores, the
 * final state's chunk states) is that one.
 */
class ChunkedForm {
  readonly stmts: Stmt[] = [];
  /** Steps per chunk (at most the length) and chunks. */
  readonly C: number;
  private readonly nC: number;
  private readonly used: Set<string>;
  private readonly sizeOf: Map<string, IntExpr>;
  /** Variables in storage order, outermost first (the sub-chunk ones join when named). */
  private readonly order: string[];
  private readonly c: string;
  private readonly pi: string;
  private readonly pj: string;
  private readonly x: string;
  private readonly zero = constant(0, 'f32');

  constructor(
    private readonly s: Stmt,
    private readonly r: Recurrence,
    chunk: number,
    sizes: Sizes,
    private readonly fresh: (base: string) => string,
    private readonly memo: Map<string, TensorDecl>,
  ) {
    const d = r.def;
    this.C = Math.max(1, Math.min(chunk, r.T));
    this.nC = Math.ceil(r.T / this.C);
    this.used = new Set([...d.outer, ...d.over, ...d.state.flatMap((f) => f.axes), ...r.out.axes, ...s.target.axes].map((a) => a.name));
    visitExpr(r.out.expr, (n) => n.op === 'reduce' && n.axes.forEach((a) => this.used.add(a.name)));
    [this.c, this.pi, this.pj, this.x] = [this.name('chunk'), this.name('pos'), this.name('src'), this.name('x')];
    this.sizeOf = new Map([...d.outer, ...d.state.flatMap((f) => f.axes), ...r.out.axes].map((a) => [a.name, int(evalInt(a.size, sizes))]));
    this.sizeOf.set(this.c, int(this.nC)).set(this.pi, int(this.C)).set(this.pj, int(this.C));
    this.order = [...d.outer.map((a) => a.name), this.c, this.pi, this.pj];
  }

  /** The statement computing the output: its readouts replaced by the chunked form, or the last chunk's state. */
  output(): Stmt | string {
    const { def, t, out } = this.r;
    // the statement's own variables are the fold's outer, scanned and output axes, renamed
    const own: Record<string, IntExpr> = {};
    [...def.outer, ...(def.kind === 'scan' ? [t] : []), ...out.axes].forEach((a, k) => (own[a.name] = ivar(this.s.target.axes[k]!.name)));
    if (out.expr.op === 'state') {
      const read = out.expr;
      const l = this.r.linear.get(read.field)!;
      const idx: Record<string, IntExpr> = { [this.c]: int(this.nC - 1) };
      l.field.axes.forEach((a, k) => (idx[a.name] = read.index[k]!));
      return { target: this.s.target, expr: cast(substIndex(this.at(this.chunkStates(l), idx), own), read.dtype) };
    }
    const replaced = new Map<Expr, Expr>();
    for (const r of this.r.reads) {
      const e = this.readout(r);
      if (typeof e === 'string') return e;
      replaced.set(r.node, e);
    }
    return { target: this.s.target, expr: substIndex(replaceNodes(out.expr, replaced), own) };
  }

  /** `sum[d](q · S[.., d, ..])` at step t: the products within t's chunk plus the state the chunks before it left. */
  private readout(r: Readout): Expr | string {
    const { c, pi, pj, x } = this;
    const l = this.r.linear.get(r.field.name)!;
    const dAxis = r.field.axes[r.pos]!.name;
    const da = decayAxis(l);
    if (da !== undefined && da !== dAxis) return `the decay of ${r.field.name} reads its axis ${da}, but the output sums over ${dAxis}`;
    const split = splitAdditive(l, dAxis);
    if (typeof split === 'string') return split;
    const G = this.cumulative(l);
    // the value axes of the field, as the output indexes them
    const valueAt: Record<string, IntExpr> = {};
    r.field.axes.forEach((a, k) => k !== r.pos && (valueAt[a.name] = r.index[k]!));
    this.sizeOf.set(x, this.sizeOf.get(dAxis)!);
    // the summed variable under one name for every readout, so equal intermediates are shared
    const query = substIndex(r.query, { [r.x]: ivar(x) });
    const parts: Parts = {
      q: (pos) => f32(this.atStep(query, pos)),
      key: (pos) => this.masked(f32(this.atStep(split.key, pos, { [dAxis]: ivar(x) })), pos),
      G,
      // G read at the summed variable for a vector decay
      onX: da !== undefined ? { [da]: ivar(x) } : {},
      vector: da !== undefined,
    };
    const weights = this.scores(parts);
    const intra = this.define('intra', reduce('sum', [{ name: pj, size: int(this.C) }], binary('mul', this.at(weights, {}), f32(this.atStep(split.value, pj, valueAt)))));
    // what the chunks before this one left, decayed to this step
    const prev: Record<string, IntExpr> = { [c]: ibin('max', iadd(ivar(c), -1), 0), [dAxis]: ivar(x), ...valueAt };
    const before = select(compare('gt', iota(ivar(c)), constant(0, 'i32')), this.at(this.chunkStates(l), prev), this.zero);
    const inDecay = G ? unary('exp', this.at(G, parts.onX)) : undefined;
    const xAxis = [{ name: x, size: this.sizeOf.get(x)! }];
    const q = parts.q(pi);
    const carried = parts.vector && inDecay ? binary('mul', this.at(this.define('querydecay', binary('mul', q, inDecay)), {}), before) : binary('mul', q, before);
    const interSum = this.at(this.define('inter', reduce('sum', xAxis, carried)), {});
    const inter = !parts.vector && inDecay ? binary('mul', interSum, inDecay) : interSum;
    const here: Record<string, IntExpr> = { [c]: ibin('floordiv', ivar(this.r.t.name), this.C), [pi]: ibin('mod', ivar(this.r.t.name), this.C) };
    return cast(substIndex(binary('add', this.at(intra, {}), inter), here), r.node.dtype);
  }

  /** The query-key products inside each chunk, causal; a vector decay weights each term, a scalar one the sum. */
  private scores(parts: Parts): TensorDecl {
    const { pi, pj, x } = this;
    const { q, key, G } = parts;
    const xAxis = [{ name: x, size: this.sizeOf.get(x)! }];
    const gap = (a: IntExpr, b: IntExpr) => unary('exp', binary('sub', this.at(G!, { ...parts.onX, [pi]: a }), this.at(G!, { ...parts.onX, [pi]: b })));
    const causal = this.cmp('le', ivar(pj), ivar(pi));
    if (!parts.vector) {
      const products = this.at(this.define('scores', reduce('sum', xAxis, binary('mul', q(pi), key(pj)))), {});
      return this.define('weights', select(causal, G ? binary('mul', products, gap(ivar(pi), ivar(pj))) : products, this.zero));
    }
    const sub = subChunk(this.C);
    if (sub) return this.subChunkScores(parts, sub);
    return this.define('scores', reduce('sum', xAxis, select(causal, binary('mul', binary('mul', q(pi), key(pj)), gap(ivar(pi), ivar(pj))), this.zero)));
  }

  /**
   * A vector decay's scores by sub-chunks of `n` steps (secondary chunking): a step's products
   * with the steps of earlier sub-chunks are one matrix product of the query and keys decayed to
   * and from the start of the query's sub-chunk (both exponents at most 0); only the products
   * within a sub-chunk take an exponential per term.
   */
  private subChunkScores(parts: Parts, n: number): TensorDecl {
    const { pi, pj, x, zero } = this;
    const { q, key } = parts;
    const G = parts.G!;
    // j: a sub-chunk; later: one with sub-chunks before it (j = later + 1), the only ones with products off the diagonal
    const [j, later, u, w] = [this.name('sub'), this.name('later'), this.name('at'), this.name('from')];
    this.sizeOf.set(j, int(this.C / n)).set(later, int(this.C / n - 1)).set(u, int(n)).set(w, int(n));
    // chunk, sub-chunk, then a step in it: [c, later, at, src], [c, sub, at, from], [c, later, src, x]
    if (!this.order.includes(j)) this.order.splice(this.order.indexOf(pi), 0, j, later, u);
    if (!this.order.includes(w)) this.order.push(w);
    const xAxis = [{ name: x, size: this.sizeOf.get(x)! }];
    const start = (jj: IntExpr) => imul(jj, n);
    const Gat = (pos: IntExpr) => this.at(G, { ...parts.onX, [pi]: pos });
    // G just before sub-chunk jj: the reference both exponents are taken from
    const ref = (jj: IntExpr) => Gat(ibin('max', iadd(start(jj), -1), 0));
    const ofSub = (pos: IntExpr) => ibin('floordiv', pos, n);
    const qs = this.define('querysub', binary('mul', q(pi), unary('exp', binary('sub', Gat(ivar(pi)), ref(ofSub(ivar(pi)))))));
    const sub = iadd(ivar(later), 1);
    const ks = this.define('keysub', select(this.cmp('lt', ivar(pj), start(sub)), binary('mul', key(pj), unary('exp', binary('sub', ref(sub), Gat(ivar(pj))))), zero));
    const off = this.define('scoresoff', reduce('sum', xAxis, binary('mul', this.at(qs, { [pi]: iadd(start(sub), ivar(u)) }), this.at(ks, {}))));
    const [pu, pw] = [iadd(start(ivar(j)), ivar(u)), iadd(start(ivar(j)), ivar(w))];
    const within = binary('mul', binary('mul', q(pu), key(pw)), unary('exp', binary('sub', Gat(pu), Gat(pw))));
    const diag = this.define('scoresdiag', reduce('sum', xAxis, select(this.cmp('le', ivar(w), ivar(u)), within, zero)));
    const [si, sj] = [ofSub(ivar(pi)), ofSub(ivar(pj))];
    const inner = { [u]: ibin('mod', ivar(pi), n) };
    const same = select(this.cmp('le', ivar(pj), ivar(pi)), this.at(diag, { [j]: si, ...inner, [w]: ibin('mod', ivar(pj), n) }), zero);
    // off the diagonal the step's sub-chunk is a later one (at least 1)
    const earlier = this.at(off, { [later]: ibin('max', iadd(si, -1), 0), ...inner });
    return this.define('scores', select(this.cmp('lt', sj, si), earlier, select(this.cmp('eq', sj, si), same, zero)));
  }

  /** The log-decay summed over each chunk up to each step (a scan within the chunk), or undefined for a decay of 1. */
  private cumulative(l: Linear): TensorDecl | undefined {
    if (!l.decay) return undefined;
    const { pi } = this;
    return this.prefixSum('cumdecay', this.masked(binary('max', logOf(f32(this.atStep(l.decay, pi))), constant(LOG_DECAY_FLOOR, 'f32')), pi), pi);
  }

  /** The state after each chunk, as a scan over the chunks of its per-chunk contribution. */
  private chunkStates(l: Linear): TensorDecl {
    const { c, pi, pj, zero } = this;
    const G = this.cumulative(l);
    const last = int(this.C - 1);
    const toEnd = G ? unary('exp', binary('sub', this.at(G, { [pi]: last }), this.at(G, { [pi]: ivar(pj) }))) : undefined;
    // the key part decayed to the chunk's end, stored once, times the value part (where the term splits)
    const da = decayAxis(l) ?? l.field.axes[0]?.name;
    const split = da !== undefined ? splitAdditive(l, da) : undefined;
    const steps = [{ name: pj, size: int(this.C) }];
    const fieldNames = l.field.axes.map((a) => a.name);
    let sum: Expr;
    if (!split || typeof split === 'string') {
      const add = this.masked(f32(this.atStep(l.additive, pj)), pj);
      sum = reduce('sum', steps, toEnd ? binary('mul', toEnd, add) : add);
    } else {
      const key = this.masked(f32(this.atStep(split.key, pj)), pj);
      const decayed = toEnd ? this.at(this.define('keydecay', binary('mul', key, toEnd)), {}) : key;
      sum = reduce('sum', steps, binary('mul', decayed, f32(this.atStep(split.value, pj))));
    }
    const W = this.at(this.define('chunksum', sum, fieldNames), {});
    // a row per point of the outer axes and the key axis, its state a row over the value axes: the
    // states come out chunk by chunk with the value axes innermost, as the readout reads them
    const keyAxis = da ?? fieldNames[0];
    const valueAxes = l.field.axes.filter((a) => a.name !== keyAxis).map((a) => ({ name: a.name, size: this.sizeOf.get(a.name)! }));
    const valueNames = new Set(valueAxes.map((a) => a.name));
    const outerVars = [...freeVars(W), ...(G ? freeVars(this.at(G, { [pi]: last })) : [])].filter((v) => v !== c && !valueNames.has(v));
    const outer = this.axesOf(new Set(outerVars), fieldNames);
    const S: StateField = { name: 'S', dtype: 'f32', axes: valueAxes };
    const P: StateField = { name: 'P', dtype: 'f32', axes: [] };
    const idx = valueAxes.map((a) => ivar(a.name));
    const [sv, so, pv, po] = [stateRead(S, idx), stateRead(S, idx, 'other'), stateRead(P, []), stateRead(P, [], 'other')];
    const decay = G ? unary('exp', this.at(G, { [pi]: last })) : undefined;
    const over = [{ name: c, size: int(this.nC) }];
    const def: FoldDef = decay
      ? {
          kind: 'scan', outer, over, state: [P, S], init: [constant(1, 'f32'), zero], locals: [],
          update: [binary('mul', decay, pv), binary('add', binary('mul', decay, sv), W)],
          merge: [binary('mul', pv, po), binary('add', binary('mul', po, sv), so)],
          outputs: [{ axes: valueAxes, expr: sv }],
        }
      : { kind: 'scan', outer, over, state: [S], init: [zero], locals: [], update: [binary('add', sv, W)], merge: [binary('add', sv, so)], outputs: [{ axes: valueAxes, expr: sv }] };
    return this.remember(`scan ${outer.map((a) => a.name).join(',')}|${valueAxes.map((a) => a.name).join(',')}=${printExpr(W)};${decay ? printExpr(decay) : ''}`, () => ({
      target: { name: this.fresh(`${this.s.target.name}_chunkstate`), dtype: 'f32', axes: [...outer, ...over, ...valueAxes] },
      expr: { op: 'fold', dtype: 'f32', def, output: 0 },
    }));
  }

  /** A scan over `over` of the running sum of `x`, over the variables `x` reads. */
  private prefixSum(base: string, x: Expr, over: string): TensorDecl {
    const outer = this.axesOf(new Set([...freeVars(x)].filter((v) => v !== over)));
    const acc: StateField = { name: 'acc', dtype: 'f32', axes: [] };
    const self = stateRead(acc, []);
    const overAxis = { name: over, size: this.sizeOf.get(over)! };
    const def: FoldDef = {
      kind: 'scan', outer, over: [overAxis], state: [acc], init: [this.zero], locals: [],
      update: [binary('add', self, x)], merge: [binary('add', self, stateRead(acc, [], 'other'))], outputs: [{ axes: [], expr: self }],
    };
    return this.remember(`scan ${outer.map((a) => a.name).join(',')}=${printExpr(x)}`, () => ({
      target: { name: this.fresh(`${this.s.target.name}_${base}`), dtype: 'f32', axes: [...outer, overAxis] },
      expr: { op: 'fold', dtype: 'f32', def, output: 0 },
    }));
  }

  /** A statement over the free variables of `expr`, reused when one is equal. */
  private define(base: string, expr: Expr, then: readonly string[] = []): TensorDecl {
    const axes = this.axesOf(freeVars(expr), then);
    const key = `${axes.map((a) => `${a.name}:${JSON.stringify(a.size)}`).join(',')}=${printExpr(expr)}`;
    return this.remember(key, () => ({ target: { name: this.fresh(`${this.s.target.name}_${base}`), dtype: 'f32', axes }, expr }));
  }

  /** Variables as axes: the fold's outer ones, then chunk and positions, then those of `then` in its order. */
  private axesOf(vars: ReadonlySet<string>, then: readonly string[] = []): Axis[] {
    const rank = (v: string) => (this.order.includes(v) ? this.order.indexOf(v) : this.order.length);
    return [...vars].sort((a, b) => rank(a) - rank(b) || then.indexOf(a) - then.indexOf(b)).map((v) => ({ name: v, size: this.sizeOf.get(v)! }));
  }

  /** The statement made for `key` before, else `make()`'s, added. */
  private remember(key: string, make: () => Stmt): TensorDecl {
    const known = this.memo.get(key);
    if (known) return known;
    const made = make();
    this.memo.set(key, made.target);
    this.stmts.push(made);
    return made.target;
  }

  private name(base: string): string {
    let n = base;
    for (let k = 2; this.used.has(n); k++) n = `${base}${k}`;
    this.used.add(n);
    return n;
  }

  private at(decl: TensorDecl, map: Readonly<Record<string, IntExpr>>): Expr {
    return load(decl, decl.axes.map((a) => map[a.name] ?? ivar(a.name)));
  }

  /** The step of position `pos` of chunk c, clamped to the last step (a position past it is masked where read). */
  private stepOf(pos: string | IntExpr): IntExpr {
    const at = iadd(imul(ivar(this.c), this.C), typeof pos === 'string' ? ivar(pos) : pos);
    return this.r.T % this.C === 0 ? at : ibin('min', at, this.r.T - 1);
  }

  /** `e` at the step of position `pos` of chunk c (a variable's name, or any index). */
  private atStep(e: Expr, pos: string | IntExpr, rename: Readonly<Record<string, IntExpr>> = {}): Expr {
    return substIndex(e, { ...rename, [this.r.t.name]: this.stepOf(pos) });
  }

  /** `e`, or 0 at a position past the last step. */
  private masked(e: Expr, pos: string | IntExpr): Expr {
    if (this.r.T % this.C === 0) return e;
    const at = iadd(imul(ivar(this.c), this.C), typeof pos === 'string' ? ivar(pos) : pos);
    return select(compare('lt', iota(at), constant(this.r.T, 'i32')), e, this.zero);
  }

  private cmp(fn: 'le' | 'lt' | 'eq', a: IntExpr, b: IntExpr): Expr {
    return compare(fn, iota(a), iota(b));
  }
}

/** One readout's pieces: the query and key at a position, the cumulative log-decay, how it is read at the summed variable. */
interface Parts {
  readonly q: (pos: string | IntExpr) => Expr;
  readonly key: (pos: string | IntExpr) => Expr;
  readonly G: TensorDecl | undefined;
  readonly onX: Readonly<Record<string, IntExpr>>;
  readonly vector: boolean;
}

/** Whether `e` is positive wherever it is evaluated: an exponential or sigmoid, or a range above 0. */
function positive(e: Expr, ranges: Readonly<Record<string, readonly [number, number]>>): boolean {
  if (e.op === 'unary' && (e.fn === 'exp' || e.fn === 'sigmoid')) return true;
  if (e.op === 'binary' && (e.fn === 'mul' || e.fn === 'div')) return positive(e.a, ranges) && positive(e.b, ranges);
  if (e.op === 'binary' && e.fn === 'pow') return positive(e.a, ranges);
  if (e.op === 'cast') return positive(e.x, ranges);
  const r = valueRange(e, ranges);
  return r !== undefined && r[0] > 0;
}

/** The range of an expression of constants and index values, or undefined (a load, or not worked out). */
function valueRange(e: Expr, ranges: Readonly<Record<string, readonly [number, number]>>): [number, number] | undefined {
  const sorted = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  switch (e.op) {
    case 'const':
      return [e.value, e.value];
    case 'iota':
      return intRange(e.index, ranges);
    case 'cast':
      return valueRange(e.x, ranges);
    case 'unary': {
      const r = valueRange(e.x, ranges);
      if (!r) return undefined;
      if (e.fn === 'neg') return [-r[1], -r[0]];
      if (e.fn === 'exp') return [Math.exp(r[0]), Math.exp(r[1])];
      return undefined;
    }
    case 'binary': {
      const a = valueRange(e.a, ranges);
      const b = valueRange(e.b, ranges);
      if (!a || !b) return undefined;
      switch (e.fn) {
        case 'add':
          return [a[0] + b[0], a[1] + b[1]];
        case 'sub':
          return [a[0] - b[1], a[1] - b[0]];
        case 'mul':
          return sorted([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]);
        case 'pow':
          // monotone in the exponent for a positive base
          return a[0] > 0 ? sorted([a[0] ** b[0], a[0] ** b[1], a[1] ** b[0], a[1] ** b[1]]) : undefined;
        default:
          return undefined;
      }
    }
    default:
      return undefined;
  }
}

/**
 * `log(sigmoid(x))` as `min(x, 0) - log(1 + exp(-|x|))` and `log(exp(x))` as `x`: the gate of a
 * decay underflows to 0 in f32 below x = -88 (and its log to -inf), where the log-sigmoid is just x.
 */
/**
 * The logarithm of a positive decay, taken apart where it is built from exponentials, powers,
 * products and sigmoids (`sigmoid(x)^(1/16)` is `logsigmoid(x) / 16`), so the decay itself is
 * never rounded to 0 or 1 on the way; whatever else, `log` of it.
 */
function logOf(e: Expr): Expr {
  if (e.op === 'unary' && e.fn === 'exp') return stableLogs(e.x);
  if (e.op === 'binary' && e.fn === 'pow') return binary('mul', stableLogs(e.b), logOf(e.a));
  if (e.op === 'binary' && e.fn === 'mul') return binary('add', logOf(e.a), logOf(e.b));
  if (e.op === 'binary' && e.fn === 'div') return binary('sub', logOf(e.a), logOf(e.b));
  return stableLogs(unary('log', e));
}

function stableLogs(e: Expr): Expr {
  return mapExpr(e, (n) => {
    if (n.op !== 'unary' || n.fn !== 'log' || n.x.op !== 'unary') return n;
    const x = n.x.x;
    if (n.x.fn === 'exp') return x;
    if (n.x.fn !== 'sigmoid') return n;
    const one = constant(1, x.dtype);
    return binary('sub', binary('min', x, constant(0, x.dtype)), unary('log', binary('add', one, unary('exp', unary('neg', unary('abs', x))))));
  });
}

/**
 * Sub-chunks per chunk for a vector decay's scores. Each sub-chunk but the first needs the keys
 * decayed to its start (a tensor as large as the keys), and each step takes an exponential per
 * key dimension for every step of its own sub-chunk: four trades the two.
 */
export const SUB_CHUNKS = 4;
/** Steps per sub-chunk of a chunk of C steps (0: no sub-chunks, the chunk is short or not a multiple). */
function subChunk(C: number): number {
  return C >= 4 * SUB_CHUNKS && C % SUB_CHUNKS === 0 ? C / SUB_CHUNKS : 0;
}

function decayAxis(l: Linear): string | undefined {
  if (!l.decay) return undefined;
  const fv = freeVars(l.decay);
  return l.field.axes.map((a) => a.name).find((n) => fv.has(n));
}

/** The additive term as key (reads the summed axis `d`) times value (reads the field's other axes). */
function splitAdditive(l: Linear, dAxis: string): { key: Expr; value: Expr } | string {
  const others = new Set(l.field.axes.map((a) => a.name).filter((n) => n !== dAxis));
  const key: Expr[] = [];
  const value: Expr[] = [];
  for (const f of factors(l.additive)) {
    const fv = freeVars(f);
    const onD = fv.has(dAxis);
    const onValue = [...fv].some((v) => others.has(v));
    if (onD && onValue) return `the additive term of ${l.field.name} is not a product of a part over ${dAxis} and a part over its other axes (${printExpr(f)} reads both)`;
    (onD ? key : value).push(f);
  }
  return { key: product(key, l.additive.dtype), value: product(value, l.additive.dtype) };
}

function replaceNodes(e: Expr, map: ReadonlyMap<Expr, Expr>): Expr {
  const r = map.get(e);
  if (r) return r;
  const kids = children(e);
  const next = kids.map((k) => replaceNodes(k, map));
  return next.every((k, i) => k === kids[i]) ? e : withChildren(e, next);
}

