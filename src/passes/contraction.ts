import { type Axis, type Expr, type Stmt, binary, freeVars } from '../ir/tensor.js';

/**
 * The shape of a contraction `C[batch, m, n] = sum[k](A(batch, m, k) * B(batch, n, k))`, read off
 * a reduction statement: the body's factors are split into an A side and a B side so that no
 * factor depends on both an M and an N axis. Each side may be any expression (a cast, a
 * dequantization with its scale) — that is prologue fusion: the tiled kernel stages the side's
 * values, computing the prologue once per staged element.
 */
export interface Contraction {
  /** Output axes both sides depend on (or neither), in output order. */
  readonly batch: readonly Axis[];
  readonly m: readonly Axis[];
  readonly n: readonly Axis[];
  readonly k: readonly Axis[];
  readonly a: Expr;
  readonly b: Expr;
}

/** Flattens a product tree into its factors: (a * b) * c -> [a, b, c]. */
function factors(e: Expr): Expr[] {
  return e.op === 'binary' && e.fn === 'mul' ? [...factors(e.a), ...factors(e.b)] : [e];
}

const product = (fs: readonly Expr[]): Expr => fs.slice(1).reduce((acc, f) => binary('mul', acc, f), fs[0]!);

/** The best A/B split of a sum-reduction's body, or undefined when it is not a contraction. */
export function analyzeContraction(s: Stmt): Contraction | undefined {
  const r = s.expr;
  if (r.op !== 'reduce' || r.fn !== 'sum') return undefined;
  const fs = factors(r.body);
  if (fs.length < 2 || fs.length > 12) return undefined;
  const out = s.target.axes.map((a) => a.name);
  const uses = fs.map((f) => {
    const v = freeVars(f);
    return new Set(out.filter((o) => v.has(o)));
  });
  let best: { score: number; c: Contraction } | undefined;
  // every assignment of factors to the two sides, factor 0 always on side A
  for (let mask = 0; mask < 1 << (fs.length - 1); mask++) {
    const sideOf = (i: number): 0 | 1 => (i === 0 ? 0 : ((mask >> (i - 1)) & 1) as 0 | 1);
    const used: [Set<string>, Set<string>] = [new Set(), new Set()];
    fs.forEach((_, i) => uses[i]!.forEach((v) => used[sideOf(i)]!.add(v)));
    const m = s.target.axes.filter((a) => used[0].has(a.name) && !used[1].has(a.name));
    const n = s.target.axes.filter((a) => used[1].has(a.name) && !used[0].has(a.name));
    if (m.length === 0 && n.length === 0) continue;
    const aSide = fs.filter((_, i) => sideOf(i) === 0);
    const bSide = fs.filter((_, i) => sideOf(i) === 1);
    if (bSide.length === 0) continue;
    // prefer both sides owning axes, then more owned axes, then fewer factors crossing over
    const score = Math.min(m.length, n.length) * 100 + (m.length + n.length) * 10 - Math.abs(aSide.length - bSide.length);
    if (!best || score > best.score) {
      const batch = s.target.axes.filter((a) => !m.includes(a) && !n.includes(a));
      best = { score, c: { batch, m, n, k: r.axes, a: product(aSide), b: product(bSide) } };
    }
  }
  return best?.c;
}
