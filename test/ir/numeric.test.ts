import { describe, expect, it } from 'vitest';
import { rng } from '../../src/ir/host.js';
import { bf16Bits, bf16FromBits, f16Bits, f16FromBits, f32Bits, f32FromBits, roundBf16, roundF16 } from '../../src/ir/numeric.js';
import { naiveF16FromBits, naiveRoundBf16, naiveRoundF16 } from '../helpers/naive.js';

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

describe('f16Bits', () => {
  const CASES: readonly (readonly [number, number])[] = [
    [1, 0x3c00],
    [-1, 0xbc00],
    [0, 0x0000],
    [-0, 0x8000],
    [0.5, 0x3800],
    [2, 0x4000],
    [1 / 3, 0x3555],
    [0.1, 0x2e66],
    [65504, 0x7bff], // largest finite half
    [65519.99, 0x7bff], // below the midpoint to the next (infinite) step
    [65520, 0x7c00], // the midpoint rounds to even: infinity
    [1e9, 0x7c00],
    [-65520, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [-(2 ** -24), 0x8001],
    [2 ** -25, 0x0000], // half the smallest subnormal: a tie, rounds to even (zero)
    [2 ** -25 + 2 ** -40, 0x0001], // just above the tie
    [1.5 * 2 ** -24, 0x0002], // tie between 1 and 2 units: even
    [2.5 * 2 ** -24, 0x0002], // tie between 2 and 3 units: even
    [1023.5 * 2 ** -24, 0x0400], // the largest subnormal's upper tie rounds into the normals
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1 + 2 ** -11, 0x3c00], // tie, mantissa 0 is even
    [1 + 3 * 2 ** -11, 0x3c02], // tie, mantissa 1 is odd: up
    [1 + 2 ** -11 + 2 ** -30, 0x3c01], // rounded from the exact value; via f32 it would be a tie and go down
    [2049, 0x6800], // integers above 2048 step by 2: tie to even (2048)
    [2051, 0x6802], // tie to even (2052)
    [2 ** 15, 0x7800],
  ];
  for (const [x, bits] of CASES) {
    it(`${x} -> ${hex(bits)}`, () => {
      expect(hex(f16Bits(x))).toBe(hex(bits));
    });
  }
  it('NaN -> the quiet NaN 0x7e00', () => {
    expect(f16Bits(NaN)).toBe(0x7e00);
  });
});

describe('f16FromBits and round trips', () => {
  it('decodes special patterns', () => {
    expect(f16FromBits(0x3c00)).toBe(1);
    expect(f16FromBits(0x7bff)).toBe(65504);
    expect(f16FromBits(0x0001)).toBe(2 ** -24);
    expect(f16FromBits(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16FromBits(0x7c00)).toBe(Infinity);
    expect(f16FromBits(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16FromBits(0x8000), -0)).toBe(true);
    expect(f16FromBits(0x7e00)).toBeNaN();
    expect(f16FromBits(0xfc01)).toBeNaN();
  });

  it('round-trips every one of the 65536 bit patterns (NaNs to the canonical NaN)', () => {
    let nans = 0;
    for (let h = 0; h < 0x10000; h++) {
      const v = f16FromBits(h);
      const isNaNPattern = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaNPattern) {
        nans++;
        expect(v).toBeNaN();
        expect(f16Bits(v)).toBe(0x7e00);
        continue;
      }
      if (f16Bits(v) !== h) expect(hex(f16Bits(v)), `pattern ${hex(h)} = ${v}`).toBe(hex(h));
      // and agrees with an independent decoder
      if (v !== naiveF16FromBits(h)) expect(v, hex(h)).toBe(naiveF16FromBits(h));
    }
    expect(nans).toBe(2 * 1023);
  });

  it('every midpoint between neighbouring halves rounds to the even one', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16FromBits(h);
      const hi = f16FromBits(h + 1);
      const mid = (lo + hi) / 2; // exact in float64
      const want = h % 2 === 0 ? h : h + 1;
      if (f16Bits(mid) !== want) expect(hex(f16Bits(mid)), `midpoint of ${hex(h)} and ${hex(h + 1)}`).toBe(hex(want));
    }
  });

  it('roundF16 matches an independent rounding on random doubles of every magnitude', () => {
    const r = rng(7);
    for (let k = 0; k < 20000; k++) {
      const x = (r() - 0.5) * 2 ** Math.floor(r() * 50 - 30);
      const a = roundF16(x);
      const b = naiveRoundF16(x);
      if (a !== b) expect(a, `x = ${x}`).toBe(b);
    }
  });
});

