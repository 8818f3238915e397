import { readFile } from 'node:fs/promises';
import { type Sizes, bindProgram } from '../ir/bind.js';
import { ProgramError, ShapeError } from '../ir/errors.js';
import { type DType, isDType } from '../ir/dtype.js';
import { deserializeProgram } from '../ir/serialize.js';
import { type Program } from '../ir/tensor.js';
import { type Example, loadExamples } from './examples.js';
import { UsageError, parseSizes } from './sizes.js';

export interface ProgramSource {
  readonly name: string;
  readonly program: Program;
  readonly dtype: DType;
  readonly sizes: Sizes;
  readonly flops?: (s: Sizes) => number;
}

/**
 * Resolves a command's program argument: a built-in example name, a text-language file (`.tc`,
 * optionally `file.tc:program`), or a serialized program (`.json`). Files need every size given
 * with --shape.
 */
export async function resolveProgram(spec: string, dtype: string | undefined, shape: readonly string[]): Promise<ProgramSource> {
  if (!/[./\\]/.test(spec)) {
    const e = exampleOrThrow(await loadExamples(), spec);
    const dt = dtypeFor(e, dtype);
    const program = e.build(dt);
    const sizes = checkBinds(e.name, program, parseSizes(shape, e.sizes));
    return { name: e.name, program, dtype: dt, sizes, ...(e.flops ? { flops: e.flops } : {}) };
  }
  const [path, which] = spec.split(/:(?=[A-Za-z_][A-Za-z0-9_]*$)/) as [string, string | undefined];
  const text = await readProgramFile(path);
  let program: Program;
  if (path.endsWith('.json')) {
    program = deserializeProgram(text, path);
  } else {
    // --dtype sets the program's dtype parameter T (`program matmul<T = f32>(...)`)
    const { parseProgram } = await import('../dsl/text/parse.js');
    program = parseProgram(text, path, which, dtype ? { dtypes: { T: dtype } } : {});
  }
  const blank = Object.fromEntries(program.sizes.map((s) => [s, 0]));
  const sizes = parseSizes(shape, blank);
  const missing = program.sizes.filter((s) => !sizes[s]);
  if (missing.length) {
    throw new UsageError(`${path}: give every size with --shape, e.g. --shape ${program.sizes.map((s) => `${s}=128`).join(',')} (missing ${missing.join(', ')})`);
  }
  const dt = program.inputs[0]?.dtype ?? 'f32';
  if (dtype && dtype !== dt && path.endsWith('.json')) throw new UsageError(`${path}: a serialized program's dtypes are fixed (its first input is ${dt})`);
  return { name: program.name, program, dtype: dt, sizes: checkBinds(path, program, sizes) };
}

/**
 * Binds the program at the sizes given, so a size it rejects (above a dynamic size's bound,
 * breaking a constraint) is a usage error here, before any device or measuring worker starts.
 */
function checkBinds(what: string, program: Program, sizes: Sizes): Sizes {
  try {
    bindProgram(program, sizes);
  } catch (e) {
    if (e instanceof ShapeError || e instanceof ProgramError) throw new UsageError(`${what}: --shape ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(',')}: ${e.message}`, { cause: e });
    throw e;
  }
  return sizes;
}

export function exampleOrThrow(examples: readonly Example[], name: string): Example {
  const e = examples.find((x) => x.name === name);
  if (!e) throw new UsageError(`no example named ${JSON.stringify(name)}; try one of: ${examples.map((x) => x.name).join(', ')}`);
  return e;
}

export function dtypeFor(e: Example, requested: string | undefined): DType {
  const dtype = requested ?? e.dtypes[0]!;
  if (!isDType(dtype) || !e.dtypes.includes(dtype)) {
    throw new UsageError(`example ${e.name} comes in ${e.dtypes.join(', ')}, not ${dtype}`);
  }
  return dtype;
}

/** A program file's text; a file that cannot be read is the user's input, said as a usage error. */
async function readProgramFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new UsageError(`cannot read program file ${path}: ${why} (a program is an example name, see \`autotune list\`, a .tc file or a .json program)`);
  }
}
