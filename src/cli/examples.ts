import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Sizes } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import { TilecraftError } from '../ir/errors.js';
import { type Program } from '../ir/tensor.js';

/**
 * The built-in examples are data that ships beside the code (`examples/`, compiled to
 * `dist/examples/`), not part of the CLI: the CLI finds them at run time from the package root,
 * so it works the same from a checkout, from `dist`, and from an installed package.
 */

/** What the CLI needs of a built-in example. */
export interface Example {
  readonly name: string;
  readonly description: string;
  readonly dtypes: readonly DType[];
  readonly build: (dtype: DType) => Program;
  readonly sizes: Sizes;
  /** Floating-point operations for one run at `sizes`, for GFLOP/s. */
  readonly flops?: (sizes: Sizes) => number;
}

/** The built-in examples could not be found or read. */
export class ExamplesNotFoundError extends TilecraftError {
  override name = 'ExamplesNotFoundError';
}

const PACKAGE_NAME = 'tilecraft';

/** The nearest folder at or above `dir` whose package.json names tilecraft. */
export function packageRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    const manifest = join(d, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return d;
    if (dirname(d) === d) throw new ExamplesNotFoundError(`no ${PACKAGE_NAME} package.json above ${dir}; pass a program file (.tc or .json) instead of an example name`);
  }
}

/**
 * The examples' entry module for code running at `moduleUrl`: compiled code under `<root>/dist`
 * loads `dist/examples/index.js`; code run from source (tsx, vitest) loads `examples/index.ts`.
 */
export function examplesModule(moduleUrl: string): string {
  const here = fileURLToPath(moduleUrl);
  const root = packageRoot(dirname(here));
  const built = relative(root, here).split(sep)[0] === 'dist';
  return built ? join(root, 'dist', 'examples', 'index.js') : join(root, 'examples', 'index.ts');
}

/** Loads the built-in examples (`moduleUrl` is where the caller's code runs from; tests move it). */
export async function loadExamples(moduleUrl: string = import.meta.url): Promise<readonly Example[]> {
  const path = examplesModule(moduleUrl);
  if (!existsSync(path)) throw new ExamplesNotFoundError(`the built-in examples are missing (${path}); reinstall tilecraft, or pass a program file (.tc or .json)`);
  const mod = (await import(pathToFileURL(path).href)) as { EXAMPLES?: unknown };
  if (!Array.isArray(mod.EXAMPLES) || !mod.EXAMPLES.every(isExample)) throw new ExamplesNotFoundError(`${path} does not export EXAMPLES, a list of examples`);
  return mod.EXAMPLES;
}

function isExample(v: unknown): v is Example {
  const e = v as Partial<Record<keyof Example, unknown>> | null;
  return typeof e === 'object' && e !== null && typeof e.name === 'string' && typeof e.build === 'function' && Array.isArray(e.dtypes) && typeof e.sizes === 'object';
}
