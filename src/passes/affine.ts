import { type KExpr, type KStmt, kadd, kchildren, kconst, kdiv, kmapStmts, kmod, kmul } from '../ir/kernel.js';

/**
 * Floor division and remainder of a non-negative index by a positive constant, simplified where
 * the index is affine: `(g·A + c) / d` with `g` dividing `d` and every coefficient is
 * `(A + ⌊c/g⌋) / (d/g)`, and its remainder `g·((A + ⌊c/g⌋) mod (d/g)) + c mod g`. So the eight
 * nibbles of a packed word, read at `8·kb + u` for `u < 8`, all read word `kb` at shift `4u`, and
 * a group scale read at `(8·kb + u) / 128` is one load, `kb / 16`, that the device compiler reads
 * once for all eight. (Proof: with `c = g·q + r`, `0 ≤ r < g`, the index is `g·(A + q) + r ≥ 0`,
 * so `A + q ≥ 0`, and `r < g` cannot carry `A + q` past a multiple of `d/g`.)
 *
 * `a` must be non-negative (an element index, or an index the caller proved non-negative). The
 * result is a plain `div`/`mod` where nothing simplifies.
 */
export function kdivNonneg(a: KExpr, d: number, lets?: LetValues): KExpr {
  const s = split(a, d, lets);
  if (!s) return kdiv(a, kconst(d));
  return s.d === 1 ? s.a : kdiv(s.a, kconst(s.d));
}

export function kmodNonneg(a: KExpr, d: number, lets?: LetValues): KExpr {
  const s = split(a, d, lets);
  if (!s) return kmod(a, kconst(d));
  const high = s.d === 1 ? kconst(0) : kmul(kmod(s.a, kconst(s.d)), kconst(s.g));
  return kadd(high, kconst(s.r));
}

/**
 * The values of a kernel's `let`s, which an affine index may be built from (`let base = n * 512`,
 * then `base + 3`). Only lets whose values read no mutable variable are given: a let's value
 * substituted at a later use must mean what it meant where the let stood.
 */
export type LetValues = ReadonlyMap<string, KExpr>;

/** The immutable lets of a kernel body, by name (names are unique within a kernel). */
export function letValues(body: readonly KStmt[]): LetValues {
  const vars = new Set<string>();
  const lets = new Map<string, KExpr>();
  kmapStmts(body, (s) => {
    // a name bound twice (or also assigned) is not one value
    if (s.op === 'var' || s.op === 'assign' || (s.op === 'let' && lets.has(s.name))) vars.add(s.name);
    else if (s.op === 'let') lets.set(s.name, s.value);
    if (s.op === 'for') vars.add(s.var);
    return [s];
  });
  const readsVar = (e: KExpr, depth: number): boolean => {
    if (depth > 16) return true;
    if (e.op === 'ref') return vars.has(e.name) || (lets.has(e.name) && readsVar(lets.get(e.name)!, depth + 1));
    return kchildren(e).some((c) => readsVar(c, depth + 1));
  };
  return new Map([...lets].filter(([, v]) => !readsVar(v, 0)));
}

/** Σ coef · atom + c over i32 expressions; atoms keyed by their structure. */
interface Linear {
  readonly terms: Map<string, { atom: KExpr; coef: number }>;
  c: number;
}

function linearize(e: KExpr, lets: LetValues | undefined, depth = 0): Linear | undefined {
  if (e.type.scalar !== 'i32' || e.type.lanes !== 1 || depth > 32) return undefined;
  if (e.op === 'const') return { terms: new Map(), c: e.value };
  if (e.op === 'ref' && lets?.has(e.name)) return linearize(lets.get(e.name)!, lets, depth + 1);
  if (e.op === 'binary' && (e.fn === 'add' || e.fn === 'sub')) {
    const a = linearize(e.a, lets, depth + 1);
    const b = linearize(e.b, lets, depth + 1);
    if (!a || !b) return undefined;
    return addTo(a, b, e.fn === 'add' ? 1 : -1);
  }
  if (e.op === 'binary' && e.fn === 'mul') {
    const [x, k] = e.b.op === 'const' ? [e.a, e.b.value] : e.a.op === 'const' ? [e.b, e.a.value] : [undefined, 0];
    if (x) {
      const l = linearize(x, lets, depth + 1);
      return l && scale(l, k);
    }
  }
  return { terms: new Map([[JSON.stringify(e), { atom: e, coef: 1 }]]), c: 0 };
}

function addTo(a: Linear, b: Linear, sign: number): Linear {
  const terms = new Map(a.terms);
  for (const [key, t] of b.terms) {
    const coef = (terms.get(key)?.coef ?? 0) + sign * t.coef;
    if (coef === 0) terms.delete(key);
    else terms.set(key, { atom: t.atom, coef });
  }
  return { terms, c: a.c + sign * b.c };
}

function scale(l: Linear, k: number): Linear {
  if (k === 0) return { terms: new Map(), c: 0 };
  return { terms: new Map([...l.terms].map(([key, t]) => [key, { atom: t.atom, coef: t.coef * k }])), c: l.c * k };
}

const gcd = (a: number, b: number): number => (b === 0 ? Math.abs(a) : gcd(b, a % b));

/** `a` as `g·A' + r` with `g` the common factor of `d` and every coefficient: `A'` and `d / g`. */
function split(a: KExpr, d: number, lets: LetValues | undefined): { a: KExpr; d: number; g: number; r: number } | undefined {
  if (!Number.isSafeInteger(d) || d <= 0) return undefined;
  // the index as written first; through the lets it is built from only where that does not simplify
  const common = (l: Linear) => [...l.terms.values()].reduce((g, t) => gcd(g, t.coef), d);
  let l = linearize(a, undefined);
  if ((!l || (common(l) === 1 && l.terms.size > 0)) && lets) l = linearize(a, lets);
  if (!l) return undefined;
  let g = common(l);
  if (g === 1 && l.terms.size > 0) return undefined;
  if (l.terms.size === 0) g = d; // a constant: folds entirely
  const q = Math.floor(l.c / g);
  const r = l.c - q * g;
  let out: KExpr = kconst(0);
  for (const t of l.terms.values()) out = kadd(out, t.coef / g === 1 ? t.atom : kmul(t.atom, kconst(t.coef / g)));
  out = kadd(out, kconst(q));
  return { a: out, d: d / g, g, r };
}

/**
 * An index as `base + c` with `c` its constant part: `key` names the base (equal keys, equal
 * bases), `multipleOf(n)` says whether every coefficient of the base is a multiple of `n`, and
 * `at(c)` builds `base + c`. Undefined where the index is not affine.
 */
export interface AffineIndex {
  readonly key: string;
  readonly c: number;
  multipleOf(n: number): boolean;
  at(c: number): KExpr;
}

export function affineIndex(e: KExpr): AffineIndex | undefined {
  const l = linearize(e, undefined);
  if (!l) return undefined;
  const terms = [...l.terms].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    key: JSON.stringify(terms.map(([k, t]) => [k, t.coef])),
    c: l.c,
    multipleOf: (n) => terms.every(([, t]) => t.coef % n === 0),
    at: (c) => {
      let out: KExpr = kconst(0);
      for (const [, t] of terms) out = kadd(out, t.coef === 1 ? t.atom : kmul(t.atom, kconst(t.coef)));
      return kadd(out, kconst(c));
    },
  };
}
