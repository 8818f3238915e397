import { describe, expect, it } from 'vitest';
import { int4Gemm } from '../../../examples/lowbit-gemm.js';
import { randomInputs } from '../../../src/autotune/inputs.js';
import { dot, softmax } from '../../../src/dsl/ops.js';
import { program } from '../../../src/dsl/program.js';
import { type Program } from '../../../src/ir/tensor.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { type RowsKnobs, InvalidScheduleError } from '../../../src/passes/schedule.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';
import { inputsFor } from './inputs.js';

const attention = (dtype: 'f32' | 'f16' = 'f32', causal = false): Program =>
  program('attention', (p) => {
    const [B, H, N, M, D] = p.sizes('B', 'H', 'N', 'M', 'D');
    const q = p.input('Q', dtype, { b: B, h: H, i: N, d: D });
    const k = p.input('K', dtype, { b: B, h: H, j: M, d: D });
    const v = p.input('V', dtype, { b: B, h: H, j: M, e: D });
    let s = dot(q, k, 'd').mul(p.value(D, dtype).rsqrt());
    if (causal) s = p.index('j', M).le(p.index('i', N)).where(s, -Infinity);
    p.output('O', dot(softmax(s, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
  });

const staged = (knobs: Partial<RowsKnobs>) => ({ defaults: { rows: { threadsPerRow: 1, ...knobs } } });
const SIZES = { B: 2, H: 3, N: 37, M: 53, D: 20 };

describe('staging a row fold: lanes own rows, the workgroup shares operand tiles', () => {
  it('a query tile per workgroup: key and value tiles loaded together between barriers, the query row once per lane into registers', () => {
    const plan = lower(attention(), SIZES, staged({ workgroupSize: 16, stageSteps: 8 }));
    const tile = printTile(plan.tiles[0]!);
    expect(tile).toContain('shared K_s1: f32[160]');
    expect(tile).toContain('shared V_s2: f32[160]');
    // the query row, once per lane, in a private array
    expect(tile).toContain('private Q_s0: f32[20]');
    // the last row coordinate is padded to a multiple of the rows per workgroup: 37 -> 48
    expect(tile).toMatch(/i=\(row_g \* 16 \+ row_l\) % 48\)/);
    // barriers are outside every guard; the steps and stores inside
    // every row-dependent operand is staged, so rows past the end step harmlessly: no guard there
    expect(tile).toMatch(/for r0t < 7:\n(.*\n)*? {4}barrier\n {4}for r0s < min\(8, 53 - r0t \* 8\):\n {6}f0 = step/);
    expect(tile).toMatch(/ {2}if \(row_g \* 16 \+ row_l\) % 48 < 37:\n {4}unrolled for o0 < 20:/);
    expect(plan.kernels).toHaveLength(1);
  });

  it('a query row too wide for registers beside the state (D = 128) is staged lane-minor in workgroup memory', () => {
    const plan = lower(attention(), { B: 1, H: 1, N: 40, M: 24, D: 128 }, staged({ workgroupSize: 8, stageSteps: 4 }));
    const tile = printTile(plan.tiles[0]!);
    expect(tile).toContain('shared Q_s0: f32[1024]');
    expect(tile).not.toContain('private');
    expect(tile).toMatch(/Q_s0\[Q_s0_c \* 8 \+ row_l\] = Q\[/);
  });

  it('rows per lane: one state and one query row per point of an unrolled tile, the steps side by side', () => {
    const tile = printTile(lower(attention(), SIZES, staged({ workgroupSize: 4, stageSteps: 8, rowsPerLane: 2 })).tiles[0]!);
    expect(tile).toContain('private Q_s0: f32[20] per point of f0');
    expect(tile).toMatch(/per rr < 2 -> O/);
    expect(tile).toMatch(/for r0s < min\(8, 53 - r0t \* 8\):\n {6}unrolled for rr < 2:\n {8}f0 = step/);
  });

  it('rows per lane without staging: each step once per row of the tile, what the rows share read once', () => {
    const plan = lower(int4Gemm.build('f32'), { M: 1, N: 37, K: 64, G: 32 }, staged({ workgroupSize: 8, rowsPerLane: 4 }));
    expect(printTile(plan.tiles[0]!)).toMatch(/unrolled for r0u < 8:\n {6}unrolled for rr < 4:\n {8}if \(row_g \* 32 \+ rr \* 8 \+ row_l\) % 64 < 37:\n {10}f0 = step/);
    const fits = (knobs: Partial<RowsKnobs>) => () => lower(attention(), SIZES, { defaults: { rows: knobs } });
    expect(fits({ rowsPerLane: 2, threadsPerRow: 4 })).toThrow(/needs one lane per row/);
    expect(fits({ rowsPerLane: 2, threadsPerRow: 1, splitSteps: 2 })).toThrow(/does not combine with splitSteps/);
    expect(fits({ rowsPerLane: 64, threadsPerRow: 1 })).toThrow(/fewer rowsPerLane fit/);
  });

  it('refuses what cannot be staged with a schedule error naming the knob', () => {
    const fits = (knobs: Partial<RowsKnobs>) => () => lower(attention(), { B: 1, H: 1, N: 64, M: 64, D: 128 }, staged(knobs));
    expect(fits({ stageSteps: 64, workgroupSize: 64 })).toThrow(/needs \d+ bytes of workgroup memory; the device has 16384/);
    expect(fits({ stageSteps: 8, threadsPerRow: 4 })).toThrow(/one lane per row/);
    expect(fits({ stageSteps: 8, splitSteps: 2 })).toThrow(/does not combine with splitSteps/);
    expect(fits({ stageSteps: -1 })).toThrow(InvalidScheduleError);
    // a row softmax has no fold operand shared by its rows
    const rowSoftmax = program('softmax', (b) => b.output('Y', softmax(b.input('X', 'f32', { i: b.size('N'), j: b.size('D') }), 'j')));
    expect(() => lower(rowSoftmax, { N: 8, D: 256 }, staged({ stageSteps: 4 }))).toThrow(/exactly one fold|shared by the rows/);
  });
});

onEachDevice(() => {
  describe('staged attention against the reference', () => {
    const cases: [string, Program, Record<string, number>, Partial<RowsKnobs>][] = [
      ['odd sizes, small tiles', attention(), SIZES, { workgroupSize: 16, stageSteps: 8 }],
      ['one row per workgroup, one step per tile', attention(), SIZES, { workgroupSize: 1, stageSteps: 1 }],
      ['a tile longer than the keys', attention(), { ...SIZES, M: 5 }, { workgroupSize: 64, stageSteps: 32 }],
      ['causal', attention('f32', true), SIZES, { workgroupSize: 32, stageSteps: 16 }],
      ['f16 inputs', attention('f16'), SIZES, { workgroupSize: 8, stageSteps: 4 }],
      ['head dim 64', attention(), { B: 1, H: 2, N: 19, M: 33, D: 64 }, { workgroupSize: 32, stageSteps: 16 }],
      ['head dim 128, the query row in workgroup memory', attention(), { B: 1, H: 1, N: 21, M: 19, D: 128 }, { workgroupSize: 8, stageSteps: 4 }],
      ['4 rows per lane', attention(), SIZES, { workgroupSize: 4, stageSteps: 8, rowsPerLane: 4 }],
      ['8 rows per lane, causal, a row tile past the rows', attention('f32', true), { ...SIZES, N: 5 }, { workgroupSize: 2, stageSteps: 16, rowsPerLane: 8 }],
      ['2 rows per lane, the query row in workgroup memory', attention(), { B: 1, H: 1, N: 5, M: 3, D: 84 }, { workgroupSize: 2, stageSteps: 2, rowsPerLane: 2 }],
    ];
    const rowSoftmax = program('softmax', (b) => b.output('Y', softmax(b.input('X', 'f32', { i: b.size('N'), j: b.size('D') }), 'j')));
    cases.push(
      ['int4 GEMV, 4 rows per lane, unstaged', int4Gemm.build('f32'), { M: 1, N: 37, K: 96, G: 32 }, { workgroupSize: 8, rowsPerLane: 4 }],
      ['a row softmax (two folds and a row of stores), 2 rows per lane, unstaged', rowSoftmax, { N: 13, D: 100 }, { workgroupSize: 4, rowsPerLane: 2 }],
      ['attention, 2 rows per lane, unstaged', attention(), SIZES, { workgroupSize: 8, rowsPerLane: 2 }],
    );
    for (const [name, p, sizes, knobs] of cases) {
      // compiling on the software GPU takes longer the longer the unrolled query row and state
      it(name, { timeout: 60_000 + 3_000 * (sizes.D ?? 1) * (knobs.rowsPerLane ?? 1) }, async () => {
        // packed weights take their full integer range
        const packed = p.inputs.some((t) => t.dtype === 'u4');
        const given = packed ? randomInputs(lower(p, sizes).tensors.filter((t) => t.role === 'input')) : inputsFor(p, sizes);
        const r = await checkOnDevice(p, sizes, given, { compile: staged(knobs), tol: p.inputs[0]!.dtype === 'f16' ? { rtol: 2e-2, atol: 2e-3 } : {} });
        expect(r.failures).toEqual([]);
      });
    }
  });
});
