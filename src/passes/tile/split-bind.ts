import { TilecraftError } from '../../ir/errors.js';
import { iadd, imul, ivar } from '../../ir/intexpr.js';
import { type TNode, type TileKernel, tileNames } from '../../ir/tile.js';

/**
 * Splits the kernel's one top-level loop `for v < n` into workgroups of `lanes` invocations:
 * `v = g * lanes + l` with `g` a grid dimension and `l` a lane dimension, guarded where `lanes`
 * does not divide `n`. The loop's body then runs once per invocation.
 */
export function splitBind(k: TileKernel, lanes: number): TileKernel {
  const top = k.body.length === 1 ? k.body[0] : undefined;
  if (top?.op !== 'loop' || top.from.op !== 'int' || top.from.value !== 0 || top.step !== 1 || top.to.op !== 'int') {
    throw new TilecraftError(`internal: kernel ${k.name} has no plain top-level loop to bind`);
  }
  const n = top.to.value;
  const names = tileNames(k);
  const g = names.fresh(`${top.var}_g`);
  const l = names.fresh(`${top.var}_l`);
  const v: TNode = { op: 'let', var: top.var, value: iadd(imul(ivar(g), lanes), ivar(l)) };
  const body: TNode[] = n % lanes === 0 ? [v, ...top.body] : [v, { op: 'guard', index: ivar(top.var), below: n, body: top.body }];
  return {
    ...k,
    grid: [...k.grid, { var: g, extent: Math.max(1, Math.ceil(n / lanes)) }],
    lanes: [...k.lanes, { var: l, extent: lanes }],
    body,
  };
}
