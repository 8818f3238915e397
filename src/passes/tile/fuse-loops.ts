import { ivar } from '../../ir/intexpr.js';
import { type TNode, type TileKernel, tileNames } from '../../ir/tile.js';
import { decodeIndex } from './from-group.js';

/**
 * Fuses a perfect nest of loops at the top of a kernel (each from 0 in steps of 1 to a constant)
 * (none: a scalar) into one loop over their product: `for i < 3: for j < 2: S` -> `for f < 6: i = f / 2; j = f % 2; S`.
 */
export function fuseLoops(k: TileKernel, base: string): TileKernel {
  const fused = tileNames(k).fresh(base);
  const nest: Extract<TNode, { op: 'loop' }>[] = [];
  let body = k.body;
  for (;;) {
    const only = body.length === 1 ? body[0] : undefined;
    if (only?.op !== 'loop' || !isPlain(only)) break;
    nest.push(only);
    body = only.body;
  }
  const extents = nest.map((l) => (l.to.op === 'int' ? l.to.value : 0));
  const coords = decodeIndex(ivar(fused), extents);
  const lets = nest.map((l, i): TNode => ({ op: 'let', var: l.var, value: coords[i]! }));
  const total = extents.reduce((a, b) => a * b, 1);
  const loop: TNode = { op: 'loop', var: fused, kind: 'serial', from: { op: 'int', value: 0 }, to: { op: 'int', value: total }, step: 1, body: [...lets, ...body] };
  return { ...k, body: [loop] };
}

const isPlain = (l: Extract<TNode, { op: 'loop' }>) => l.from.op === 'int' && l.from.value === 0 && l.step === 1 && l.to.op === 'int';
