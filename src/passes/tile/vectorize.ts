import { shapeOf } from '../../ir/bind.js';
import { iadd, imul, ivar } from '../../ir/intexpr.js';
import { type TNode, type TileKernel, substNodes, tileNames } from '../../ir/tile.js';
import { type TensorDecl } from '../../ir/tensor.js';

/** Element types every backend loads and stores as vectors. */
const VECTOR_TYPES: ReadonlySet<string> = new Set(['f32', 'i32', 'u32']);

/**
 * Vectorizes the innermost loop of the top nest when its body is one store along the target's
 * innermost axis: `for j < n: Y[.., j] = f` -> `for jv < n / w: Y[.., jv * w + v] = f (vector v < w)`.
 * Loads in `f` that run along the same axis become vector loads when the kernel is lowered. Where
 * `w` does not divide `n` or the type has no vectors, the kernel is returned as it is.
 */
export function vectorize(k: TileKernel, width: 1 | 2 | 4, target: TensorDecl): TileKernel {
  if (width === 1 || !VECTOR_TYPES.has(target.dtype)) return k;
  const inner = (shapeOf(target).at(-1) ?? 1);
  if (inner % width !== 0) return k;
  const names = tileNames(k);
  const rewrite = (body: readonly TNode[]): TNode[] | undefined => {
    const only = body.length === 1 ? body[0] : undefined;
    if (only?.op !== 'loop') return undefined;
    const deeper = rewrite(only.body);
    if (deeper) return [{ ...only, body: deeper }];
    const store = only.body.length === 1 ? only.body[0] : undefined;
    const last = store?.op === 'store' ? store.index.at(-1) : undefined;
    if (store?.op !== 'store' || store.tensor !== target.name || last?.op !== 'var' || last.name !== only.var) return undefined;
    const lane = names.fresh(`${only.var}_v`);
    const vectorVar = names.fresh(`${only.var}_q`);
    const [stored] = substNodes([store], { [only.var]: iadd(imul(ivar(vectorVar), width), ivar(lane)) });
    const to = only.to.op === 'int' ? only.to.value / width : 0;
    return [{ ...only, var: vectorVar, to: { op: 'int', value: to }, body: [{ ...(stored as Extract<TNode, { op: 'store' }>), vector: { var: lane, width } }] }];
  };
  const body = rewrite(k.body);
  return body ? { ...k, body } : k;
}
