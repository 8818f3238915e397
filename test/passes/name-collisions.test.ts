import { describe, expect, it } from 'vitest';
import { randomInputs } from '../../src/autotune/inputs.js';
import { printCuda } from '../../src/codegen-cuda/index.js';
import { dot, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { type Sizes, bindProgram, shapeOf } from '../../src/ir/bind.js';
import { NameAllocator } from '../../src/ir/names.js';
import { chunkScan } from '../../src/passes/chunk-scan.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import type { Program } from '../../src/ir/tensor.js';
import { type LowerOptions, lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { gpu, mismatch } from '../helpers/device.js';

/**
 * Programs whose user names are the names the compiler generates: a pass's tensors
 * (`<stmt>_max`, `<stmt>_sum`, `<out>_splitk`, `<kernel>_<fold>_parts`, chunk-scan's
 * `<o>_cumdecay`, `_scores`, `_intra`, `_chunkstate`...), kernel names (`<program>_<i>_<kind>`),
 * and the printers' identifiers (`t_<name>`, `s_`, `p_`, `tc_*`, locals such as `f0_acc0`, `ld0`,
 * `row4`), plus fold locals that a counter would turn into WGSL's and CUDA's type names.
 */

const CHUNK_BASES = ['cumdecay', 'querydecay', 'keydecay', 'weights', 'scores', 'querysub', 'keysub', 'scoresoff', 'scoresdiag', 'intra', 'chunksum', 'chunkstate', 'inter'];

const splitK = `program mm(M, N, K) {
  input A: f32[m: M, k: K]
  input B: f32[k: K, n: N]
  input C_splitk: f32[m: M, n: N]
  input C_splitk2: f32[m: M, n: N]
  input D_sum: f32[m: M, n: N]
  input D_sum_splitk: f32[m: M, n: N]
  input D_sum2_splitk: f32[m: M, n: N]
  input mm_0_contraction: f32[m: M, n: N]
  input tc_params: f32[m: M, n: N]
  input t_A: f32[m: M, n: N]
  output C = sum[k](A * B)
  output D = sum[k](A * B) + D_sum + D_sum_splitk + D_sum2_splitk
  output E = C_splitk + C_splitk2 + mm_0_contraction + tc_params + t_A
}`;

// A contraction stages its operands in workgroup arrays As and Bs (Cs for a tensor-core epilogue).
const stagedGemm = `program gemm(M, N, K) {
  input A: f32[m: M, k: K]
  input B: f32[k: K, n: N]
  input As: f32[m: M, n: N]
  input Bs: f32[m: M, n: N]
  input Cs: f32[m: M, n: N]
  output C = sum[k](A * B) + As + Bs + Cs
}`;

const rows = `program sm(N, D) {
  input X: f32[row: N, lane: D]
  input Y_max: f32[row: N]
  input Y_sum: f32[row: N]
  input Y_max2: f32[row: N]
  input sm_0_rows: f32[row: N]
  input f0_acc0: f32[row: N]
  input ld0: f32[row: N, lane: D]
  input row4: f32[row: N]
  input s_red6: f32[row: N]
  input p_f0_acc0: f32[row: N]
  input tc_li: f32[row: N]
  input em0: f32[row: N]
  output Y = softmax[lane](X) + Y_max + Y_sum + Y_max2 + sm_0_rows + f0_acc0 + ld0 + row4 + s_red6 + p_f0_acc0 + tc_li + em0
}`;

/** A chunked scan with decay `decay` (per key dimension, or per head), every chunk-scan temporary's name taken. */
const chunked = (name: string, decay: string) => `program ${name}(B, H, L, K, V) {
  input q: f32[b: B, h: H, t: L, d: K]
  input k: f32[b: B, h: H, t: L, d: K]
  input v: f32[b: B, h: H, t: L, e: V]
  input gk: f32[b: B, h: H, t: L, d: K]
${CHUNK_BASES.map((b) => `  input o_${b}: f32[b: B, h: H, t: L, e: V]`).join('\n')}
  input o_scores2: f32[b: B, h: H, t: L, e: V]
  a = ${decay}
  scan over t: L {
    state S[d: K, e: V]: f32 = 0
    step {
      S <- a * S + k * v
    }
    merge {
      S <- S + S'
    }
    output o = dot[d](q, S)
  }
  output y1 = o + ${CHUNK_BASES.slice(0, 7).map((b) => `o_${b}`).join(' + ')}
  output y2 = o + ${[...CHUNK_BASES.slice(7).map((b) => `o_${b}`), 'o_scores2'].join(' + ')}
}`;
// Elementwise loops are e_<axis>; vectorizing the innermost adds e_<axis>_q and e_<axis>_v.
const vectorized = `program ew(N, D) {
  input X: f32[x_q: N, x_v: N, x: D]
  output Y = X * 2 + 1
}`;

const splitRows = `program rs(N, D) {
  input X: f32[row: N, lane: D]
  input rs_0_rows_f0_parts: f32[row: N]
  input Y_sum: f32[row: N]
  output Y = sum[lane](X) + rs_0_rows_f0_parts + Y_sum
}`;

const gla = chunked('gla', 'exp(log(sigmoid(gk)) / 16)');
const retention = chunked('retention', '1 - pow(2, -index(h, H, f32) - 5)');
const chunkSizes = { B: 1, H: 2, L: 64, K: 4, V: 4 };

// Unrolled 16 steps of four locals each: the counter reaches 16 and 32 at \`f\` (WGSL's f16, f32).
const foldLocals = `program fl(N, M) {
  input X: f32[i: N, j: M]
  input Z: i32[i: N, j: M]
  fold over j: M {
    state m: f32 = 0
    step {
      a = X * f32(Z)
      b = a + 1
      c = b * 0.5
      f = c - 1
      m <- max(m, f * m)
    }
    merge {
      m <- max(m, m')
    }
    output Y = m
  }
}`;

const attentionText = `program attention(B, H, N, M, D) {
  input Q: f32[b: B, h: H, x: N, d: D]
  input K: f32[b: B, h: H, m: M, d: D]
  input V: f32[b: B, h: H, m: M, l: D]
  input O_max: f32[b: B, h: H, x: N, l: D]
  input O_sum: f32[b: B, h: H, x: N, l: D]
  input O_sum2: f32[b: B, h: H, x: N, l: D]
  scores = dot[d](Q, K) * rsqrt(f32(D))
  output O[b, h, x, l] = dot[m](softmax[m](scores), V)
  output P = O_max + O_sum + O_sum2
}`;

// Staged operands are workgroup arrays named <tensor>_s<k>, read by name as tensors are.
const staged = `program st(B, H, N, M, D) {
  input Q: f32[b: B, h: H, x: N, d: D]
  input K: f32[b: B, h: H, m: M, d: D]
  input V: f32[b: B, h: H, m: M, l: D]
  input K_s0: f32[b: B, h: H, m: M, d: D]
  input K_s1: f32[b: B, h: H, m: M, d: D]
  scores = dot[d](Q, K + K_s0 * K_s1)
  output O[b, h, x, l] = dot[m](softmax[m](scores), V)
}`;

/** The same attention in the TypeScript DSL: axes named as the online-softmax fold's state and locals. */
function attentionDsl(): Program {
  return program('attention', (p) => {
    const [B, H, N, M, D] = p.sizes('B', 'H', 'N', 'M', 'D');
    const q = p.input('Q', 'f32', { b: B, h: H, x: N, d: D });
    const k = p.input('K', 'f32', { b: B, h: H, m: M, d: D });
    const v = p.input('V', 'f32', { b: B, h: H, m: M, l: D });
    const omax = p.input('O_max', 'f32', { b: B, h: H, x: N, l: D });
    const osum = p.input('O_sum', 'f32', { b: B, h: H, x: N, l: D });
    const osum2 = p.input('O_sum2', 'f32', { b: B, h: H, x: N, l: D });
    const scores = dot(q, k, 'd').mul(p.value(D, 'f32').rsqrt());
    p.output('O', dot(softmax(scores, 'm'), v, 'm'), ['b', 'h', 'x', 'l']);
    p.output('P', omax.add(osum).add(osum2));
  });
}

const attentionSizes = { B: 1, H: 2, N: 8, M: 16, D: 4 };

const cases: { name: string; program: () => Program; sizes: Sizes; options?: LowerOptions }[] = [
  { name: 'split-K contractions (<out>_splitk, <stmt>_sum, kernel names, t_ and tc_ names)', program: () => parseProgram(splitK), sizes: { M: 16, N: 16, K: 64 }, options: { defaults: { contraction: { splitK: 2 } } } },
  { name: 'a contraction staging its operands (As, Bs, Cs)', program: () => parseProgram(stagedGemm), sizes: { M: 32, N: 32, K: 32 }, options: { defaults: { contraction: { staging: 'shared' } } } },
  { name: 'a softmax (<stmt>_max, <stmt>_sum, kernel names, locals, t_, s_, p_ and tc_ names)', program: () => parseProgram(rows), sizes: { N: 8, D: 300 } },
  { name: 'a vectorized elementwise kernel (e_<axis>_q, e_<axis>_v)', program: () => parseProgram(vectorized), sizes: { N: 3, D: 8 }, options: { defaults: { elementwise: { vectorWidth: 4 } } } },
  { name: 'a row sum split across workgroups (<kernel>_<fold>_parts)', program: () => parseProgram(splitRows), sizes: { N: 8, D: 300 }, options: { defaults: { rows: { splitSteps: 2 } } } },
  { name: 'chunked GLA, a decay per key dimension (chunk-scan temporaries)', program: () => parseProgram(gla), sizes: chunkSizes },
  { name: 'chunked GLA in chunks of 8 (chunk-scan temporaries)', program: () => parseProgram(gla), sizes: chunkSizes, options: { defaults: { chunk: { chunk: 8 } } } },
  { name: 'chunked retention, a decay per head (chunk-scan temporaries)', program: () => parseProgram(retention), sizes: chunkSizes },
  { name: 'fold locals a counter would spell f32 (WGSL) or float4 (CUDA)', program: () => parseProgram(foldLocals), sizes: { N: 4, M: 64 }, options: { defaults: { rows: { unrollSteps: 16 } } } },
  { name: 'streamed attention, text (<stmt>_max, <stmt>_sum; axes named m, l, x)', program: () => parseProgram(attentionText), sizes: attentionSizes },
  { name: 'attention with staged operands (<tensor>_s<k>)', program: () => parseProgram(staged), sizes: attentionSizes, options: { defaults: { rows: { stageSteps: 8 } } } },
  { name: 'streamed attention, DSL (the same program)', program: attentionDsl, sizes: attentionSizes },
];

describe('generated names never take a user name', () => {
  for (const c of cases) {
    it(`${c.name}: outputs equal the reference, inputs unchanged`, async () => {
      const p = c.program();
      const bound = bindProgram(p, c.sizes);
      const inputs = randomInputs(bound.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t) })));
      const exe = await Executable.create(await gpu(), p, c.sizes, c.options ?? {});
      try {
        // every tensor of the plan, the user's and those passes made, has a name of its own
        const names = exe.plan.tensors.map((t) => t.name);
        expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
        const { outputs } = await exe.run(inputs);
        const ref = evaluate(p, c.sizes, inputs);
        for (const [name, expected] of Object.entries(ref.outputs)) expect(mismatch(outputs[name]!, expected), name).toBeUndefined();
        for (const [name, host] of Object.entries(inputs)) expect(mismatch(await exe.download(name), host, { rtol: 0, atol: 0 }), name).toBeUndefined();
      } finally {
        exe.destroy();
      }
    });
  }

  it('the chunked GLA and the split-K contractions do make the temporaries the inputs are named after', () => {
    const made = new Set<string>();
    for (const src of [gla, retention]) {
      for (const chunk of [8, 32]) for (const s of chunkScan(hoistReductions(parseProgram(src)), chunkSizes, { chunkFor: () => chunk }).program.stmts) made.add(s.target.name);
    }
    for (const b of CHUNK_BASES) expect(made.has(`o_${b}2`) || made.has(`o_${b}3`), b).toBe(true);
    const temps = (src: string, sizes: Sizes, options: LowerOptions = {}) => lower(parseProgram(src), sizes, options).tensors.map((t) => t.name);
    expect(temps(splitK, { M: 16, N: 16, K: 64 }, { defaults: { contraction: { splitK: 2 } } })).toEqual(expect.arrayContaining(['C_splitk3', 'D_sum2_splitk2']));
  });

  it('no local of a kernel is named like a type of WGSL or CUDA, a buffer or a printer built-in', () => {
    const plan = lower(parseProgram(foldLocals), { N: 4, M: 64 }, { defaults: { rows: { unrollSteps: 16 } } });
    const source = plan.kernels.map((k) => printCuda(k)).join('\n');
    expect(source).not.toMatch(/\b(?:float|int)[1-4]\s*=|\bf(?:16|32)\s*=/);
  });
});

describe('NameAllocator', () => {
  it('hands out a base, then base2, base3, never a name it knows', () => {
    const names = new NameAllocator(['Y_max', 'Y_max2']);
    expect([names.fresh('Y_max'), names.fresh('Y_max'), names.fresh('Y_sum')]).toEqual(['Y_max3', 'Y_max4', 'Y_sum']);
  });

  it('numbers locals from one counter, skipping taken names, WGSL and CUDA types and printer prefixes', () => {
    const names = new NameAllocator(['a1']);
    expect(names.numbered('a')).toBe('a0');
    expect(names.numbered('a')).toBe('a2');
    const types = new NameAllocator();
    const got = Array.from({ length: 40 }, () => types.numbered('f'));
    expect(got).not.toContain('f16');
    expect(got).not.toContain('f32');
    const c = new NameAllocator();
    expect(Array.from({ length: 5 }, () => c.numbered('float'))).not.toContain('float4');
    expect(new NameAllocator().numbered('t_X')).toBe('vt_X0');
    expect(new NameAllocator().numbered("j'")).toBe('j_0');
  });
});
