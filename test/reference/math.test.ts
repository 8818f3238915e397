import { describe, expect, it } from 'vitest';
import { rng } from '../../src/ir/host.js';
import { erf } from '../../src/reference/math.js';
import { naiveErf } from '../helpers/naive.js';

// erf to 16 digits (from mpmath)
const TABLE: readonly (readonly [number, number])[] = [
  [0.1, 0.1124629160182849],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [1.5, 0.9661051464753108],
  [2, 0.9953222650189527],
  [2.5, 0.999593047982555],
  [3, 0.9999779095030014],
  [4, 0.9999999845827421],
  [5, 0.9999999999984626],
];

describe('erf', () => {
  it('matches tabulated values to 1e-15', () => {
    for (const [x, y] of TABLE) {
      expect(Math.abs(erf(x) - y), `erf(${x})`).toBeLessThan(1e-15);
      expect(Math.abs(erf(-x) + y), `erf(-${x})`).toBeLessThan(1e-15);
    }
  });

  it('is odd, bounded by 1 and monotonic on a grid', () => {
    let prev = -1;
    for (let x = -7; x <= 7; x += 0.01) {
      const v = erf(x);
      expect(v).toBe(-erf(-x));
      expect(Math.abs(v)).toBeLessThanOrEqual(1);
      expect(v).toBeGreaterThanOrEqual(prev);
      prev = v;
    }
  });

  it('is continuous where it switches from the series to the continued fraction', () => {
    const below = erf(2.5 - 1e-12);
    const at = erf(2.5);
    // the true difference is 1e-12 * erf'(2.5) ~ 2e-15; both sides are accurate to ~1e-15
    expect(Math.abs(at - below)).toBeLessThan(5e-15);
  });

  it('is 2x/sqrt(pi) for tiny x, saturates at +-1 and passes NaN through', () => {
    expect(erf(1e-10)).toBeCloseTo((2 / Math.sqrt(Math.PI)) * 1e-10, 24);
    expect(erf(0)).toBe(0);
    expect(erf(7)).toBe(1);
    expect(erf(30)).toBe(1);
    expect(erf(-30)).toBe(-1);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erf(NaN)).toBeNaN();
  });

  it('agrees with an independent quadrature to 1e-12 on random points', () => {
    const r = rng(42);
    for (let k = 0; k < 200; k++) {
      const x = (r() - 0.5) * 10;
      expect(Math.abs(erf(x) - naiveErf(x)), `x = ${x}`).toBeLessThan(1e-12);
    }
  });
});
