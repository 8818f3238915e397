import { describe, expect, it } from 'vitest';
import { toWgsl } from '../../src/codegen-wgsl/index.js';
import { dot, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { idiv } from '../../src/ir/intexpr.js';
import { type Program } from '../../src/ir/tensor.js';
import { type LowerOptions, lower } from '../../src/passes/pipeline.js';

const wgsl = (p: Program, sizes: Record<string, number>, options: LowerOptions = {}, shaderF16 = true) =>
  lower(p, sizes, options).kernels.map((k) => toWgsl(k, { shaderF16 }).source);

describe('WGSL printer', () => {
  it('a fused elementwise chain, four elements per invocation with vec4 loads', () => {
    const p = program('chain', (b) => {
      const [N, D] = b.sizes('N', 'D');
      const x = b.input('X', 'f32', { i: N, j: D });
      const s = b.input('S', 'f32', { j: D });
      b.output('Y', x.mul(s).add(1).max(0));
    });
    expect(wgsl(p, { N: 3, D: 8 })[0]).toMatchInlineSnapshot(`
      "@group(0) @binding(0) var<storage, read> t_X: array<vec4<f32>>;
      @group(0) @binding(1) var<storage, read> t_S: array<vec4<f32>>;
      @group(0) @binding(2) var<storage, read_write> t_Y: array<vec4<f32>>;

      @compute @workgroup_size(256, 1, 1)
      fn main(@builtin(local_invocation_index) tc_li: u32, @builtin(local_invocation_id) tc_lid: vec3<u32>, @builtin(workgroup_id) tc_wg: vec3<u32>, @builtin(num_workgroups) tc_nwg: vec3<u32>) {
        let f0 = ((i32(tc_wg.x) * 256i) + i32(tc_li));
        if ((f0 < 6i)) {
          let ei1 = (f0 / 2i);
          let ejq2 = (f0 % 2i);
          let v3 = t_X[(((ei1 * 8i) + (ejq2 * 4i))) >> 2u];
          let v4 = t_S[((ejq2 * 4i)) >> 2u];
          t_Y[(((ei1 * 8i) + (ejq2 * 4i))) >> 2u] = vec4<f32>(max(((v3[0] * v4[0]) + 1f), 0f), max(((v3[1] * v4[1]) + 1f), 0f), max(((v3[2] * v4[2]) + 1f), 0f), max(((v3[3] * v4[3]) + 1f), 0f));
        }
      }
      "
    `);
  });

  it('row softmax: one kernel, a workgroup-memory tree per reduction', () => {
    const p = program('softmax', (b) => {
      const [N, D] = b.sizes('N', 'D');
      b.output('Y', softmax(b.input('X', 'f32', { i: N, j: D }), 'j'));
    });
    expect(wgsl(p, { N: 5, D: 40 }, { defaults: { rows: { workgroupSize: 8, threadsPerRow: 4 } } })[0]).toMatchInlineSnapshot(`
      "@group(0) @binding(0) var<storage, read> t_X: array<f32>;
      @group(0) @binding(1) var<storage, read_write> t_Y: array<f32>;
      var<workgroup> s_red6: array<f32, 8>;
      var<private> tc_inf_bits: u32 = 0x7f800000u;

      @compute @workgroup_size(8, 1, 1)
      fn main(@builtin(local_invocation_index) tc_li: u32, @builtin(local_invocation_id) tc_lid: vec3<u32>, @builtin(workgroup_id) tc_wg: vec3<u32>, @builtin(num_workgroups) tc_nwg: vec3<u32>) {
        let tc_inf = bitcast<f32>(tc_inf_bits);
        let d0 = (i32(tc_li) / 4i);
        let d1 = (i32(tc_li) % 4i);
        var f0_acc2: f32 = 0f;
        var f1_acc3: f32 = 0f;
        let row4 = ((i32(tc_wg.x) * 2i) + d0);
        if ((row4 < 5i)) {
          f0_acc2 = (-tc_inf);
          for (var r5: i32 = d1; r5 < 40i; r5 += 4i) {
            f0_acc2 = max(f0_acc2, t_X[((row4 * 40i) + r5)]);
          }
        }
        s_red6[i32(tc_li)] = f0_acc2;
        workgroupBarrier();
        let pl7 = (i32(tc_li) + 2i);
        if ((d1 < 2i)) {
          f0_acc2 = max(f0_acc2, s_red6[pl7]);
          s_red6[i32(tc_li)] = f0_acc2;
        }
        workgroupBarrier();
        let pl8 = (i32(tc_li) + 1i);
        if ((d1 < 1i)) {
          f0_acc2 = max(f0_acc2, s_red6[pl8]);
          s_red6[i32(tc_li)] = f0_acc2;
        }
        workgroupBarrier();
        let l09 = (i32(tc_li) - d1);
        f0_acc2 = s_red6[l09];
        let f0_acc_10 = f0_acc2;
        workgroupBarrier();
        if ((row4 < 5i)) {
          f1_acc3 = 0f;
          for (var r11: i32 = d1; r11 < 40i; r11 += 4i) {
            f1_acc3 = (f1_acc3 + exp((t_X[((row4 * 40i) + r11)] - f0_acc_10)));
          }
        }
        s_red6[i32(tc_li)] = f1_acc3;
        workgroupBarrier();
        let pl12 = (i32(tc_li) + 2i);
        if ((d1 < 2i)) {
          f1_acc3 = (f1_acc3 + s_red6[pl12]);
          s_red6[i32(tc_li)] = f1_acc3;
        }
        workgroupBarrier();
        let pl13 = (i32(tc_li) + 1i);
        if ((d1 < 1i)) {
          f1_acc3 = (f1_acc3 + s_red6[pl13]);
          s_red6[i32(tc_li)] = f1_acc3;
        }
        workgroupBarrier();
        let l014 = (i32(tc_li) - d1);
        f1_acc3 = s_red6[l014];
        let f1_acc_15 = f1_acc3;
        workgroupBarrier();
        if ((row4 < 5i)) {
          for (var c16: i32 = d1; c16 < 40i; c16 += 4i) {
            t_Y[((row4 * 40i) + c16)] = (exp((t_X[((row4 * 40i) + c16)] - f0_acc_10)) / f1_acc_15);
          }
        }
      }
      "
    `);
  });

  it('row softmax with subgroup reductions', () => {
    const p = program('softmax', (b) => {
      const [N, D] = b.sizes('N', 'D');
      b.output('Y', softmax(b.input('X', 'f32', { i: N, j: D }), 'j'));
    });
    const [src] = wgsl(p, { N: 5, D: 40 }, { defaults: { rows: { workgroupSize: 32, threadsPerRow: 32, subgroups: true } } });
    expect(src).toContain('enable subgroups;');
    expect(src).toMatch(/subgroupMax\(/);
    expect(src).toMatch(/atomicAdd\(&s_count\d+, 1u\)/);
  });

  it('an int4 GEMV: nibbles unpacked from u32 words, rows padded to whole words', () => {
    const p = program('gemv4', (b) => {
      const [N, K, G] = b.sizes('N', 'K', 'G');
      const x = b.input('X', 'f32', { k: K });
      const w = b.input('W', 'i4', { n: N, k: K });
      const s = b.input('S', 'f32', { n: N, kg: idiv(K, G) });
      b.output('Y', x.mul(w.cast('f32').split('k', { kg: idiv(K, G), ki: G }).mul(s).merge(['kg', 'ki'], 'k')).sum('k'));
    });
    expect(wgsl(p, { N: 3, K: 12, G: 4 }, { grouping: { tileContractions: false } })[0]).toMatchInlineSnapshot(`
      "@group(0) @binding(0) var<storage, read> t_X: array<f32>;
      @group(0) @binding(1) var<storage, read> t_W: array<u32>;
      @group(0) @binding(2) var<storage, read> t_S: array<f32>;
      @group(0) @binding(3) var<storage, read_write> t_Y: array<f32>;

      @compute @workgroup_size(256, 1, 1)
      fn main(@builtin(local_invocation_index) tc_li: u32, @builtin(local_invocation_id) tc_lid: vec3<u32>, @builtin(workgroup_id) tc_wg: vec3<u32>, @builtin(num_workgroups) tc_nwg: vec3<u32>) {
        var f0_acc0: f32 = 0f;
        let row1 = ((i32(tc_wg.x) * 256i) + i32(tc_li));
        if ((row1 < 3i)) {
          f0_acc0 = 0f;
          for (var rb2: i32 = 0i; rb2 < 2i; rb2 += 1i) {
            if (((rb2 * 8i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[(rb2 * 8i)] * (f32((bitcast<i32>((t_W[(((((row1 * 3i) + (rb2 * 2i)) / 3i) * 2i) + ((((row1 * 3i) + (rb2 * 2i)) % 3i) / 2i))] << u32((28i - ((((((row1 * 3i) + (rb2 * 2i)) % 3i) % 2i) * 4i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + (rb2 * 2i))])));
            }
            if ((((rb2 * 8i) + 1i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 1i)] * (f32((bitcast<i32>((t_W[(((((row1 * 3i) + (rb2 * 2i)) / 3i) * 2i) + ((((row1 * 3i) + (rb2 * 2i)) % 3i) / 2i))] << u32((28i - (((((((row1 * 3i) + (rb2 * 2i)) % 3i) % 2i) * 4i) + 1i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + (rb2 * 2i))])));
            }
            if ((((rb2 * 8i) + 2i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 2i)] * (f32((bitcast<i32>((t_W[(((((row1 * 3i) + (rb2 * 2i)) / 3i) * 2i) + ((((row1 * 3i) + (rb2 * 2i)) % 3i) / 2i))] << u32((28i - (((((((row1 * 3i) + (rb2 * 2i)) % 3i) % 2i) * 4i) + 2i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + (rb2 * 2i))])));
            }
            if ((((rb2 * 8i) + 3i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 3i)] * (f32((bitcast<i32>((t_W[(((((row1 * 3i) + (rb2 * 2i)) / 3i) * 2i) + ((((row1 * 3i) + (rb2 * 2i)) % 3i) / 2i))] << u32((28i - (((((((row1 * 3i) + (rb2 * 2i)) % 3i) % 2i) * 4i) + 3i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + (rb2 * 2i))])));
            }
            if ((((rb2 * 8i) + 4i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 4i)] * (f32((bitcast<i32>((t_W[((((((row1 * 3i) + (rb2 * 2i)) + 1i) / 3i) * 2i) + (((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) / 2i))] << u32((28i - (((((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) % 2i) * 4i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + ((rb2 * 2i) + 1i))])));
            }
            if ((((rb2 * 8i) + 5i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 5i)] * (f32((bitcast<i32>((t_W[((((((row1 * 3i) + (rb2 * 2i)) + 1i) / 3i) * 2i) + (((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) / 2i))] << u32((28i - ((((((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) % 2i) * 4i) + 1i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + ((rb2 * 2i) + 1i))])));
            }
            if ((((rb2 * 8i) + 6i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 6i)] * (f32((bitcast<i32>((t_W[((((((row1 * 3i) + (rb2 * 2i)) + 1i) / 3i) * 2i) + (((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) / 2i))] << u32((28i - ((((((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) % 2i) * 4i) + 2i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + ((rb2 * 2i) + 1i))])));
            }
            if ((((rb2 * 8i) + 7i) < 12i)) {
              f0_acc0 = (f0_acc0 + (t_X[((rb2 * 8i) + 7i)] * (f32((bitcast<i32>((t_W[((((((row1 * 3i) + (rb2 * 2i)) + 1i) / 3i) * 2i) + (((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) / 2i))] << u32((28i - ((((((((row1 * 3i) + (rb2 * 2i)) + 1i) % 3i) % 2i) * 4i) + 3i) * 4i))))) >> u32(28i))) * t_S[((row1 * 3i) + ((rb2 * 2i) + 1i))])));
            }
          }
          t_Y[row1] = f0_acc0;
        }
      }
      "
    `);
  });

  it('a tiled matmul with workgroup-memory staging (1x1 register tile to keep it short)', () => {
    const p = program('mm', (b) => {
      const [M, N, K] = b.sizes('M', 'N', 'K');
      b.output('C', dot(b.input('A', 'f32', { m: M, k: K }), b.input('B', 'f32', { k: K, n: N }), 'k'));
    });
    const schedule = { 'contraction:C': { blockM: 4, blockN: 4, blockK: 4, threadM: 1, threadN: 1, unrollK: false } };
    expect(wgsl(p, { M: 6, N: 5, K: 7 }, { schedule })[0]).toMatchInlineSnapshot(`
      "@group(0) @binding(0) var<storage, read> t_A: array<f32>;
      @group(0) @binding(1) var<storage, read> t_B: array<f32>;
      @group(0) @binding(2) var<storage, read_write> t_C: array<f32>;
      var<workgroup> s_As4: array<f32, 16>;
      var<workgroup> s_Bs5: array<f32, 16>;

      @compute @workgroup_size(16, 1, 1)
      fn main(@builtin(local_invocation_index) tc_li: u32, @builtin(local_invocation_id) tc_lid: vec3<u32>, @builtin(workgroup_id) tc_wg: vec3<u32>, @builtin(num_workgroups) tc_nwg: vec3<u32>) {
        let d0 = (i32(tc_wg.x) / 2i);
        let d1 = (i32(tc_wg.x) % 2i);
        let d2 = (i32(tc_li) / 4i);
        let d3 = (i32(tc_li) % 4i);
        var f0_acc6: f32 = 0f;
        f0_acc6 = 0f;
        for (var kt7: i32 = 0i; kt7 < 2i; kt7 += 1i) {
          s_As4[(((((d2 * 4i) + d3) % 4i) * 4i) + (((d2 * 4i) + d3) / 4i))] = 0f;
          if ((((d0 * 4i) + (((d2 * 4i) + d3) / 4i)) < 6i)) {
            if ((((kt7 * 4i) + (((d2 * 4i) + d3) % 4i)) < 7i)) {
              s_As4[(((((d2 * 4i) + d3) % 4i) * 4i) + (((d2 * 4i) + d3) / 4i))] = t_A[((((d0 * 4i) + (((d2 * 4i) + d3) / 4i)) * 7i) + ((kt7 * 4i) + (((d2 * 4i) + d3) % 4i)))];
            }
          }
          s_Bs5[((d2 * 4i) + d3)] = 0f;
          if ((((d1 * 4i) + (((d2 * 4i) + d3) % 4i)) < 5i)) {
            if ((((kt7 * 4i) + (((d2 * 4i) + d3) / 4i)) < 7i)) {
              s_Bs5[((d2 * 4i) + d3)] = t_B[((((kt7 * 4i) + (((d2 * 4i) + d3) / 4i)) * 5i) + ((d1 * 4i) + (((d2 * 4i) + d3) % 4i)))];
            }
          }
          workgroupBarrier();
          for (var kk8: i32 = 0i; kk8 < 4i; kk8 += 1i) {
            let in9 = s_As4[((kk8 * 4i) + d2)];
            let in10 = s_Bs5[((kk8 * 4i) + d3)];
            f0_acc6 = (f0_acc6 + (in9 * in10));
          }
          workgroupBarrier();
        }
        if ((((d0 * 4i) + d2) < 6i)) {
          if ((((d1 * 4i) + d3) < 5i)) {
            t_C[((((d0 * 4i) + d2) * 5i) + ((d1 * 4i) + d3))] = f0_acc6;
          }
        }
      }
      "
    `);
  });

  it('f16 without shader-f16: halves packed in u32 words, arithmetic in f32', () => {
    const p = program('h', (b) => {
      const x = b.input('X', 'f16', { i: b.size('N') });
      b.output('Y', x.mul(x).add(1));
    });
    const [native] = wgsl(p, { N: 6 });
    const [emulated] = wgsl(p, { N: 6 }, {}, false);
    expect(native).toContain('enable f16;');
    expect(native).toMatch(/array<f16>/);
    expect(emulated).not.toContain('enable f16');
    expect(emulated).toMatch(/unpack2x16float/);
    expect(emulated).toMatch(/atomicOr/);
  });

  it('infinities come from a runtime value: a constant-expression infinity is a WGSL error', () => {
    const p = program('mx', (b) => {
      const [N, D] = b.sizes('N', 'D');
      b.output('M', b.input('X', 'f32', { i: N, j: D }).max('j'));
    });
    const [src] = wgsl(p, { N: 4, D: 64 });
    expect(src).toContain('var<private> tc_inf_bits: u32 = 0x7f800000u;');
    expect(src).toMatch(/= \(-tc_inf\);/);
  });
});
