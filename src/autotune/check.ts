import { type DType } from '../ir/dtype.js';
import { type HostTensor, toValues } from '../ir/host.js';

export interface Tolerance {
  /** Relative to each expected element. */
  readonly rtol: number;
  /** Relative to the largest expected magnitude: reductions of many terms err in absolute terms. */
  readonly atol: number;
}

/** How close a device result must be to the float64 reference, by output dtype. */
export function toleranceFor(dtype: DType): Tolerance {
  switch (dtype) {
    case 'f32':
      return { rtol: 1e-4, atol: 1e-5 };
    case 'f16':
      return { rtol: 1e-2, atol: 5e-3 };
    case 'bf16':
      return { rtol: 3e-2, atol: 1e-2 };
    default:
      return { rtol: 0, atol: 0 };
  }
}

export interface Comparison {
  readonly ok: boolean;
  readonly maxAbsError: number;
  /** The worst element, when one is out of tolerance. */
  readonly worst?: { readonly index: number; readonly actual: number; readonly expected: number };
}

/** Compares a device result with the reference, element by element, NaN matching NaN. */
export function compareWithReference(actual: HostTensor, expected: HostTensor, tol: Tolerance = toleranceFor(expected.dtype)): Comparison {
  const a = toValues(actual);
  const e = toValues(expected);
  let scale = 0;
  for (let i = 0; i < e.length; i++) if (Number.isFinite(e[i]!)) scale = Math.max(scale, Math.abs(e[i]!));
  let maxAbsError = 0;
  let worst: Comparison['worst'];
  let worstExcess = 0;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const err = Math.abs(x - y);
    if (Number.isFinite(err)) maxAbsError = Math.max(maxAbsError, err);
    const excess = err - (tol.rtol * Math.abs(y) + tol.atol * scale);
    if (!(excess <= 0) && (worst === undefined || !(excess <= worstExcess))) {
      worst = { index: i, actual: x, expected: y };
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  return worst ? { ok: false, maxAbsError, worst } : { ok: true, maxAbsError };
}
