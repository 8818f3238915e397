import { describe, expect, it } from 'vitest';
import { type DType, DTYPES, packedWords, storageBytes } from '../../src/ir/dtype.js';
import { BindingError } from '../../src/ir/errors.js';
import { thrown } from '../helpers/thrown.js';
import { allocHost, checkHost, fromValues, hostLength, numelOf, randomHost, rng, toValues } from '../../src/ir/host.js';

const words = (t: { data: ArrayLike<number> }) => [...(t.data as Uint32Array)].map((w) => `0x${w.toString(16).padStart(8, '0')}`);

describe('4-bit packing', () => {
  it('packs eight per u32, element 0 in the low nibble', () => {
    const t = fromValues('u4', [8], [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(t.data).toBeInstanceOf(Uint32Array);
    expect(words(t)).toEqual(['0x87654321']);
  });

  it('pads each row of a last axis that is not a multiple of 8 to whole words', () => {
    // two rows of 10: each takes 2 words, the second word's unused high nibbles are zero
    const row0 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const row1 = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6];
    const t = fromValues('u4', [2, 10], [...row0, ...row1]);
    expect(t.data.length).toBe(4);
    expect(words(t)).toEqual(['0x87654321', '0x000000a9', '0x89abcdef', '0x00000067']);
    expect([...toValues(t)]).toEqual([...row0, ...row1]);
  });

  it('pads a short row to one word and keeps rows independent', () => {
    const t = fromValues('u4', [3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(words(t)).toEqual(['0x00000321', '0x00000654', '0x00000987']);
  });

  it('stores i4 as two\'s complement nibbles', () => {
    const t = fromValues('i4', [8], [-1, -8, 7, 0, 1, -2, 3, -4]);
    expect(words(t)).toEqual(['0xc3e1078f']);
    expect([...toValues(t)]).toEqual([-1, -8, 7, 0, 1, -2, 3, -4]);
  });

  it('handles rank 3 and a scalar', () => {
    const vals = Array.from({ length: 2 * 3 * 9 }, (_, k) => (k * 7) % 16);
    const t = fromValues('u4', [2, 3, 9], vals);
    expect(t.data.length).toBe(2 * 3 * 2);
    expect([...toValues(t)]).toEqual(vals);
    const s = fromValues('i4', [], [-3]);
    expect(words(s)).toEqual(['0x0000000d']);
    expect([...toValues(s)]).toEqual([-3]);
  });

  it('agrees with packedWords and storageBytes', () => {
    for (const shape of [[1], [7], [8], [9], [3, 17], [2, 2, 16], []] as number[][]) {
      const t = allocHost('u4', shape);
      expect(t.data.length).toBe(packedWords(shape));
      expect(hostLength('i4', shape)).toBe(packedWords(shape));
      expect(storageBytes('u4', shape)).toBe(packedWords(shape) * 4);
    }
    expect(packedWords([3, 17])).toBe(9);
  });

  it('rejects values that do not fit, naming the element', () => {
    expect(() => fromValues('u4', [2], [0, 16])).toThrow(BindingError);
    expect(() => fromValues('u4', [2], [0, 16])).toThrow(/value 16 at element 1 does not fit u4 \(0\.\.15\)/);
    expect(() => fromValues('u4', [1], [-1])).toThrow(BindingError);
    expect(() => fromValues('i4', [1], [8])).toThrow(/does not fit i4 \(-8\.\.7\)/);
    expect(() => fromValues('i4', [1], [-9])).toThrow(BindingError);
    expect(() => fromValues('i4', [1], [1.5])).toThrow(BindingError);
    expect(() => fromValues('u4', [1], [NaN])).toThrow(BindingError);
  });
});

describe('fromValues / toValues', () => {
  it('round-trips representable values of every dtype', () => {
    const cases: Record<DType, number[]> = {
      f32: [0, -1.5, Math.fround(0.1), 3.4028234663852886e38, -Infinity, 2 ** -149],
      f16: [0, -1.5, 65504, 2 ** -24, Infinity, 0.0999755859375],
      bf16: [0, -1.5, 0.10009765625, 2 ** -133, -Infinity],
      i32: [0, -1, 2147483647, -2147483648],
      u32: [0, 1, 4294967295],
      i8: [-128, 0, 127],
      u4: [0, 15, 7],
      i4: [-8, 7, 0],
    };
    for (const d of DTYPES) {
      const vals = cases[d];
      expect([...toValues(fromValues(d, [vals.length], vals))], d).toEqual(vals);
    }
  });

  it('rounds floats to the dtype (f16 to nearest even, bf16 via f32)', () => {
    expect([...toValues(fromValues('f16', [3], [1 + 2 ** -11, 70000, 0.1]))]).toEqual([1, Infinity, 0.0999755859375]);
    expect([...fromValues('f16', [2], [1, -2]).data]).toEqual([0x3c00, 0xc000]);
    expect([...fromValues('bf16', [2], [1, 1 + 3 * 2 ** -8]).data]).toEqual([0x3f80, 0x3f82]);
    expect([...toValues(fromValues('f32', [1], [0.1]))]).toEqual([Math.fround(0.1)]);
  });

  it('keeps NaN', () => {
    for (const d of ['f32', 'f16', 'bf16'] as const) expect(toValues(fromValues(d, [1], [NaN]))[0]).toBeNaN();
  });

  it('uses the documented array types', () => {
    expect(allocHost('f32', [2]).data).toBeInstanceOf(Float32Array);
    expect(allocHost('f16', [2]).data).toBeInstanceOf(Uint16Array);
    expect(allocHost('bf16', [2]).data).toBeInstanceOf(Uint16Array);
    expect(allocHost('i32', [2]).data).toBeInstanceOf(Int32Array);
    expect(allocHost('u32', [2]).data).toBeInstanceOf(Uint32Array);
    expect(allocHost('i8', [2]).data).toBeInstanceOf(Int8Array);
    expect(allocHost('i4', [2]).data).toBeInstanceOf(Uint32Array);
    expect(numelOf([])).toBe(1);
    expect(numelOf([2, 3, 4])).toBe(24);
  });

  it('rejects a value count that does not match the shape', () => {
    expect(() => fromValues('f32', [2, 2], [1, 2, 3])).toThrow(BindingError);
    expect(() => fromValues('f32', [2, 2], [1, 2, 3])).toThrow(/3 values given for a tensor of shape \[2, 2\] \(4 elements\)/);
  });
});

describe('checkHost', () => {
  const t = fromValues('f32', [2, 3], [1, 2, 3, 4, 5, 6]);
  it('accepts a matching tensor', () => {
    expect(() => checkHost('X', t, 'f32', [2, 3])).not.toThrow();
  });
  it('names the tensor on a dtype mismatch', () => {
    expect(() => checkHost('X', t, 'f16', [2, 3])).toThrow(BindingError);
    expect(() => checkHost('X', t, 'f16', [2, 3])).toThrow('X must be f16, got f32');
    try {
      checkHost('X', t, 'f16', [2, 3]);
    } catch (e) {
      expect((e as BindingError).tensor).toBe('X');
    }
  });
  it('names the tensor on a shape mismatch (rank or size)', () => {
    expect(() => checkHost('W', t, 'f32', [3, 2])).toThrow('W must have shape [3, 2], got [2, 3]');
    expect(() => checkHost('W', t, 'f32', [6])).toThrow(BindingError);
  });
  it('catches a data array of the wrong length', () => {
    const bad = { dtype: 'u4' as const, shape: [2, 9], data: new Uint32Array(2) };
    expect(() => checkHost('Q', bad, 'u4', [2, 9])).toThrow(/Q data has 2 elements; shape \[2, 9\] of u4 needs 4/);
  });
});

describe('rng and randomHost', () => {
  it('is deterministic per seed, in [0, 1), and differs between seeds', () => {
    const a = rng(5);
    const b = rng(5);
    const c = rng(6);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => c())).not.toEqual(xs.slice(0, 10));
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });

  it('mulberry32 reference values', () => {
    // mulberry32(0): first outputs, as published with the algorithm
    const r = rng(0);
    expect(Math.round(r() * 2 ** 32)).toBe(1144304738);
  });

  it('randomHost respects dtype ranges and the float range', () => {
    const f = toValues(randomHost('f32', [1000], 3, [2, 5]));
    expect(Math.min(...f)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...f)).toBeLessThan(5);
    const u4 = toValues(randomHost('u4', [100, 9], 3));
    expect(Math.min(...u4)).toBe(0);
    expect(Math.max(...u4)).toBe(15);
    const i4 = toValues(randomHost('i4', [1000], 3));
    expect(Math.min(...i4)).toBe(-8);
    expect(Math.max(...i4)).toBe(7);
    const i8 = toValues(randomHost('i8', [5000], 3));
    expect(Math.min(...i8)).toBe(-128);
    expect(Math.max(...i8)).toBe(127);
    expect(randomHost('f16', [4], 9).data).toEqual(randomHost('f16', [4], 9).data);
    for (const d of DTYPES) expect(randomHost(d, [3, 5], 1).data.length, d).toBe(hostLength(d, [3, 5]));
  });
});

