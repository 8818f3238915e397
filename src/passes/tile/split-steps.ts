import { ibin, iadd, imul, int, ivar } from '../../ir/intexpr.js';
import { type TFold, type TNode, type TScratch, type TileKernel, visitNodes } from '../../ir/tile.js';
import { foldExprs, loadedTensors } from '../../ir/tensor.js';
import { InvalidScheduleError } from '../schedule.js';
import { stateLayout, stateType } from './lower-fold.js';

/**
 * Splits the steps of every fold of a row kernel across `parts` workgroups, which matters where
 * rows are few and long (decoding attention over a long cache, a GEMV's long dot products):
 *
 *     partial:  for row, part:  init; steps of the part; scratch[row, part] = state
 *     combine:  for row:        init; for part: state = merge(state, scratch[row, part]); the row's stores
 *
 * The combine kernel applies the fold's own merge, so any fold splits this way. Parts are
 * contiguous blocks of steps, in order, so a merge that does not commute still sees a prefix and
 * what follows it. A fold that reads another result of the same row cannot start before that
 * result is final, so such kernels are refused, and so are scans (their outputs follow each step).
 */
export function splitSteps(k: TileKernel, parts: number, scratchName: (fold: TFold) => string): TileKernel[] {
  if (parts === 1) return [k];
  const top = k.body.length === 1 ? k.body[0] : undefined;
  if (top?.op !== 'loop') throw new InvalidScheduleError(`${k.name}: splitSteps needs a row kernel`, k.name, 'splitSteps');
  checkSplittable(k);
  const scratch: TScratch[] = k.folds.map((f) => ({
    name: scratchName(f),
    dtype: stateType(f.def.state),
    slots: rowsOf(top) * parts,
    size: stateLayout(f.def.state).size,
  }));
  const slot = iadd(imul(ivar(top.var), parts), ivar('part'));
  // a loop over a fold's steps (the steps directly in it, or in blocks unrolled inside it)
  const stepsOf = (n: TNode): string | undefined => {
    let fold: string | undefined;
    if (n.op === 'loop') visitNodes(n.body, (m) => void (m.op === 'step' && (fold ??= m.fold)));
    return fold;
  };
  const lets = top.body.filter((n) => n.op === 'let');
  const partial: TNode[] = [...lets];
  top.body.forEach((n) => {
    const fold = stepsOf(n);
    if (fold === undefined || n.op !== 'loop') return;
    const steps = n.count ?? (n.to.op === 'int' ? n.to.value : 0);
    const chunk = Math.ceil(steps / parts);
    const from = imul(ivar('part'), chunk);
    partial.push({ op: 'init', fold }, { ...n, from, to: ibin('min', iadd(from, int(chunk)), n.to), count: chunk });
    partial.push({ op: 'save', fold, to: scratch[k.folds.findIndex((f) => f.name === fold)]!.name, index: slot });
  });
  const partLoop: TNode = { op: 'loop', var: 'part', kind: 'serial', from: int(0), to: int(parts), step: 1, body: partial };
  const combine = top.body.map((n): TNode => {
    const fold = stepsOf(n);
    if (fold === undefined || n.op !== 'loop') return n;
    const from = scratch[k.folds.findIndex((f) => f.name === fold)]!.name;
    return { op: 'loop', var: 'part', kind: 'serial', from: int(0), to: int(parts), step: 1, body: [{ op: 'absorb', fold, from, index: slot }] };
  });
  return [
    { ...k, name: `${k.name}_parts`, scratch, body: [{ ...top, body: [partLoop] }] },
    { ...k, name: `${k.name}_combine`, scratch, body: [{ ...top, body: combine }] },
  ];
}

const rowsOf = (l: Extract<TNode, { op: 'loop' }>) => (l.to.op === 'int' ? l.to.value : 0);

function checkSplittable(k: TileKernel): void {
  const produced = new Set<string>(k.folds.flatMap((f) => f.results.map((r) => r.tensor)));
  visitNodes(k.body, (n) => {
    if (n.op === 'store') produced.add(n.tensor);
  });
  for (const f of k.folds) {
    if (f.def.kind === 'scan') {
      throw new InvalidScheduleError(`${k.name}: a scan's outputs follow each step, so its steps cannot be split across workgroups`, k.name, 'splitSteps');
    }
    for (const e of foldExprs(f.def)) {
      for (const t of loadedTensors(e)) {
        if (produced.has(t)) {
          throw new InvalidScheduleError(
            `${k.name}: fold ${f.name} reads ${t}, which the same row computes, so its steps cannot be split across workgroups`,
            k.name,
            'splitSteps',
          );
        }
      }
    }
  }
}
