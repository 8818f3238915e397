import { DTypeError } from './errors.js';

/**
 * Element types of tensors.
 *
 * Packed 4-bit layout (u4 / i4): eight elements share one little-endian u32 word. A tensor's
 * last axis is packed: element `k` of a row lives in word `floor(k / 8)` of that row, in bits
 * `4*(k % 8) .. 4*(k % 8)+3` (element 0 in the lowest nibble). Every row starts on a word
 * boundary, so a row of `K` elements takes `ceil(K / 8)` words; the unused high nibbles of a
 * row's last word are zero. i4 is two's complement (nibble 0xF is -1). The same rule with two
 * elements per word is used for 16-bit and four for 8-bit types only where a backend lacks them
 * (WGSL); host arrays of those types are plain, unpadded, little-endian arrays.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8' | 'u4' | 'i4';
/** The type of a comparison; allowed inside expressions, not as a stored tensor. */
export type ValueType = DType | 'bool';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'u32', 'i8', 'u4', 'i4'];

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

export function isFloat(t: ValueType): boolean {
  return t === 'f32' || t === 'f16' || t === 'bf16';
}

export function isInt(t: ValueType): boolean {
  return t === 'i32' || t === 'u32' || t === 'i8' || t === 'u4' || t === 'i4';
}

export function isSigned(t: ValueType): boolean {
  return t === 'i32' || t === 'i8' || t === 'i4';
}

/** 4-bit types: eight per u32, last axis packed (see the layout note above). */
export function isPacked4(t: ValueType): t is 'u4' | 'i4' {
  return t === 'u4' || t === 'i4';
}

/**
 * Types that only hold data: they must be cast (to f32, f16 or i32) before arithmetic. bf16 is
 * one of them because neither WGSL nor the reference has bf16 arithmetic with agreed rounding.
 */
export function isStorageOnly(t: ValueType): boolean {
  return t === 'bf16' || t === 'i8' || t === 'u4' || t === 'i4';
}

/** Bits per element. */
export function bitsOf(t: DType): number {
  switch (t) {
    case 'f32':
    case 'i32':
    case 'u32':
      return 32;
    case 'f16':
    case 'bf16':
      return 16;
    case 'i8':
      return 8;
    case 'u4':
    case 'i4':
      return 4;
  }
}

/** Bytes a tensor of this dtype and shape occupies in a device buffer (4-bit rows padded to words). */
export function storageBytes(dtype: DType, shape: readonly number[]): number {
  if (isPacked4(dtype)) return packedWords(shape) * 4;
  return (shape.reduce((a, b) => a * b, 1) * bitsOf(dtype)) / 8;
}

/** Number of u32 words holding a 4-bit tensor of this shape. */
export function packedWords(shape: readonly number[]): number {
  if (shape.length === 0) return 1;
  const last = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows * Math.ceil(last / 8);
}

/** The dtype arithmetic on values of `t` is carried out in, or a typed error saying to cast first. */
export function requireComputeType(t: ValueType, what: string): void {
  if (isStorageOnly(t)) {
    throw new DTypeError(
      `${what} has dtype ${t}, which only stores data; cast it first, e.g. cast(${what}, 'f32')`,
    );
  }
}

/** Unit roundoff used for default tolerances and f16/bf16 rounding. */
export function epsilonOf(t: ValueType): number {
  switch (t) {
    case 'f32':
      return 2 ** -23;
    case 'f16':
      return 2 ** -10;
    case 'bf16':
      return 2 ** -7;
    default:
      return 0;
  }
}
