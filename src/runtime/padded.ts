import { type DType, isPacked4, storageBytes } from '../ir/dtype.js';
import { TilecraftError } from '../ir/errors.js';

/**
 * Host-side copies between a tensor at its actual shape and the device layout at its bound shape
 * (a dynamic size's axes laid out at the bound: strides from the bound). Element by element in
 * storage units: bytes of one element, or for 4-bit tensors the u32 words of a packed row.
 */

/** The shape in storage units and the bytes of one unit. */
function units(dtype: DType, shape: readonly number[]): { shape: number[]; bytes: number } {
  if (isPacked4(dtype)) {
    if (shape.length === 0) return { shape: [1], bytes: 4 };
    return { shape: [...shape.slice(0, -1), Math.ceil(shape[shape.length - 1]! / 8)], bytes: 4 };
  }
  return { shape: [...shape], bytes: storageBytes(dtype, [1]) };
}

/**
 * Copies the region `region` (a shape no larger than either) from `src`, laid out row-major at
 * `srcShape`, into `dst`, laid out at `dstShape`. Shapes are in storage units of `bytes` each.
 */
function copyRegion(
  src: Uint8Array,
  srcShape: readonly number[],
  dst: Uint8Array,
  dstShape: readonly number[],
  region: readonly number[],
  bytes: number,
): void {
  const n = region.length;
  if (n === 0) {
    dst.set(src.subarray(0, bytes));
    return;
  }
  const stride = (shape: readonly number[]) => {
    const s = new Array<number>(n).fill(bytes);
    for (let i = n - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
    return s;
  };
  const ss = stride(srcShape);
  const ds = stride(dstShape);
  const run = region[n - 1]! * bytes; // the innermost axis is contiguous in both
  const walk = (axis: number, so: number, doff: number): void => {
    if (axis === n - 1) {
      dst.set(src.subarray(so, so + run), doff);
      return;
    }
    for (let i = 0; i < region[axis]!; i++) walk(axis + 1, so + i * ss[axis]!, doff + i * ds[axis]!);
  };
  if (region.some((r) => r === 0)) return;
  walk(0, 0, 0);
}

/** The device layout at `boundShape` of host data at `actualShape` (the padding zeroed). */
export function padToBound(dtype: DType, data: ArrayBufferView, actualShape: readonly number[], boundShape: readonly number[]): Uint8Array {
  check(actualShape, boundShape);
  const a = units(dtype, actualShape);
  const b = units(dtype, boundShape);
  const out = new Uint8Array(storageBytes(dtype, boundShape));
  copyRegion(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), a.shape, out, b.shape, a.shape, a.bytes);
  return out;
}

/** The leading `actualShape` region of device data laid out at `boundShape`, as bytes at `actualShape`. */
export function cropFromBound(dtype: DType, bytes: Uint8Array, actualShape: readonly number[], boundShape: readonly number[]): Uint8Array {
  check(actualShape, boundShape);
  const a = units(dtype, actualShape);
  const b = units(dtype, boundShape);
  const out = new Uint8Array(storageBytes(dtype, actualShape));
  copyRegion(bytes, b.shape, out, a.shape, a.shape, a.bytes);
  return out;
}

function check(actual: readonly number[], bound: readonly number[]): void {
  if (actual.length !== bound.length || actual.some((n, i) => n < 0 || n > bound[i]!)) {
    throw new TilecraftError(`internal: shape [${actual.join(', ')}] does not fit in its layout [${bound.join(', ')}]`);
  }
}
