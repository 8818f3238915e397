import { describe, expect, it } from 'vitest';
import { TextDslError } from '../../../src/dsl/text/errors.js';
import { MAX_NESTING, parseProgram } from '../../../src/dsl/text/parse.js';

function errorOf(source: string): TextDslError {
  try {
    parseProgram(source, 'deep.tc');
  } catch (e) {
    expect(e).toBeInstanceOf(TextDslError);
    return e as TextDslError;
  }
  throw new Error('expected an error');
}

const head = 'program p(N) {\n  input X: f32[i: N]\n';

describe('nesting limits point at the deep construct', () => {
  it('reports brackets nested past the limit at the first bracket over it', () => {
    const e = errorOf(`${head}  # a comment ((((\n  output Y = ${'('.repeat(5000)}X${')'.repeat(5000)}\n}\n`);
    expect(e.kind).toBe('syntax');
    expect(e.reason).toBe(`the program nests too deeply: brackets 5000 deep here, the limit is ${MAX_NESTING}`);
    expect([e.line, e.column]).toEqual([4, 14 + MAX_NESTING]);
  });

  it('parses brackets nested up to the limit', () => {
    const p = parseProgram(`${head}  output Y = ${'('.repeat(MAX_NESTING)}X${')'.repeat(MAX_NESTING)}\n}\n`);
    expect(p.outputs).toEqual(['Y']);
  });

  it('reports an expression too long to parse at the line that holds it', () => {
    const e = errorOf(`${head}  let Z = X + 1\n  output Y = X${' + X'.repeat(5000)}\n}\n`);
    expect(e.reason).toMatch(/nests too deeply/);
    expect([e.line, e.column]).toEqual([4, 3]);
  });

  it('reports an expression made too deep by substituted names at the statement that defines it', () => {
    const names = Array.from({ length: 1200 }, (_, k) => `  t${k + 1} = t${k} * 1.0001\n`).join('');
    const e = errorOf(`${head}  t0 = X + 1\n${names}  output Y = t1200\n}\n`);
    expect(e.reason).toMatch(/the expression for Y .* nests 120\d operations deep; the limit is 1000/);
    expect([e.line, e.column]).toEqual([1204, 10]);
  });
});
