import { describe, expect, it } from 'vitest';
import { layernorm, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { int, ivar } from '../../src/ir/intexpr.js';
import { F32, I32, type Kernel, kbinary, kbuiltin, kcast, kconst, kload, kref, kt, kunary, kselect, kbitcast } from '../../src/ir/kernel.js';
import { printKernel } from '../../src/ir/print-kernel.js';
import { printDecl, printExpr, printProgram, printStmt } from '../../src/ir/print.js';
import { binary, cast, compare, constant, iota, load, reduce, select, unary } from '../../src/ir/tensor.js';
import { lower } from '../../src/passes/pipeline.js';

const X = { name: 'X', dtype: 'f32' as const, axes: [{ name: 'i', size: int(4) }] };
const x = load(X, [ivar('i')]);
const c = (v: number, d: 'f32' | 'f16' | 'i32' = 'f32') => constant(v, d);

describe('printExpr', () => {
  it('infix operators with minimal parentheses', () => {
    expect(printExpr(binary('mul', binary('add', x, c(1)), x))).toBe('(X[i] + 1) * X[i]');
    expect(printExpr(binary('add', x, binary('mul', x, c(2))))).toBe('X[i] + X[i] * 2');
    expect(printExpr(binary('sub', x, binary('sub', x, c(1))))).toBe('X[i] - (X[i] - 1)');
    expect(printExpr(binary('sub', binary('sub', x, c(1)), x))).toBe('X[i] - 1 - X[i]');
    expect(printExpr(binary('div', x, binary('mul', x, c(2))))).toBe('X[i] / (X[i] * 2)');
    expect(printExpr(binary('mul', x, binary('div', x, c(2))))).toBe('X[i] * (X[i] / 2)');
  });
  it('function-style operators, comparisons and select', () => {
    expect(printExpr(binary('max', x, c(0)))).toBe('max(X[i], 0)');
    expect(printExpr(binary('pow', x, c(2)))).toBe('pow(X[i], 2)');
    expect(printExpr(binary('mod', x, c(2)))).toBe('mod(X[i], 2)');
    expect(printExpr(select(compare('le', binary('add', x, c(1)), c(3)), unary('exp', x), unary('neg', x)))).toBe(
      'select(X[i] + 1 <= 3, exp(X[i]), -X[i])',
    );
    expect(printExpr(unary('neg', binary('add', x, c(1))))).toBe('-(X[i] + 1)');
    expect(printExpr(cast(compare('eq', x, c(0)), 'i32'))).toBe('i32(X[i] == 0)');
  });
  it('constants carry their dtype unless f32', () => {
    expect(printExpr(c(0.5))).toBe('0.5');
    expect(printExpr(c(0.5, 'f16'))).toBe('0.5:f16');
    expect(printExpr(c(3, 'i32'))).toBe('3:i32');
    expect(printExpr(c(Infinity))).toBe('inf');
    expect(printExpr(c(-Infinity))).toBe('-inf');
    expect(printExpr(c(NaN))).toBe('nan');
    expect(printExpr(c(1e20))).toBe('100000000000000000000');
    expect(printExpr(c(1e300))).toBe('1e+300');
  });
  it('loads of scalars, iotas and reductions', () => {
    const S = { name: 'S', dtype: 'f32' as const, axes: [] };
    expect(printExpr(load(S, []))).toBe('S');
    expect(printExpr(iota(ivar('i'), 'f16'))).toBe('index<f16>(i)');
    expect(printExpr(reduce('sum', [{ name: 'i', size: int(4) }, { name: 'k', size: int(2) }], x))).toBe('sum[i: 4, k: 2](X[i])');
    expect(printDecl(X)).toBe('X: f32[i: 4]');
    expect(printStmt({ target: { name: 'Y', dtype: 'f32', axes: X.axes }, expr: unary('exp', x) })).toBe('Y[i: 4]: f32 = exp(X[i])');
  });
});

describe('printProgram', () => {
  it('softmax', () => {
    const p = program('softmax', (b) => {
      const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
      b.output('Y', softmax(x, 'j'));
    });
    expect(printProgram(p)).toMatchInlineSnapshot(`
      "program softmax(N, D)
        in  X: f32[i: N, j: D]
        out Y[i: N, j: D]: f32 = exp(X[i, j] - max[j': D](X[i, j'])) / sum[j'2: D](exp(X[i, j'2] - max[j': D](X[i, j'])))"
    `);
  });

  it('layernorm with intermediates, views and an output order', () => {
    const p = program('ln', (b) => {
      const [N, D] = [b.size('N'), b.size('D')];
      const x = b.input('X', 'f16', { i: N, j: D });
      const g = b.input('G', 'f16', { j: D });
      const t = b.let('T', x.cast('f32'));
      b.output('Y', layernorm(t, 'j', { gamma: g.cast('f32') }).cast('f16'), ['j', 'i']);
      b.output('H', x.split('j', { jo: 2, ji: -1 }).at('jo', 1).slice('i', 1, N));
    });
    expect(printProgram(p)).toMatchInlineSnapshot(`
      "program ln(N, D)
        in  X: f16[i: N, j: D]
        in  G: f16[j: D]
            T[i: N, j: D]: f32 = f32(X[i, j])
        out Y[j: D, i: N]: f16 = f16((T[i, j] - sum[j': D](T[i, j']) / index<f32>(D)) * rsqrt(sum[j'2: D]((T[i, j'2] - sum[j': D](T[i, j']) / index<f32>(D)) * (T[i, j'2] - sum[j': D](T[i, j']) / index<f32>(D))) / index<f32>(D) + 0.00001) * f32(G[j]))
        out H[i: N - 1, ji: D / 2]: f16 = X[i + 1, D / 2 + ji]"
    `);
  });
});

describe('printKernel', () => {
  it('prints every statement and expression form', () => {
    const k: Kernel = {
      name: 'demo',
      workgroup: [64, 1, 1],
      grid: [3, 2, 1],
      buffers: [
        { name: 'A', scope: 'global', dtype: 'f32', length: 10, access: 'read' },
        { name: 'B', scope: 'global', dtype: 'u32', length: 5, access: 'read_write', atomic: true },
        { name: 'red', scope: 'workgroup', dtype: 'f32', length: 64 },
      ],
      body: [
        { op: 'comment', text: 'hello' },
        { op: 'let', name: 'g', value: kbinary('add', kbuiltin('local_index'), kbinary('mul', kbuiltin('group_id_x'), kconst(64))) },
        { op: 'var', name: 'acc', type: F32, init: kconst(0, F32) },
        { op: 'var', name: 'v', type: kt('f32', 4) },
        {
          op: 'for',
          var: 'r',
          start: kconst(0),
          end: kconst(10),
          step: kconst(2),
          unroll: true,
          body: [{ op: 'assign', name: 'acc', value: kbinary('add', kref('acc', F32), kload('A', kref('r', I32), F32)) }],
        },
        {
          op: 'if',
          cond: kbinary('land', kbinary('lt', kref('g', I32), kconst(5)), kbinary('ne', kref('g', I32), kconst(1))),
          then: [{ op: 'atomic', fn: 'add', buffer: 'B', index: kref('g', I32), value: kconst(1, kt('u32')), result: 'old' }],
          else: [{ op: 'barrier' }],
        },
        { op: 'if', cond: kbinary('eq', kref('g', I32), kconst(0)), then: [{ op: 'atomic', fn: 'or', buffer: 'B', index: kconst(0), value: kconst(2, kt('u32')) }], else: [] },
        {
          op: 'store',
          buffer: 'red',
          index: kbuiltin('local_index'),
          value: kselect(
            kbinary('gt', kref('acc', F32), kconst(0, F32)),
            kunary('exp', kcast(kref('g', I32), F32)),
            kbitcast(kbinary('shl', kconst(1, kt('u32')), kconst(3)), F32),
          ),
        },
        { op: 'let', name: 'p', value: { op: 'subgroup', type: F32, fn: 'max', x: kref('acc', F32) } },
        { op: 'let', name: 'e', value: { op: 'extract', type: F32, x: kload('A', kconst(0), kt('f32', 4)), lane: 2 } },
        { op: 'assign', name: 'v', value: { op: 'vector', type: kt('f32', 4), parts: [kref('p', F32)] } },
      ],
    };
    expect(printKernel(k)).toMatchInlineSnapshot(`
      "kernel demo grid(3, 2, 1) workgroup(64, 1, 1)
        global A: f32[10] read
        global B: u32[5] read_write atomic
        workgroup red: f32[64]
        // hello
        let g = (@local_index + (@group_id_x * 64))
        var acc: f32 = 0:f32
        var v: f32x4
        for r in 0 ..< 10 step 2 unroll {
          acc = (acc + A[r])
        }
        if ((g < 5) && (g != 1)) {
          let old = atomic_add(B[g], 1:u32)
        } else {
          barrier
        }
        if (g == 0) {
          atomic_or(B[0], 2:u32)
        }
        red[@local_index] = select((acc > 0:f32), exp(f32(g)), bitcast<f32>((1:u32 << 3)))
        let p = subgroup_max(acc)
        let e = A[0]x4.2
        v = f32x4(p)"
    `);
  });

  it('kernels from lower(): elementwise, serial and a softmax row group', () => {
    const p = program('mix', (b) => {
      const x = b.input('X', 'f32', { i: 3, j: 40 });
      b.output('E', x.exp());
      b.output('M', x.sum('i'));
      b.output('S', softmax(x, 'j'));
    });
    const plan = lower(p, {}, { defaults: { elementwise: { workgroupSize: 64, vectorWidth: 1 }, serial: { workgroupSize: 64 }, rows: { workgroupSize: 8 } } });
    expect(plan.kernels.map((k) => k.name)).toEqual(['mix_0_elementwise', 'mix_1_serial', 'mix_2_rows']);
    expect(plan.kernels.map(printKernel).join('\n\n')).toMatchInlineSnapshot(`
      "kernel mix_0_elementwise grid(2, 1, 1) workgroup(64, 1, 1)
        global X: f32[120] read
        global E: f32[120] read_write
        let f0 = ((@group_id_x * 64) + @local_index)
        if (f0 < 120) {
          let ei1 = (f0 / 40)
          let ej2 = (f0 % 40)
          E[((ei1 * 40) + ej2)] = exp(X[((ei1 * 40) + ej2)])
        }

      kernel mix_1_serial grid(1, 1, 1) workgroup(64, 1, 1)
        global X: f32[120] read
        global M: f32[40] read_write
        var f0_acc0: f32 = 0:f32
        let row1 = ((@group_id_x * 64) + @local_index)
        if (row1 < 40) {
          f0_acc0 = 0:f32
          for r2 in 0 ..< 3 step 1 {
            f0_acc0 = (f0_acc0 + X[((r2 * 40) + row1)])
          }
          M[row1] = f0_acc0
        }

      kernel mix_2_rows grid(2, 1, 1) workgroup(8, 1, 1)
        global X: f32[120] read
        global S: f32[120] read_write
        workgroup red6: f32[8]
        let d0 = (@local_index / 4)
        let d1 = (@local_index % 4)
        var f0_acc2: f32 = 0:f32
        var f1_acc3: f32 = 0:f32
        let row4 = ((@group_id_x * 2) + d0)
        if (row4 < 3) {
          f0_acc2 = -Infinity:f32
          for r5 in d1 ..< 40 step 4 {
            f0_acc2 = max(f0_acc2, X[((row4 * 40) + r5)])
          }
        }
        red6[@local_index] = f0_acc2
        barrier
        let pl7 = (@local_index + 2)
        if (d1 < 2) {
          f0_acc2 = max(f0_acc2, red6[pl7])
          red6[@local_index] = f0_acc2
        }
        barrier
        let pl8 = (@local_index + 1)
        if (d1 < 1) {
          f0_acc2 = max(f0_acc2, red6[pl8])
          red6[@local_index] = f0_acc2
        }
        barrier
        let l09 = (@local_index - d1)
        f0_acc2 = red6[l09]
        let f0_acc_10 = f0_acc2
        barrier
        if (row4 < 3) {
          f1_acc3 = 0:f32
          for r11 in d1 ..< 40 step 4 {
            f1_acc3 = (f1_acc3 + exp((X[((row4 * 40) + r11)] - f0_acc_10)))
          }
        }
        red6[@local_index] = f1_acc3
        barrier
        let pl12 = (@local_index + 2)
        if (d1 < 2) {
          f1_acc3 = (f1_acc3 + red6[pl12])
          red6[@local_index] = f1_acc3
        }
        barrier
        let pl13 = (@local_index + 1)
        if (d1 < 1) {
          f1_acc3 = (f1_acc3 + red6[pl13])
          red6[@local_index] = f1_acc3
        }
        barrier
        let l014 = (@local_index - d1)
        f1_acc3 = red6[l014]
        let f1_acc_15 = f1_acc3
        barrier
        if (row4 < 3) {
          for c16 in d1 ..< 40 step 4 {
            S[((row4 * 40) + c16)] = (exp((X[((row4 * 40) + c16)] - f0_acc_10)) / f1_acc_15)
          }
        }"
    `);
  });
});
