import type { Program } from '../../ir/tensor.js';
import { type ProgramAst, type SyntaxFailure, parseAst } from './ast.js';
import { buildProgram, suggest } from './build.js';
import { TextDslError } from './errors.js';

/**
 * The text language: programs written close to the math, parsed with Ohm and built with the same
 * ProgramBuilder as the TypeScript DSL, so both front ends give the same tensor IR.
 *
 * ```
 * # row softmax
 * program softmax<T = f32>(N, D) {
 *   input X: T[i: N, j: D]
 *   m = max[j](X)
 *   e = exp(X - m)
 *   output Y = e / sum[j](e)
 * }
 * ```
 *
 * See `grammar.ts` and `docs/text-language.md` for the syntax and `examples/*.tc` for programs.
 */

export interface ParseOptions {
  /** Values of the programs' dtype parameters, `{ T: 'f16' }` for `program p<T = f32>(...)`. */
  readonly dtypes?: Readonly<Record<string, string>>;
}

const DEFAULT_FILE = '<input>';

/** Every program in a file, in order. Throws a TextDslError at the first error. */
export function parseFile(source: string, file: string = DEFAULT_FILE, options: ParseOptions = {}): Program[] {
  return guarded(source, file, () => {
    const asts = programsOf(source, file);
    return asts.map((a) => buildProgram(a, { file, source }, options.dtypes ?? {}));
  });
}

/**
 * The program called `name` in a file, or its only program when no name is given. Throws a
 * TextDslError naming the file, line and column of the first syntax or semantic error.
 */
export function parseProgram(source: string, file: string = DEFAULT_FILE, name?: string, options: ParseOptions = {}): Program {
  return guarded(source, file, () => {
    const asts = programsOf(source, file);
    const here = { file, source, start: 0 };
    let chosen: ProgramAst | undefined;
    if (name !== undefined) {
      chosen = asts.find((a) => a.name.name === name);
      if (!chosen) {
        const names = asts.map((a) => a.name.name);
        throw new TextDslError(`${file} has no program named ${name}; it holds ${names.join(', ')}${suggest(name, names)}`, here, 'semantic');
      }
    } else if (asts.length === 1) {
      chosen = asts[0];
    } else {
      const second = asts[1]!;
      throw new TextDslError(
        `${file} holds ${asts.length} programs (${asts.map((a) => a.name.name).join(', ')}); name the one to build`,
        { file, source, start: second.name.span.start, end: second.name.span.end },
        'semantic',
      );
    }
    const dtypes = options.dtypes ?? {};
    const params = chosen!.typeParams.map((t) => t.name.name);
    for (const key of Object.keys(dtypes)) {
      if (!params.includes(key)) {
        const has = params.length ? `its dtype parameters are ${params.join(', ')}` : 'it has no dtype parameters';
        throw new TextDslError(`program ${chosen!.name.name} has no dtype parameter ${key}; ${has}`, { ...here, start: chosen!.name.span.start, end: chosen!.name.span.end }, 'semantic');
      }
    }
    return buildProgram(chosen!, { file, source }, dtypes);
  });
}

function programsOf(source: string, file: string): ProgramAst[] {
  const r = parseAst(source);
  if (!r.ok) throw syntaxError(source, file, r.failure);
  const seen = new Map<string, ProgramAst>();
  for (const a of r.programs) {
    if (seen.has(a.name.name)) {
      throw new TextDslError(`program ${a.name.name} is defined twice in ${file}`, { file, source, start: a.name.span.start, end: a.name.span.end }, 'semantic');
    }
    seen.set(a.name.name, a);
  }
  if (r.programs.length === 0) {
    throw new TextDslError(`${file} holds no program; start one with: program name(N) { ... }`, { file, source, start: 0 }, 'syntax');
  }
  return r.programs;
}

/** Turns a failed match into an error at the furthest point the parser reached. */
function syntaxError(source: string, file: string, f: SyntaxFailure): TextDslError {
  const found = tokenAt(source, f.offset);
  const reason = `expected ${tidyExpected(f.expected)}, found ${found}`;
  return new TextDslError(reason, { file, source, start: f.offset, end: f.offset + Math.max(1, found.length - 2) }, 'syntax');
}

function tokenAt(source: string, offset: number): string {
  if (offset >= source.length) return 'the end of the file';
  const word = /^(?:[A-Za-z0-9_.]+|<=|>=|==|!=|->|\S)/.exec(source.slice(offset))?.[0];
  if (word === undefined) return 'a line break';
  return JSON.stringify(word);
}

const OPERATORS = ['"+"', '"-"', '"*"', '"/"', '"%"', 'a comparison', '"["'];
const STATEMENT_STARTS = ['a name', '"input"', '"let"', '"output"'];

/** Ohm lists every token it could have taken; group the long lists into words a reader knows. */
function tidyExpected(expected: string): string {
  let items = expected.split(/, or |, | or /).map((s) => s.trim()).filter((s) => s.length > 0);
  const has = (xs: readonly string[]) => xs.every((x) => items.includes(x));
  if (has(STATEMENT_STARTS) && items.includes('"}"')) {
    items = [...items.filter((x) => !STATEMENT_STARTS.includes(x)), 'a statement'];
  }
  if (items.filter((x) => OPERATORS.includes(x)).length >= 3) {
    items = [...items.filter((x) => !OPERATORS.includes(x)), 'an operator'];
  }
  if (items.length <= 1) return items[0] ?? 'something else';
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** Brackets, `(` and `[`, may nest this deep; deeper ones are refused before parsing. */
export const MAX_NESTING = 100;

/** Stack exhaustion on absurdly nested input is reported as an error in that input, not a crash. */
function guarded<R>(source: string, file: string, f: () => R): R {
  const deepest = deepestBracket(source);
  if (deepest.depth > MAX_NESTING) {
    throw new TextDslError(`the program nests too deeply: brackets ${deepest.depth} deep here, the limit is ${MAX_NESTING}`, { file, source, start: deepest.offset }, 'syntax');
  }
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      // not the brackets: a very long expression, e.g. thousands of operators in one statement
      throw new TextDslError('the program nests too deeply to parse; split the longest expressions with let', { file, source, start: longestLine(source) }, 'syntax');
    }
    throw e;
  }
}

/** How deep `(` and `[` nest (comments skipped), and the offset of the first bracket past MAX_NESTING. */
function deepestBracket(source: string): { depth: number; offset: number } {
  let depth = 0;
  let best = { depth: 0, offset: 0 };
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 35 /* # */) {
      const eol = source.indexOf('\n', i);
      if (eol < 0) break;
      i = eol;
    } else if (c === 40 /* ( */ || c === 91 /* [ */) {
      depth++;
      if (depth > best.depth) best = { depth, offset: depth === MAX_NESTING + 1 ? i : best.offset };
    } else if ((c === 41 /* ) */ || c === 93) /* ] */ && depth > 0) {
      depth--;
    }
  }
  return best;
}

/** The offset of the first non-blank character of the longest line. */
function longestLine(source: string): number {
  let best = 0;
  let bestLength = -1;
  for (let start = 0; start <= source.length; ) {
    let end = source.indexOf('\n', start);
    if (end < 0) end = source.length;
    if (end - start > bestLength) {
      bestLength = end - start;
      best = start;
    }
    start = end + 1;
  }
  while (best < source.length && (source[best] === ' ' || source[best] === '\t')) best++;
  return best;
}

export { TextDslError } from './errors.js';
