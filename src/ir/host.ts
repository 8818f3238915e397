import { DTYPES, type DType, isDType, isPacked4, packedWords } from './dtype.js';
import { BindingError, DTypeError } from './errors.js';
import { bf16Bits, bf16FromBits, f16Bits, f16FromBits } from './numeric.js';

/**
 * A tensor in host memory. `data` holds the device layout: f32 → Float32Array, f16 and bf16 →
 * Uint16Array of bit patterns, i32 → Int32Array, u32 → Uint32Array, i8 → Int8Array, u4 and i4 →
 * Uint32Array packed eight per word along the last axis (see dtype.ts).
 */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: HostArray;
}

export type HostArray = Float32Array | Uint16Array | Int32Array | Uint32Array | Int8Array;

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function allocHost(dtype: DType, shape: readonly number[]): HostTensor {
  const n = numelOf(shape);
  switch (dtype) {
    case 'f32':
      return { dtype, shape, data: new Float32Array(n) };
    case 'f16':
    case 'bf16':
      return { dtype, shape, data: new Uint16Array(n) };
    case 'i32':
      return { dtype, shape, data: new Int32Array(n) };
    case 'u32':
      return { dtype, shape, data: new Uint32Array(n) };
    case 'i8':
      return { dtype, shape, data: new Int8Array(n) };
    case 'u4':
    case 'i4':
      return { dtype, shape, data: new Uint32Array(packedWords(shape)) };
  }
}

/** Length the `data` array must have for this dtype and shape. */
export function hostLength(dtype: DType, shape: readonly number[]): number {
  return isPacked4(dtype) ? packedWords(shape) : numelOf(shape);
}

/** Builds a host tensor from logical values, rounding or packing to the dtype. */
export function fromValues(dtype: DType, shape: readonly number[], values: ArrayLike<number>): HostTensor {
  if (typeof dtype !== 'string' || !isDType(dtype)) throw new DTypeError(`host values have dtype ${String(dtype)}; dtypes are ${DTYPES.join(', ')}`);
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new BindingError(`values must be an array or typed array of numbers, got ${describeData(values)}`, '(values)');
  }
  const n = numelOf(shape);
  if (values.length !== n) {
    throw new BindingError(`${values.length} values given for a tensor of shape [${shape.join(', ')}] (${n} elements)`, '(values)');
  }
  const t = allocHost(dtype, shape);
  const d = t.data;
  switch (dtype) {
    case 'f16':
      for (let i = 0; i < n; i++) d[i] = f16Bits(values[i]!);
      break;
    case 'bf16':
      for (let i = 0; i < n; i++) d[i] = bf16Bits(values[i]!);
      break;
    case 'u4':
    case 'i4': {
      const last = shape.length ? shape[shape.length - 1]! : 1;
      const wordsPerRow = Math.ceil(last / 8);
      const lo = dtype === 'u4' ? 0 : -8;
      const hi = dtype === 'u4' ? 15 : 7;
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        if (!Number.isInteger(v) || v < lo || v > hi) {
          throw new BindingError(`value ${v} at element ${i} does not fit ${dtype} (${lo}..${hi})`, '(values)');
        }
        const row = Math.floor(i / last);
        const k = i - row * last;
        const w = row * wordsPerRow + (k >> 3);
        d[w] = (d[w]! | ((v & 0xf) << (4 * (k & 7)))) >>> 0;
      }
      break;
    }
    case 'i8':
    case 'i32':
    case 'u32': {
      const [lo, hi] = dtype === 'i8' ? [-128, 127] : dtype === 'i32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        if (!Number.isInteger(v) || v < lo || v > hi) {
          throw new BindingError(`value ${v} at element ${i} does not fit ${dtype} (${lo}..${hi})`, '(values)');
        }
        d[i] = v;
      }
      break;
    }
    default:
      for (let i = 0; i < n; i++) d[i] = values[i]!;
  }
  return t;
}

/** Logical values of a host tensor as float64 (exact for every dtype, 4-bit included). */
export function toValues(t: HostTensor): Float64Array {
  const n = numelOf(t.shape);
  const out = new Float64Array(n);
  const d = t.data;
  switch (t.dtype) {
    case 'f16':
      for (let i = 0; i < n; i++) out[i] = f16FromBits(d[i]!);
      return out;
    case 'bf16':
      for (let i = 0; i < n; i++) out[i] = bf16FromBits(d[i]!);
      return out;
    case 'u4':
    case 'i4': {
      const last = t.shape.length ? t.shape[t.shape.length - 1]! : 1;
      const wordsPerRow = Math.ceil(last / 8);
      const signed = t.dtype === 'i4';
      for (let i = 0; i < n; i++) {
        const row = Math.floor(i / last);
        const k = i - row * last;
        const nib = (d[row * wordsPerRow + (k >> 3)]! >>> (4 * (k & 7))) & 0xf;
        out[i] = signed && nib >= 8 ? nib - 16 : nib;
      }
      return out;
    }
    default:
      for (let i = 0; i < n; i++) out[i] = d[i]!;
      return out;
  }
}

