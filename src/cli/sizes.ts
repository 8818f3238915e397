import { type Sizes } from '../ir/bind.js';
import { TilecraftError } from '../ir/errors.js';

export class UsageError extends TilecraftError {
  override name = 'UsageError';
}

/** Parses `N=1024,D=512` (and repeated `--size` values) into sizes, over a set of defaults. */
export function parseSizes(specs: readonly string[], defaults: Sizes): Sizes {
  const out: Record<string, number> = { ...defaults };
  for (const spec of specs.flatMap((s) => s.split(','))) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\d+)\s*$/.exec(spec);
    if (!m) throw new UsageError(`size ${JSON.stringify(spec)} should look like N=1024`);
    if (!(m[1]! in defaults)) {
      throw new UsageError(`unknown size ${m[1]}; this program's sizes are ${Object.keys(defaults).join(', ')}`);
    }
    out[m[1]!] = Number(m[2]);
  }
  return out;
}
