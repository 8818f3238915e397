import { type Sizes } from '../ir/bind.js';
import { TilecraftError } from '../ir/errors.js';

export class UsageError extends TilecraftError {
  override name = 'UsageError';
}

/**
 * A size's value: a positive integer that is exact as a JavaScript number. Checked here, so a bad
 * size is reported as the user's mistake before any device or worker is started.
 */
function sizeValue(name: string, digits: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw new UsageError(`size ${name} is too large: ${digits} is past ${Number.MAX_SAFE_INTEGER}, the largest exact integer`);
  if (n < 1) throw new UsageError(`size ${name} must be a positive integer, got ${digits}`);
  return n;
}

/** Parses `N=1024,D=512` (and repeated `--size` values) into sizes, over a set of defaults. */
export function parseSizes(specs: readonly string[], defaults: Sizes): Sizes {
  return parseSizeList(specs, defaults);
}

/**
 * Parses sizes of any names where no program says which exist (`autotune db export --shape`);
 * with `known`, a name outside it is an error and its values are the defaults.
 */
export function parseSizeList(specs: readonly string[], known?: Sizes): Sizes {
  const out: Record<string, number> = { ...known };
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\d+)\s*$/.exec(spec);
    if (!m) throw new UsageError(`size ${JSON.stringify(spec)} should look like N=1024`);
    if (known !== undefined && !(m[1]! in known)) {
      throw new UsageError(`unknown size ${m[1]}; this program's sizes are ${Object.keys(known).join(', ')}`);
    }
    out[m[1]!] = sizeValue(m[1]!, m[2]!);
  }
  return out;
}

/** Parses `N<=8192` (and repeated or comma-separated ones) into dynamic sizes' bounds. */
export function parseDynamicBounds(specs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*<=\s*(\d+)\s*$/.exec(spec);
    if (!m) throw new UsageError(`dynamic size ${JSON.stringify(spec)} should look like N<=8192`);
    out[m[1]!] = sizeValue(m[1]!, m[2]!);
  }
  return out;
}
