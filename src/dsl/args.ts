import { DTYPES, type DType, isDType } from '../ir/dtype.js';
import { DTypeError, ShapeError } from '../ir/errors.js';
import { type IntExpr, int } from '../ir/intexpr.js';

/** Checks a dtype given to the DSL (typed code can still pass `'f64' as any`), naming what it is for. */
export function checkDType(dtype: unknown, what: string, tensor?: string): asserts dtype is DType {
  if (typeof dtype !== 'string' || !isDType(dtype)) {
    throw new DTypeError(`${what} has dtype ${show(dtype)}; dtypes are ${DTYPES.join(', ')}`, tensor);
  }
}

/**
 * A size given to the DSL as an IntExpr: a size symbol or expression, or a number that is a safe
 * integer (the caller checks it is at least 1). Anything else is a ShapeError naming what it is for.
 */
export function sizeArg(size: unknown, what: string, tensor?: string, axis?: string): IntExpr {
  if (typeof size === 'number') {
    if (!Number.isSafeInteger(size)) throw new ShapeError(`${what} has size ${size}; sizes must be integers`, tensor, axis);
    return int(size);
  }
  if (size !== null && typeof size === 'object' && typeof (size as { op?: unknown }).op === 'string') return size as IntExpr;
  throw new ShapeError(`${what} has size ${show(size)}; give a number or a size from p.sizes`, tensor, axis);
}

const show = (x: unknown): string => (typeof x === 'string' ? JSON.stringify(x) : typeof x === 'object' && x !== null ? 'an object' : String(x));