/** The typed array that holds a dtype's data on the host (see `HostTensor`). */
export function hostArrayName(dtype: DType): string {
  switch (dtype) {
    case 'f32':
      return 'Float32Array';
    case 'f16':
    case 'bf16':
      return 'Uint16Array';
    case 'i32':
      return 'Int32Array';
    case 'u32':
    case 'u4':
    case 'i4':
      return 'Uint32Array';
    case 'i8':
      return 'Int8Array';
  }
}

// the kind of any typed array, from any realm (undefined for everything else)
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype) as object, Symbol.toStringTag)!.get!;

/** What a value is, for a message: `Int32Array(4) (16 bytes)`, `an array`, `null`. */
function describeData(d: unknown): string {
  const kind = typedArrayTag.call(d) as string | undefined;
  if (kind) {
    const a = d as ArrayLike<number> & { byteLength: number };
    return `${kind}(${a.length}) (${a.byteLength} bytes)`;
  }
  if (d === null || d === undefined) return String(d);
  if (Array.isArray(d)) return `a plain array of ${d.length}`;
  if (d instanceof ArrayBuffer) return `an ArrayBuffer of ${d.byteLength} bytes`;
  if (typeof d === 'object') return `a ${(d as object).constructor?.name ?? 'object'}`;
  return `a ${typeof d}`;
}

/**
 * Checks that a host tensor matches a declared dtype and shape, naming the tensor if not. Its
 * data must be the typed array of the dtype (`hostArrayName`) with exactly the elements the
 * shape needs: an array of another kind would be written bit for bit, or only in part.
 */
export function checkHost(name: string, t: HostTensor, dtype: DType, shape: readonly number[]): void {
  if (t === null || typeof t !== 'object') {
    throw new BindingError(`${name} must be a host tensor { dtype, shape, data }, got ${describeData(t)}`, name);
  }
  if (t.dtype !== dtype) throw new BindingError(`${name} must be ${dtype}, got ${t.dtype}`, name);
  if (!Array.isArray(t.shape)) throw new BindingError(`${name} must have shape [${shape.join(', ')}], got ${describeData(t.shape)}`, name);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new BindingError(`${name} must have shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`, name);
  }
  const want = hostLength(dtype, shape);
  const kind = hostArrayName(dtype);
  if (typedArrayTag.call(t.data) !== kind) {
    const bytes = want * (kind === 'Uint16Array' ? 2 : kind === 'Int8Array' ? 1 : 4);
    throw new BindingError(
      `${name} (${dtype}[${shape.join(', ')}]) needs its data as a ${kind} of ${want} elements (${bytes} bytes), got ${describeData(t.data)}`,
      name,
    );
  }
  if (t.data.length !== want) throw new BindingError(`${name} data has ${t.data.length} elements; shape [${shape.join(', ')}] of ${dtype} needs ${want}`, name);
}

/** A small, fast, seedable generator (mulberry32) so tests and tuning use reproducible data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random data of a dtype: floats uniform in [lo, hi), integers uniform over a small range. */
export function randomHost(
  dtype: DType,
  shape: readonly number[],
  seed = 1,
  range: readonly [number, number] = [-1, 1],
): HostTensor {
  const r = rng(seed);
  const n = numelOf(shape);
  const [lo, hi] = range;
  const v = new Float64Array(n);
  switch (dtype) {
    case 'f32':
    case 'f16':
    case 'bf16':
      for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * r();
      break;
    case 'u4':
      for (let i = 0; i < n; i++) v[i] = Math.floor(r() * 16);
      break;
    case 'i4':
      for (let i = 0; i < n; i++) v[i] = Math.floor(r() * 16) - 8;
      break;
    case 'i8':
      for (let i = 0; i < n; i++) v[i] = Math.floor(r() * 256) - 128;
      break;
    case 'i32':
      for (let i = 0; i < n; i++) v[i] = Math.floor(r() * 2001) - 1000;
      break;
    case 'u32':
      for (let i = 0; i < n; i++) v[i] = Math.floor(r() * 2001);
      break;
  }
  if (dtype === 'f32') {
    // skip the per-element rounding pass of fromValues for the large tensors tests use
    return { dtype, shape, data: Float32Array.from(v) };
  }
  return fromValues(dtype, shape, v);
}
