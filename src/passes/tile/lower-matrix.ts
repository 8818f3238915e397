import { type KExpr } from '../../ir/kernel.js';
import { type MatrixOperand, type TFold, type TNode, visitNodes } from '../../ir/tile.js';
import { type KernelBuilder } from '../kernel-builder.js';

/**
 * A fold held in matrix units (tensor cores): one 16x16 f32 accumulator fragment per point of its
 * register tile, and one operand fragment per value of the unrolled variable each operand varies
 * with, declared up front as the cooperative matrix statements require.
 */
export class MatrixTile {
  private readonly acc = new Map<string, string>();
  private readonly operands = new Map<string, { name: string; op: MatrixOperand }>();

  constructor(
    private readonly k: KernelBuilder,
    readonly fold: TFold,
    body: readonly TNode[],
  ) {
    const dtype = fold.matrix!.dtype;
    for (const point of points(fold)) {
      const name = `facc${point.join('_')}`;
      k.emit({ op: 'matrixDecl', name, role: 'acc', dtype: 'f32', layout: 'row' });
      this.acc.set(point.join(','), name);
    }
    const extent = (v: string) => fold.tile?.find((d) => d.var === v)?.extent ?? 1;
    visitNodes(body, (n) => {
      if (n.op !== 'mma' || n.fold !== fold.name) return;
      for (const [role, op] of [['a', n.a], ['b', n.b]] as const) {
        for (let v = 0; v < extent(op.per); v++) {
          const key = `${role}:${v}`;
          if (this.operands.has(key)) continue;
          const name = `f${role}${v}`;
          k.emit({ op: 'matrixDecl', name, role, dtype, layout: op.layout });
          this.operands.set(key, { name, op });
        }
      }
    });
  }

  /** Every accumulator starts at zero. */
  init(): void {
    for (const name of this.acc.values()) this.k.emit({ op: 'matrixFill', name, value: 0 });
  }

  accumulator(point: readonly number[]): string {
    return this.acc.get(point.join(','))!;
  }

  /** The fragment of operand `role` for value `v` of its variable, loaded from `buffer` at `offset` unless `loaded` says it is. */
  operand(role: 'a' | 'b', v: number, buffer: string, offset: KExpr, stride: number, loaded: (key: string) => boolean): string {
    const f = this.operands.get(`${role}:${v}`)!;
    if (!loaded(`${f.name}:${JSON.stringify(offset)}`)) {
      this.k.emit({ op: 'matrixLoad', name: f.name, buffer, offset, stride, layout: f.op.layout });
    }
    return f.name;
  }
}

function points(fold: TFold): number[][] {
  let out: number[][] = [[]];
  for (const d of fold.tile ?? []) out = out.flatMap((p) => Array.from({ length: d.extent }, (_, v) => [...p, v]));
  return out;
}