describe('known bug: fromValues wraps out-of-range 8- and 32-bit integers silently', () => {
  // u4 / i4 throw a BindingError for a value that does not fit; i8, i32 and u32 write it into the
  // typed array, which wraps (200 -> -56) or truncates (1.5 -> 1) without a word.
  it('i8 rejects 200', () => {
    expect(() => fromValues('i8', [1], [200])).toThrow(BindingError);
  });
  it('i32 rejects 2^31 and 1.5', () => {
    expect(() => fromValues('i32', [1], [2 ** 31])).toThrow(BindingError);
    expect(() => fromValues('i32', [1], [1.5])).toThrow(BindingError);
  });
  it('u32 rejects -1', () => {
    expect(() => fromValues('u32', [1], [-1])).toThrow(BindingError);
  });
});

describe('host arrays are checked against the dtype', () => {
  const f32x4 = { dtype: 'f32' as const, shape: [4] };
  it('rejects an Int32Array for an f32 tensor instead of reading its bits as floats', () => {
    const e = thrown(() => checkHost('X', { ...f32x4, data: new Int32Array(4) }, 'f32', [4]));
    expect(e).toBeInstanceOf(BindingError);
    expect((e as BindingError).tensor).toBe('X');
    expect(e.message).toMatch(/X .*Float32Array of 4 elements.*Int32Array\(4\)/);
  });
  it('rejects a Uint8Array that holds a quarter of the bytes', () => {
    const e = thrown(() => checkHost('X', { ...f32x4, data: new Uint8Array(4) as never }, 'f32', [4]));
    expect(e).toBeInstanceOf(BindingError);
    expect(e.message).toMatch(/Float32Array of 4 elements \(16 bytes\).*Uint8Array\(4\) \(4 bytes\)/);
  });
  it('wants the array kind of each dtype, halves and packed 4-bit as in allocHost', () => {
    const want: Record<DType, string> = { f32: 'Float32Array', f16: 'Uint16Array', bf16: 'Uint16Array', i32: 'Int32Array', u32: 'Uint32Array', i8: 'Int8Array', u4: 'Uint32Array', i4: 'Uint32Array' };
    for (const dt of DTYPES) {
      const good = allocHost(dt, [2, 9]);
      expect(good.data.constructor.name).toBe(want[dt]);
      expect(() => checkHost('T', good, dt, [2, 9])).not.toThrow();
      const other = dt === 'f32' ? new Uint32Array(good.data.length) : new Float32Array(good.data.length);
      const e = thrown(() => checkHost('T', { ...good, data: other }, dt, [2, 9]));
      expect(e).toBeInstanceOf(BindingError);
      expect(e.message).toContain(`${want[dt]} of ${good.data.length} elements`);
    }
    // f16 as a signed array of the same width is still the wrong kind
    expect(() => checkHost('H', { dtype: 'f16', shape: [2], data: new Int16Array(2) as never }, 'f16', [2])).toThrow(BindingError);
  });
  it('rejects missing or non-array data, a missing host tensor and a plain number array with a BindingError', () => {
    for (const data of [null, undefined, [1, 2, 3, 4], new ArrayBuffer(16), new DataView(new ArrayBuffer(16))]) {
      const e = thrown(() => checkHost('X', { ...f32x4, data: data as never }, 'f32', [4]));
      expect(e).toBeInstanceOf(BindingError);
      expect(e.message).toMatch(/^X /);
    }
    for (const host of [null, undefined, 5, 'x']) {
      const e = thrown(() => checkHost('X', host as never, 'f32', [4]));
      expect(e).toBeInstanceOf(BindingError);
      expect(e.message).toContain('X');
    }
  });
  it('accepts a view into a larger buffer of the right kind', () => {
    const buf = new Float32Array(10);
    expect(() => checkHost('X', { ...f32x4, data: buf.subarray(3, 7) }, 'f32', [4])).not.toThrow();
  });
});