describe('f32Bits', () => {
  it('reads and writes IEEE single bit patterns as unsigned numbers', () => {
    expect(f32Bits(1)).toBe(0x3f800000);
    expect(f32Bits(-2)).toBe(0xc0000000);
    expect(f32Bits(-0)).toBe(0x80000000);
    expect(f32Bits(Infinity)).toBe(0x7f800000);
    expect(f32FromBits(0x3f800000)).toBe(1);
    expect(f32FromBits(0xff800000)).toBe(-Infinity);
    expect(f32FromBits(1)).toBe(2 ** -149);
    expect(f32FromBits(-1)).toBeNaN(); // 0xffffffff
    expect(f32FromBits(f32Bits(0.1))).toBe(Math.fround(0.1));
  });
});

describe('bf16Bits', () => {
  const CASES: readonly (readonly [number, number])[] = [
    [1, 0x3f80],
    [-1, 0xbf80],
    [-0, 0x8000],
    [0.1, 0x3dcd],
    [1 + 2 ** -8, 0x3f80], // tie: even
    [1 + 3 * 2 ** -8, 0x3f82], // tie: odd mantissa rounds up
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], // above the tie
    [1 + 2 ** -8 - 2 ** -20, 0x3f80],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
    [3.4028234663852886e38, 0x7f80], // the largest f32 rounds up to infinity
    [3.3895313892515355e38, 0x7f7f], // the largest bf16
    [2 ** -149, 0x0000], // the smallest f32 subnormal rounds to zero
    [2 ** -133, 0x0001], // the smallest bf16 subnormal
  ];
  for (const [x, bits] of CASES) {
    it(`${x} -> ${hex(bits)}`, () => {
      expect(hex(bf16Bits(x))).toBe(hex(bits));
    });
  }
  it('NaN -> 0x7fc0', () => {
    expect(bf16Bits(NaN)).toBe(0x7fc0);
  });
  it('rounds the f32 value (documented), so a double just above a bf16 tie can round down', () => {
    // 1 + 2^-8 + 2^-30 is above the tie, but as an f32 it is the tie itself
    expect(hex(bf16Bits(1 + 2 ** -8 + 2 ** -30))).toBe(hex(0x3f80));
  });

  it('round-trips every non-NaN bit pattern', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = bf16FromBits(h);
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) {
        expect(v).toBeNaN();
        continue;
      }
      if (bf16Bits(v) !== h) expect(hex(bf16Bits(v)), `pattern ${hex(h)}`).toBe(hex(h));
    }
  });

  it('every midpoint between neighbouring bf16 values rounds to the even one', () => {
    for (let h = 0; h < 0x7f7f; h += 37) {
      const mid = (bf16FromBits(h) + bf16FromBits(h + 1)) / 2; // an f32, so no double rounding
      expect(Math.fround(mid)).toBe(mid);
      const want = h % 2 === 0 ? h : h + 1;
      expect(hex(bf16Bits(mid)), `midpoint of ${hex(h)}`).toBe(hex(want));
      expect(hex(bf16Bits(-mid))).toBe(hex(want | 0x8000));
    }
  });

  it('roundBf16 matches an independent rounding on random doubles', () => {
    const r = rng(11);
    for (let k = 0; k < 20000; k++) {
      const x = (r() - 0.5) * 2 ** Math.floor(r() * 260 - 130);
      const a = roundBf16(x);
      const b = naiveRoundBf16(x);
      if (a !== b) expect(a, `x = ${x}`).toBe(b);
    }
  });
});
