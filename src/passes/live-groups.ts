import { type IntExpr, ibin, int, intVars, substInt } from '../ir/intexpr.js';
import type { Limit, TNode, TileKernel } from '../ir/tile.js';

/**
 * How many workgroups of a kernel can do anything, as an expression of the dynamic sizes: a
 * kernel is laid out at their bounds, and where its leading grid dimension walks a dynamic axis
 * (a GEMM's row tiles over M tokens, softmax's rows over N), the workgroups past the size's value
 * only test their guards and exit. A launch needs only the others.
 *
 * The argument: every write to global memory (a store to a tensor, a saved partial state) sits
 * under guards `index < below`; where some guard's index, at its smallest over the lanes, the
 * other grid dimensions and the loops around it, is a non-decreasing function of the leading
 * grid variable `g`, the write happens for no `g` at or past the first value where that smallest
 * index reaches `below`. The kernel's live count is the largest such bound over its writes, times
 * the extents of the grid dimensions after `g` (row-major: `g` is the slowest). Undefined when
 * some write has no such guard, or nothing would be gained.
 */
export function liveGroups(t: TileKernel): IntExpr | undefined {
  const lead = t.grid.findIndex((d) => d.extent > 1);
  if (lead < 0) return undefined;
  const g = t.grid[lead]!;
  const local = new Set([...(t.shared ?? []), ...(t.private ?? [])].map((b) => b.name));
  // each variable's smallest value, where it is known: lanes and the other grid dimensions start
  // at 0, a loop variable at its start (loops count up) when that start never decreases
  const least: Record<string, IntExpr> = {};
  for (const d of [...t.grid, ...t.lanes]) if (d.var !== g.var) least[d.var] = int(0);
  const bounds: IntExpr[] = [];
  let unbounded = false;
  // lets: their values in terms of grid, lane and loop variables
  const walk = (body: readonly TNode[], lets: Record<string, IntExpr>, below: readonly IntExpr[]) => {
    for (const n of body) {
      switch (n.op) {
        case 'let':
          lets = { ...lets, [n.var]: substInt(n.value, lets) };
          break;
        case 'loop': {
          const from = substInt(n.from, lets);
          if (nonDecreasing(from)) least[n.var] = substInt(from, least);
          else delete least[n.var];
          walk(n.body, lets, below);
          break;
        }
        case 'guard': {
          const index = substInt(n.index, lets);
          const bound = nonDecreasing(index) ? firstDead(substInt(index, least), n.below, g.var) : undefined;
          walk(n.body, lets, bound ? [...below, bound] : below);
          break;
        }
        case 'store':
        case 'save':
          if (n.op === 'store' && local.has(n.tensor)) break;
          if (below.length === 0) unbounded = true;
          else bounds.push(below.reduce((a, b) => ibin('min', a, b)));
          break;
        default:
          break;
      }
    }
  };
  walk(t.body, {}, []);
  if (unbounded || bounds.length === 0) return undefined;
  const live = ibin('max', int(0), ibin('min', int(g.extent), bounds.reduce((a, b) => ibin('max', a, b))));
  if (live.op === 'int' && live.value >= g.extent) return undefined;
  const after = t.grid.slice(lead + 1).reduce((a, d) => a * d.extent, 1);
  return ibin('mul', live, int(after));
}

/**
 * The first value of `g` from which `index < below` fails whatever the other variables are, or
 * undefined where that cannot be shown. `index` is non-decreasing in every variable and has the
 * others at their smallest; it must be built from `g` by adding terms without `g`, multiplying
 * by positive constants and floor dividing by them, so the bound solves back through them.
 */
function firstDead(index: IntExpr, below: Limit, g: string): IntExpr | undefined {
  if (!intVars(index).has(g)) return undefined;
  let e = index;
  let limit: IntExpr = typeof below === 'number' ? int(below) : below;
  // only size symbols may remain in the bound: it is evaluated at launch
  for (;;) {
    if (e.op === 'var') return e.name === g && intVars(limit).size === 0 ? limit : undefined;
    if (e.op === 'add') {
      const [withG, rest] = intVars(e.a).has(g) ? [e.a, e.b] : [e.b, e.a];
      if (intVars(rest).has(g)) return undefined;
      limit = ibin('sub', limit, rest);
      e = withG;
    } else if (e.op === 'mul' && (e.a.op === 'int' || e.b.op === 'int')) {
      const [c, x] = e.a.op === 'int' ? [e.a.value, e.b] : [(e.b as { value: number }).value, e.a];
      if (c <= 0) return undefined;
      // c * x >= L  <=>  x >= ceil(L / c)
      limit = ibin('floordiv', ibin('add', limit, c - 1), c);
      e = x;
    } else if (e.op === 'floordiv' && e.b.op === 'int' && e.b.value > 0) {
      // floor(x / d) >= L  <=>  x >= L * d
      limit = ibin('mul', limit, e.b.value);
      e = e.a;
    } else return undefined;
  }
}

/** Whether an expression never decreases as any variable in it grows. */
function nonDecreasing(e: IntExpr): boolean {
  switch (e.op) {
    case 'int':
    case 'sym':
    case 'var':
      return true;
    case 'add':
    case 'min':
    case 'max':
      return nonDecreasing(e.a) && nonDecreasing(e.b);
    case 'mul':
      return (e.a.op === 'int' && e.a.value >= 0 && nonDecreasing(e.b)) || (e.b.op === 'int' && e.b.value >= 0 && nonDecreasing(e.a));
    case 'floordiv':
      return e.b.op === 'int' && e.b.value > 0 && nonDecreasing(e.a);
    case 'sub':
      return intVars(e.b).size === 0 && nonDecreasing(e.a);
    case 'mod':
      return false;
  }
}
