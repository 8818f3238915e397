import { describe, expect, it } from 'vitest';
import { dot, gelu, geluTanh, layernorm, logSoftmax, rmsnorm, silu, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { randomHost } from '../../src/ir/host.js';
import { checkOnDevice, onEachDevice } from '../helpers/device.js';

// Shapes are deliberately not multiples of any tile or workgroup size, and include size-1 axes.
const ROWS = [
  [1, 1],
  [3, 1],
  [1, 37],
  [7, 300],
  [33, 1000],
  [130, 31],
] as const;

onEachDevice(() => {
  describe('composite ops on the device match the reference', () => {
    for (const [N, D] of ROWS) {
      it(`softmax, logSoftmax over [${N}, ${D}]`, async () => {
        const p = program('softmaxes', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
          b.output('Y', softmax(x, 'j'));
          b.output('L', logSoftmax(x, 'j'));
        });
        const r = await checkOnDevice(p, { N, D }, { X: randomHost('f32', [N, D], N * D, [-8, 8]) });
        expect(r.failures).toEqual([]);
      });

      it(`layernorm and rmsnorm with affine weights over [${N}, ${D}]`, async () => {
        const p = program('norms', (b) => {
          const [n, d] = b.sizes('N', 'D');
          const x = b.input('X', 'f32', { i: n, j: d });
          const g = b.input('G', 'f32', { j: d });
          const beta = b.input('Bt', 'f32', { j: d });
          b.output('LN', layernorm(x, 'j', { gamma: g, beta }));
          b.output('RMS', rmsnorm(x, 'j', { weight: g }));
        });
        const r = await checkOnDevice(
          p,
          { N, D },
          { X: randomHost('f32', [N, D], 7, [-3, 5]), G: randomHost('f32', [D], 8), Bt: randomHost('f32', [D], 9) },
          // layernorm of a constant row divides a rounding residue by sqrt(eps): compare absolutely
          { tol: { atol: D === 1 ? 1e-2 : 1e-4 } },
        );
        expect(r.failures).toEqual([]);
      });
    }

    it('gelu (erf and tanh forms) and silu over a wide range', async () => {
      const p = program('activations', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N') });
        b.output('G', gelu(x));
        b.output('T', geluTanh(x));
        b.output('S', silu(x));
      });
      const r = await checkOnDevice(p, { N: 10007 }, { X: randomHost('f32', [10007], 3, [-12, 12]) }, { tol: { atol: 1e-5 } });
      expect(r.failures).toEqual([]);
    });

    it('attention softmax(Q·Kᵀ·scale)·V with odd sizes', async () => {
      const p = program('attention', (b) => {
        const [B, H, N, M, D] = b.sizes('B', 'H', 'N', 'M', 'D');
        const q = b.input('Q', 'f32', { b: B, h: H, i: N, d: D });
        const k = b.input('K', 'f32', { b: B, h: H, j: M, d: D });
        const v = b.input('V', 'f32', { b: B, h: H, j: M, e: D });
        const s = dot(q, k, 'd').mul(1 / Math.sqrt(24));
        b.output('O', dot(softmax(s, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
      });
      const sizes = { B: 2, H: 3, N: 37, M: 45, D: 24 };
      const r = await checkOnDevice(p, sizes, {
        Q: randomHost('f32', [2, 3, 37, 24], 1),
        K: randomHost('f32', [2, 3, 45, 24], 2),
        V: randomHost('f32', [2, 3, 45, 24], 3),
      });
      expect(r.failures).toEqual([]);
    });
  });
});
