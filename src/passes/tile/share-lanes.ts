import { iadd, ibin, imul, int, ivar } from '../../ir/intexpr.js';
import { type TNode, type TileKernel, visitNodes } from '../../ir/tile.js';
import { InvalidScheduleError } from '../schedule.js';
import { reduceFnOf } from './as-fold.js';

/**
 * Shares the loops of each row among a team of `lanes` invocations (a new lane dimension, the
 * fastest-varying one, so neighbouring invocations read neighbouring elements of a row):
 *
 * - a loop over a fold's steps is split across the team and followed by a merge of the team's
 *   partial states with the fold's own merge function. A commutative fold (a sum, max or min)
 *   deals steps out cyclically (lane t takes t, t + lanes, ...: reads coalesce); any other fold
 *   gives each lane one contiguous block, since its merge combines a prefix with what follows;
 * - any other loop (an elementwise statement's columns, a fold's output row) is dealt out cyclically.
 *
 * Merges synchronize the workgroup, so they are taken out of the row guard: rows past the end
 * take part in them and discard the result. `via` says how merges travel (`subgroup` only for
 * sums, maxima and minima, when the team is the whole workgroup).
 */
export function shareLanes(k: TileKernel, lanes: number, team: string, via: 'workgroup' | 'subgroup'): TileKernel {
  if (lanes === 1) return k;
  const t = ivar(team);
  const defOf = new Map(k.folds.map((f) => [f.name, f.def]));
  const foldIn = (n: TNode): string | undefined => {
    let found: string | undefined;
    visitNodes([n], (m) => {
      if (m.op === 'step') found = m.fold;
    });
    return found;
  };
  const share = (n: TNode): TNode[] => {
    if (n.op !== 'loop') return [n];
    const fold = foldIn(n);
    const def = fold === undefined ? undefined : defOf.get(fold);
    if (!fold || !def) return [{ ...n, from: iadd(n.from, t), step: n.step * lanes }];
    if (def.kind === 'scan') {
      throw new InvalidScheduleError(`${k.name}: a scan runs its steps in order in one invocation; use one invocation per row (threadsPerRow 1)`, k.name, 'threadsPerRow');
    }
    const fn = reduceFnOf(def);
    const mergeVia = fn !== undefined ? via : 'workgroup';
    const merge: TNode = { op: 'merge', fold, lanes: team, via: mergeVia };
    if (fn !== undefined) return [{ ...n, from: iadd(n.from, t), step: n.step * lanes }, merge];
    const steps = n.count ?? (n.to.op === 'int' && n.from.op === 'int' ? n.to.value - n.from.value : 0);
    const chunk = Math.ceil(steps / lanes);
    const from = iadd(n.from, imul(t, chunk));
    return [{ ...n, from, to: ibin('min', iadd(from, int(chunk)), n.to), count: chunk }, merge];
  };
  /**
   * Shares a row's nodes. Merges synchronize, so a guard (rows past the end, a dynamic size) is
   * split around every merge inside it, and its leading names go in front of it (index
   * arithmetic, safe where the guard fails) so that every piece sees them.
   */
  const row = (body: readonly TNode[]): TNode[] => {
    const out: TNode[] = [];
    for (const n of body) {
      if (n.op !== 'guard') {
        out.push(...share(n));
        continue;
      }
      const [lets, rest] = leadingLets(n.body);
      const inner = row(rest);
      if (!inner.some((m) => m.op === 'merge')) {
        out.push({ ...n, body: [...lets, ...inner] });
        continue;
      }
      out.push(...lets);
      let run: TNode[] = [];
      const flush = () => {
        if (run.length) out.push({ ...n, body: run });
        run = [];
      };
      for (const m of inner) {
        if (m.op === 'merge' || (m.op === 'let' && run.length === 0)) {
          flush();
          out.push(m);
        } else if (m.op === 'fetch') {
          // a fetched value outlives the piece of the guard it is in: fetched under the guard's
          // condition, in front of it (nothing is read where the condition fails)
          flush();
          out.push({ ...m, guard: [...(m.guard ?? []), { index: n.index, below: n.below }] });
        } else run.push(m);
      }
      flush();
    }
    return out;
  };
  const body = row(k.body);
  return { ...k, lanes: [...k.lanes, { var: team, extent: lanes }], body };
}

function leadingLets(body: readonly TNode[]): [TNode[], TNode[]] {
  const n = body.findIndex((x) => x.op !== 'let');
  const at = n < 0 ? body.length : n;
  return [body.slice(0, at), body.slice(at)];
}
