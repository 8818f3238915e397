import { describe, expect, it } from 'vitest';
import { int4Gemm } from '../../../examples/lowbit-gemm.js';
import { dot, gelu, softmax } from '../../../src/dsl/ops.js';
import { program } from '../../../src/dsl/program.js';
import { type HostTensor, randomHost, toValues } from '../../../src/ir/host.js';
import { printKernel } from '../../../src/ir/print-kernel.js';
import { type Program } from '../../../src/ir/tensor.js';
import { type TargetLimits, WEBGPU_BASELINE_LIMITS, lower } from '../../../src/passes/pipeline.js';
import { InvalidScheduleError, type Schedule } from '../../../src/passes/schedule.js';
import { evaluate } from '../../../src/reference/evaluate.js';
import { firstMismatch, runPlan } from '../../helpers/naive.js';

const TENSOR_CORES: TargetLimits = { ...WEBGPU_BASELINE_LIMITS, tensorCores: true, maxWorkgroupInvocations: 1024, maxWorkgroupStorageBytes: 49152 };

/** Runs the plan in the kernel-IR interpreter (which executes cooperative matrix tiles per subgroup). */
function check(p: Program, sizes: Record<string, number>, inputs: Record<string, HostTensor>, schedule: Schedule) {
  const plan = lower(p, sizes, { schedule }, TENSOR_CORES);
  const ref = evaluate(p, sizes, inputs);
  const mem = runPlan(plan, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, toValues(v)])), { subgroupSize: 32 });
  for (const o of p.outputs) {
    // f16 operands, f32 accumulation: compare against the f64 reference with an f16-sized tolerance
    const bad = firstMismatch(mem[o]!, ref.values[o]!, 2e-2, 2e-2);
    expect(bad, `${o}[${bad}]: ${mem[o]![bad]} vs ${ref.values[o]![bad]}`).toBe(-1);
  }
  return plan;
}

const matmul16 = program('mm16', (b) => {
  const [M, N, K] = b.sizes('M', 'N', 'K');
  const a = b.input('A', 'f16', { m: M, k: K });
  const w = b.input('B', 'f16', { k: K, n: N });
  const bias = b.input('Bias', 'f16', { n: N });
  b.output('C', gelu(dot(a, w, 'k').add(bias)));
});
const inputs = (M: number, N: number, K: number) => ({
  A: randomHost('f16', [M, K], 1),
  B: randomHost('f16', [K, N], 2),
  Bias: randomHost('f16', [N], 3),
});

describe('tiled contraction on tensor cores (cooperative 16x16x16 matrix tiles)', () => {
  const tc = { kind: 'contraction', tensorCores: true, staging: 'shared' } as const;

  it('an f16 matmul with a fused bias + GELU epilogue, edges guarded (40 x 36 x 50)', () => {
    const plan = check(matmul16, { M: 40, N: 36, K: 50 }, inputs(40, 36, 50), { 'contraction:C_sum,C': { ...tc, blockM: 32, blockN: 32, blockK: 16, threadM: 1, threadN: 1 } });
    const text = printKernel(plan.kernels[0]!);
    expect(text).toMatch(/matrix fa0: a 16x16 f16/);
    expect(text).toMatch(/facc0_0 \+= fa0 \* fb0/);
    expect(plan.kernels[0]!.workgroup[0]).toBe(4 * 32); // 2 x 2 warps of one tile each
  });

  it('int4 weights with f16 activations: tiles dequantized into workgroup memory as f16, multiplied on matrix units', () => {
    const p = int4Gemm.build('f16');
    const sizes = { M: 16, N: 40, K: 64, G: 32 };
    const plan = check(p, sizes, { X: randomHost('f16', [16, 64], 4), W: randomHost('u4', [40, 64], 5), S: randomHost('f32', [40, 2], 6, [0.001, 0.02]) }, {
      'contraction:Y': { ...tc, blockM: 16, blockN: 32, blockK: 32, threadM: 1, threadN: 1 },
    });
    expect(printKernel(plan.kernels[0]!)).toMatch(/facc0_0 \+= fa0 \* fb0/);
  });

  it('several tiles per warp, double-buffered', () => {
    check(matmul16, { M: 70, N: 64, K: 64 }, inputs(70, 64, 64), {
      'contraction:C_sum,C': { ...tc, blockM: 64, blockN: 32, blockK: 32, threadM: 2, threadN: 2, doubleBuffer: true },
    });
  });

  it('split-K with tensor cores adds its partial tiles in a second kernel', () => {
    const plan = check(matmul16, { M: 16, N: 48, K: 160 }, inputs(16, 48, 160), { 'contraction:C_sum,C': { ...tc, blockM: 16, blockN: 16, blockK: 16, threadM: 1, threadN: 1, splitK: 4 } });
    expect(plan.kernels.map((k) => k.name)).toEqual(['mm16_0_contraction', 'mm16_0_contraction_combine']);
  });

  it('batched attention scores Q·Kᵀ feeding a softmax', () => {
    const p = program('att16', (b) => {
      const [H, N, D] = b.sizes('H', 'N', 'D');
      const q = b.input('Q', 'f16', { h: H, i: N, d: D });
      const k = b.input('K', 'f16', { h: H, j: N, d: D });
      b.output('P', softmax(dot(q, k, 'd'), 'j'));
    });
    check(p, { H: 2, N: 20, D: 32 }, { Q: randomHost('f16', [2, 20, 32], 4), K: randomHost('f16', [2, 20, 32], 5) }, {
      'contraction:P_sum': { ...tc, blockM: 16, blockN: 16, blockK: 16, threadM: 1, threadN: 1 },
    });
  });

  it('is refused where it cannot work, before anything is compiled', () => {
    const s = { 'contraction:C_sum,C': { ...tc, blockM: 32, blockN: 32, blockK: 16, threadM: 1, threadN: 1 } };
    expect(() => lower(matmul16, { M: 40, N: 36, K: 50 }, { schedule: s }, { ...TENSOR_CORES, tensorCores: false })).toThrow(/needs a device with tensor cores/);
    const f32 = program('mm32', (b) => {
      const [M, N, K] = b.sizes('M', 'N', 'K');
      b.output('C', dot(b.input('A', 'f32', { m: M, k: K }), b.input('B', 'f32', { k: K, n: N }), 'k'));
    });
    const s32 = { 'contraction:C': s['contraction:C_sum,C'] };
    expect(() => lower(f32, { M: 32, N: 32, K: 32 }, { schedule: s32 }, { ...WEBGPU_BASELINE_LIMITS, tensorCores: true, maxWorkgroupInvocations: 1024 })).toThrow(InvalidScheduleError);
    expect(() => lower(f32, { M: 32, N: 32, K: 32 }, { schedule: s32 }, { ...WEBGPU_BASELINE_LIMITS, tensorCores: true, maxWorkgroupInvocations: 1024 })).toThrow(/f16 or bf16 operands/);
    expect(() =>
      lower(matmul16, { M: 40, N: 36, K: 50 }, { schedule: { 'contraction:C_sum,C': { ...s['contraction:C_sum,C'], blockK: 8 } } }, { ...WEBGPU_BASELINE_LIMITS, tensorCores: true, maxWorkgroupInvocations: 1024 }),
    ).toThrow(/16 \(16\) must divide blockK \(8\)/);
  });
});
