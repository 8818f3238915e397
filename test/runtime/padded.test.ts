import { describe, expect, it } from 'vitest';
import { fromValues, toValues } from '../../src/ir/host.js';
import { cropFromBound, padToBound } from '../../src/runtime/padded.js';

describe('padded layouts of dynamic sizes', () => {
  it('copies a tensor into the layout at its bound and back out', () => {
    // [2, 3, 2] inside [2, 5, 2]: the middle axis is dynamic
    const actual = Array.from({ length: 12 }, (_, i) => i + 1);
    const h = fromValues('f32', [2, 3, 2], actual);
    const padded = padToBound('f32', h.data, [2, 3, 2], [2, 5, 2]);
    const f = new Float32Array(padded.buffer);
    expect(Array.from(f)).toEqual([1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]);
    const back = new Float32Array(cropFromBound('f32', padded, [2, 3, 2], [2, 5, 2]).buffer);
    expect(Array.from(back)).toEqual(actual);
  });

  it('handles one-byte elements, scalars and equal shapes', () => {
    const h = fromValues('i8', [3], [-1, 2, -3]);
    expect(Array.from(new Int8Array(padToBound('i8', h.data, [3], [5]).buffer))).toEqual([-1, 2, -3, 0, 0]);
    const s = fromValues('f32', [], [4]);
    expect(Array.from(new Float32Array(padToBound('f32', s.data, [], []).buffer))).toEqual([4]);
  });

  it('copies 4-bit tensors by packed words per row', () => {
    // rows of 10 nibbles (2 words) inside rows of 20 (3 words); the last axis is dynamic
    const values = Array.from({ length: 20 }, (_, i) => i % 16);
    const h = fromValues('u4', [2, 10], values);
    const padded = padToBound('u4', h.data, [2, 10], [2, 20]);
    expect(padded.byteLength).toBe(2 * 3 * 4);
    const back = cropFromBound('u4', padded, [2, 10], [2, 20]);
    expect(Array.from(toValues({ dtype: 'u4', shape: [2, 10], data: new Uint32Array(back.buffer) }))).toEqual(values);
  });
});
