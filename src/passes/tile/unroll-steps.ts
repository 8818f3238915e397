import { type IntExpr, iadd, ibin, imul, int, ivar, substInt } from '../../ir/intexpr.js';
import { type TNode, type TileKernel } from '../../ir/tile.js';

/**
 * Runs each fold's steps in blocks of `block` consecutive steps, the block unrolled:
 *
 *     for r < L: step(f, r)   →   for rb < ⌈L / block⌉: unrolled for u < block: [r < L:] step(f, rb·block + u)
 *
 * A block's steps sit side by side in straight-line code, so what they share is computed once:
 * the eight 4-bit weights of a packed word (steps `8·rb + u` read word `rb`, see `kdivNonneg`),
 * the scale of their quantization group. The block loop is what later transforms deal out (to a
 * team of lanes, across workgroups), so a lane or a part always takes whole blocks, in order.
 * Steps past the end (a length that `block` does not divide, a dynamic length) are guarded.
 */
export function unrollSteps(k: TileKernel, block: number): TileKernel {
  if (block === 1) return k;
  const rewrite = (nodes: readonly TNode[]): TNode[] =>
    nodes.map((n): TNode => {
      if (n.op === 'guard') return { ...n, body: rewrite(n.body) };
      if (n.op !== 'loop') return n;
      const step = n.body.length === 1 ? n.body[0] : undefined;
      if (step?.op !== 'step' || n.step !== 1 || n.from.op !== 'int' || n.from.value !== 0) return { ...n, body: rewrite(n.body) };
      const rb = `${n.var}b`;
      const u = `${n.var}u`;
      const at: IntExpr = iadd(imul(ivar(rb), block), ivar(u));
      const stepped: TNode = { ...step, at: step.at.map((e) => substInt(e, { [n.var]: at })) };
      const exact = n.to.op === 'int' && n.to.value % block === 0;
      const inner: TNode = {
        op: 'loop',
        var: u,
        kind: 'unroll',
        from: int(0),
        to: int(block),
        step: 1,
        body: exact ? [stepped] : [{ op: 'guard', index: at, below: n.to, body: [stepped] }],
      };
      const blocks: IntExpr = n.to.op === 'int' ? int(Math.ceil(n.to.value / block)) : ibin('floordiv', iadd(n.to, int(block - 1)), int(block));
      const count = n.count === undefined ? {} : { count: Math.ceil(n.count / block) };
      return { op: 'loop', var: rb, kind: 'serial', from: int(0), to: blocks, step: 1, ...count, body: [inner] };
    });
  return { ...k, body: rewrite(k.body) };
}
