import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { dot, softmax } from '../../src/dsl/ops.js';
import { withDynamicSizes } from '../../src/ir/bind.js';
import { program } from '../../src/dsl/program.js';
import { randomHost } from '../../src/ir/host.js';
import { type IntExpr, evalInt, int, ivar, sym } from '../../src/ir/intexpr.js';
import { launchGrid } from '../../src/ir/kernel.js';
import type { TNode, TileKernel } from '../../src/ir/tile.js';
import { liveGroups } from '../../src/passes/live-groups.js';
import { lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { gpu, mismatch } from '../helpers/device.js';

/** Programs whose leading axis is dynamic: rows of tokens, compiled once for up to a bound. */
const matmul = program('mm', (p) => {
  const M = p.dynamicSize('M', { max: 200 });
  const [N, K] = p.sizes('N', 'K');
  p.output('C', dot(p.input('A', 'f32', { m: M, k: K }), p.input('B', 'f32', { k: K, n: N }), 'k'));
});
const rows = program('sm', (p) => {
  const N = p.dynamicSize('N', { max: 300 });
  p.output('Y', softmax(p.input('X', 'f32', { i: N, j: p.size('D') }), 'j'));
});
const scaled = program('ew', (p) => {
  const N = p.dynamicSize('N', { max: 300 });
  p.output('Y', p.input('X', 'f32', { i: N, j: p.size('D') }).mul(2));
});

const attention = withDynamicSizes(findExample('attention')!.build('f32'), { N: 300 });

const liveAt = (t: TileKernel, values: Record<string, number>) => {
  const e = liveGroups(t);
  return e ? evalInt(e, values) : undefined;
};

describe('live workgroups of a kernel laid out at a dynamic bound', () => {
  it('counts the row tiles of a GEMM, the rows of a softmax or of attention and the elements of an elementwise kernel that a value of the size needs', () => {
    const mm = lower(matmul, { M: 200, N: 45, K: 37 }, { defaults: { contraction: { blockM: 32, blockN: 32 } } }).tiles[0]!;
    const tn = mm.grid.find((d) => d.var === 'tn')!.extent;
    expect(liveAt(mm, { M: 1 })).toBe(1 * tn);
    expect(liveAt(mm, { M: 33 })).toBe(2 * tn);
    expect(liveAt(mm, { M: 200 })).toBe(7 * tn);
    const sm = lower(rows, { N: 300, D: 70 }, { defaults: { rows: { workgroupSize: 64, threadsPerRow: 8 } } }).tiles[0]!;
    // 8 rows per workgroup of 64 lanes
    expect(liveAt(sm, { N: 41 })).toBe(6);
    expect(liveAt(sm, { N: 300 })).toBe(38);
    const ew = lower(scaled, { N: 300, D: 70 }, { defaults: { elementwise: { workgroupSize: 64, vectorWidth: 1 } } }).tiles[0]!;
    expect(liveAt(ew, { N: 41 })).toBe(Math.ceil((41 * 70) / 64));
    // 64 lanes, one row each, over B * H * N rows decoded at N's value
    const att = lower(attention, { B: 2, H: 3, N: 300, M: 53, D: 16 }, { defaults: { rows: { workgroupSize: 64, threadsPerRow: 1 } } }).tiles[0]!;
    expect(liveAt(att, { N: 37 })).toBe(Math.ceil((2 * 3 * 37) / 64));
  });

  it('has no count where a write is not guarded by the leading grid dimension, or its guard is not monotone in it', () => {
    const store: Extract<TNode, { op: 'store' }> = { op: 'store', tensor: 'Y', index: [ivar('g')], value: { op: 'const', dtype: 'f32', value: 0 } as never };
    const bare: TileKernel = { name: 'k', grid: [{ var: 'g', extent: 8 }], lanes: [{ var: 'l', extent: 4 }], folds: [], body: [store] };
    expect(liveGroups(bare)).toBeUndefined();
    const guarded = (index: IntExpr, ...more: TNode[]): TileKernel => ({ ...bare, body: [{ op: 'guard', index, below: sym('N'), body: [store] }, ...more] });
    const g4l = { op: 'add', a: { op: 'mul', a: ivar('g'), b: int(4) }, b: ivar('l') } as const;
    expect(evalInt(liveGroups(guarded(g4l))!, { N: 9 })).toBe(3);
    // g % 4 < N holds again past any g: nothing can be cut
    expect(liveGroups(guarded({ op: 'mod', a: ivar('g'), b: int(4) }))).toBeUndefined();
    // 31 - l is smallest at the largest lane, not at lane 0: not monotone, so not used
    expect(liveGroups(guarded({ op: 'add', a: { op: 'mul', a: ivar('g'), b: int(32) }, b: { op: 'sub', a: int(31), b: ivar('l') } }))).toBeUndefined();
    // a store to workgroup memory is seen by no other workgroup; one to a tensor is
    expect(liveGroups({ ...guarded(g4l, { ...store, tensor: 'S' }), shared: [{ name: 'S', dtype: 'f32', length: 4 }] })).toBeDefined();
    expect(liveGroups(guarded(g4l, { ...store, tensor: 'S' }))).toBeUndefined();
  });

  it('launches fewer workgroups at a smaller value and computes the same result as the reference', async () => {
    const device = await gpu();
    for (const [p, sizes, dyn, values] of [
      [matmul, { M: 200, N: 45, K: 37 }, 'M', [1, 23, 200]],
      [rows, { N: 300, D: 70 }, 'N', [1, 41, 299]],
      [scaled, { N: 300, D: 70 }, 'N', [3, 300]],
      // queries under b and h: rows decoded at N's value, so the live ones come first
      [attention, { B: 2, H: 3, N: 300, M: 53, D: 16 }, 'N', [1, 37, 300]],
    ] as const) {
      const exe = await Executable.create(device, p, sizes);
      const k = exe.plan.kernels[0]!;
      expect(k.liveGroups, p.name).toBeDefined();
      for (const v of values) {
        const grid = launchGrid(k, { [dyn]: v });
        if (v < 100) expect(grid[0] * grid[1], `${p.name} at ${v}`).toBeLessThan(k.grid[0] * k.grid[1]);
        const at = { ...sizes, [dyn]: v };
        const inputs = Object.fromEntries(p.inputs.map((t, i) => [t.name, randomHost('f32', t.axes.map((a) => evalInt(a.size, at)), i + 1)]));
        const got = await exe.run(inputs, { sizes: { [dyn]: v } });
        const want = evaluate(p, at, inputs).outputs;
        for (const [name, t] of Object.entries(want)) expect(mismatch(got.outputs[name]!, t), `${p.name}.${name} at ${dyn}=${v}`).toBeUndefined();
      }
      exe.destroy();
    }
  }, 240_000);
});
