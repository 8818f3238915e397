import { describe, expect, it } from 'vitest';
import { dot, gelu } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { idiv } from '../../src/ir/intexpr.js';
import { randomHost, toValues } from '../../src/ir/host.js';
import { checkOnDevice, onEachDevice } from '../helpers/device.js';

/**
 * Prologues (casts, int4 dequantization) and epilogues (bias, GELU, residual, cast) fused into a
 * tiled contraction give the same numbers as the unfused plan: a contraction kernel and
 * separate elementwise kernels.
 */
const linear = program('linear', (b) => {
  const [M, N, K, G] = b.sizes('M', 'N', 'K', 'G');
  const x = b.input('X', 'f16', { m: M, k: K });
  const w = b.input('W', 'i4', { n: N, k: K });
  const s = b.input('S', 'f32', { n: N, kg: idiv(K, G) });
  const bias = b.input('Bias', 'f32', { n: N });
  const res = b.input('R', 'f32', { m: M, n: N });
  const deq = w.cast('f32').split('k', { kg: idiv(K, G), ki: G }).mul(s).merge(['kg', 'ki'], 'k');
  const y = dot(x.cast('f32'), deq, 'k');
  b.output('Y', gelu(y.add(bias)).add(res).cast('f16'));
});
const sizes = { M: 19, N: 37, K: 72, G: 8 };
const inputs = {
  X: randomHost('f16', [19, 72], 1),
  W: randomHost('i4', [37, 72], 2),
  S: randomHost('f32', [37, 9], 3, [0.01, 0.1]),
  Bias: randomHost('f32', [37], 4),
  R: randomHost('f32', [19, 37], 5),
};

onEachDevice(() => {
  describe('fusion', () => {
    it('fused and unfused plans agree, and both match the reference', async () => {
      const fused = await checkOnDevice(linear, sizes, inputs);
      const unfused = await checkOnDevice(linear, sizes, inputs, { compile: { grouping: { tileContractions: false, contractionSerialOutputs: 0 } } });
      expect(fused.failures).toEqual([]);
      expect(unfused.failures).toEqual([]);
      expect(fused.plan.kernels).toHaveLength(1); // dequantization, GEMM, bias, GELU, residual, cast: one kernel
      expect(unfused.plan.kernels.length).toBeGreaterThan(1);
      const a = toValues(fused.outputs.Y!);
      const b = toValues(unfused.outputs.Y!);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBeLessThan(2e-2); // both round to f16 once; the sums differ only in order
    });
  });
});
