import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../../examples/index.js';
import { dot, gelu, geluTanh, layernorm, logSoftmax, rmsnorm, silu, softmax } from '../../../src/dsl/ops.js';
import { type ProgramBuilder, program } from '../../../src/dsl/program.js';
import { TextDslError } from '../../../src/dsl/text/errors.js';
import { parseFile, parseProgram } from '../../../src/dsl/text/parse.js';
import { parseProgramFile } from '../../../src/dsl/text/parse-file.js';
import { DTYPES } from '../../../src/ir/dtype.js';
import { DTypeError, ProgramError, ShapeError, TilecraftError } from '../../../src/ir/errors.js';
import { structuralHash } from '../../../src/ir/hash.js';
import { rng } from '../../../src/ir/host.js';
import { idiv, imod, imul, isub, iadd } from '../../../src/ir/intexpr.js';
import { printProgram } from '../../../src/ir/print.js';
import type { Program } from '../../../src/ir/tensor.js';

const examplePath = (name: string) => fileURLToPath(new URL(`../../../examples/${name}.tc`, import.meta.url));

/** Both front ends must give the same IR: the same printout and the same structural hash. */
function expectSameIr(text: Program, ts: Program): void {
  expect(printProgram(text)).toBe(printProgram(ts));
  expect(text.constraints).toEqual(ts.constraints);
  expect(structuralHash(text)).toBe(structuralHash(ts));
}

function errorOf(source: string, file = 'test.tc', name?: string, options = {}): TextDslError {
  try {
    parseProgram(source, file, name, options);
  } catch (e) {
    expect(e).toBeInstanceOf(TextDslError);
    return e as TextDslError;
  }
  throw new Error(`expected an error from:\n${source}`);
}

describe('the .tc examples build the same IR as the TypeScript examples', () => {
  for (const e of EXAMPLES) {
    for (const dtype of e.dtypes) {
      it(`${e.name} (${dtype})`, () => {
        const file = examplePath(e.name);
        const options = e.dtypes.length > 1 ? { dtypes: { T: dtype } } : {};
        const text = parseProgram(readFileSync(file, 'utf8'), file, undefined, options);
        expectSameIr(text, e.build(dtype));
      });
    }
  }

  it('parseProgramFile reads a file and names it in errors', async () => {
    const file = examplePath('softmax');
    expectSameIr(await parseProgramFile(file), EXAMPLES.find((e) => e.name === 'softmax')!.build('f32'));
    await expect(parseProgramFile(file, 'nope')).rejects.toThrow(/softmax\.tc has no program named nope/);
  });
});

/** A program in both languages: the text's header and body, and the TypeScript build function. */
function pair(text: string, build: (p: ProgramBuilder) => void, name = 'p'): void {
  expectSameIr(parseProgram(text), program(name, build));
}

describe('the language builds what the TypeScript DSL builds', () => {
  it('arithmetic with precedence, unary minus and constants on either side', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input Y: f32[j: D]
         output A = X + Y * 2 - X / 3 % 4
         output B = (X + Y) * -X
         output C = 2 - X * (1 + 2)
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const y = p.input('Y', 'f32', { j: D });
        p.output('A', x.add(y.mul(2)).sub(x.div(3).mod(4)));
        p.output('B', x.add(y).mul(x.neg()));
        p.output('C', p.scalar(2, 'f32').sub(x.mul(3)));
      },
    );
  });

  it('every unary function', () => {
    const fns = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'floor', 'ceil', 'sin', 'cos', 'recip'] as const;
    pair(
      `program p(N) { input X: f32[i: N]\n${fns.map((f) => `output O_${f} = ${f}(X)`).join('\n')} }`,
      (p) => {
        const x = p.input('X', 'f32', { i: p.size('N') });
        for (const f of fns) p.output(`O_${f}`, x[f]());
      },
    );
  });

  it('binary functions, reductions over one and several axes, and mean', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input Y: f32[j: D]
         output A = pow(X, 2) + max(X, Y) + min(0, X)
         output B = max[j](X) + min[i, j](X) + sum[j, i](X)
         output C = mean[j](X)
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const y = p.input('Y', 'f32', { j: D });
        p.output('A', x.pow(2).add(x.max(y)).add(p.scalar(0, 'f32').min(x)));
        p.output('B', x.max('j').add(x.min('i', 'j')).add(x.sum('j', 'i')));
        p.output('C', x.mean('j'));
      },
    );
  });

  it('comparisons, where/select, index and masks', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input Y: f32[j: D]
         output A = where(X < Y, X, 0) + where(X <= 1, 1, 0) + where(X > Y, Y, X) + where(2 >= X, X, 1)
         output B = select(index(j, D) == index(i, N), X, -inf) + where(X != 0, 1, X)
         output C = f32(index(j, D)) + index(j, D, f32)
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const y = p.input('Y', 'f32', { j: D });
        p.output(
          'A',
          x.lt(y).where(x, 0)
            .add(x.le(1).where(1, 0))
            .add(x.gt(y).where(y, x))
            .add(p.scalar(2, 'f32').ge(x).where(x, 1)),
        );
        p.output('B', p.index('j', D).eq(p.index('i', N)).where(x, -Infinity).add(x.ne(0).where(1, x)));
        p.output('C', p.index('j', D).cast('f32').add(p.index('j', D, 'f32')));
      },
    );
  });

  it('casts of tensors, numbers and sizes; sizes as values take their partner dtype', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input Z: i32[i: N]
         output A = f16(X)
         output B = i32(X) + Z
         output C = X * D + f32(2) + rsqrt(f32(D)) + X / (D - 1)
         output E = Z + i32(D / 2) + (N % 3)
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const z = p.input('Z', 'i32', { i: N });
        p.output('A', x.cast('f16'));
        p.output('B', x.cast('i32').add(z));
        p.output('C', x.mul(p.value(D, 'f32')).add(p.scalar(2, 'f32')).add(p.value(D, 'f32').rsqrt()).add(x.div(p.value(isub(D, 1), 'f32'))));
        p.output('E', z.add(p.value(idiv(D, 2), 'i32')).add(p.value(imod(N, 3), 'i32')));
      },
    );
  });

  it('views: slice, at, rename, swap, permute, broadcast, split (with -1) and merge', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input Y: f32[j: D]
         output A = X[j = 2:10] + X[j = :9][j = 1:]
         output B = X[i = 0] + X[i = N - 1] + Y
         output C = X[j -> k] + X[i -> j, j -> i][j -> i, i -> j][j -> k]
         output E = X[j, i] + Y[b: 4]
         output F = X[j -> (jo: 4, ji: D / 4)][(jo, ji) -> j] + X[j -> (jo: -1, ji: 8)][(ji, jo) -> j]
         output G = X[i = 0, j = 2:4]
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const y = p.input('Y', 'f32', { j: D });
        p.output('A', x.slice('j', 2, 10).add(x.slice('j', 0, 9).slice('j', 1, 9)));
        p.output('B', x.at('i', 0).add(x.at('i', isub(N, 1))).add(y));
        p.output('C', x.rename({ j: 'k' }).add(x.rename({ i: 'j', j: 'i' }).rename({ j: 'i', i: 'j' }).rename({ j: 'k' })));
        p.output('E', x.permute('j', 'i').add(y.broadcast({ b: 4 })));
        p.output(
          'F',
          x.split('j', { jo: 4, ji: idiv(D, 4) }).merge(['jo', 'ji'], 'j')
            .add(x.split('j', { jo: -1, ji: 8 }).merge(['ji', 'jo'], 'j')),
        );
        p.output('G', x.at('i', 0).slice('j', 2, 4));
      },
    );
  });

  it('let makes an intermediate, a plain binding does not; outputs take a storage order', () => {
    const text = `program p(N, D) {
      input X: f32[i: N, j: D]
      t = X * 2          # a name for a value, like a TypeScript const
      let S = t + 1      # a named intermediate tensor
      let R[j, i] = S * S
      output O[j, i] = S - t + R
    }`;
    pair(text, (p) => {
      const [N, D] = p.sizes('N', 'D');
      const x = p.input('X', 'f32', { i: N, j: D });
      const t = x.mul(2);
      const s = p.let('S', t.add(1));
      const r = p.let('R', s.mul(s).permute('j', 'i'));
      p.output('O', s.sub(t).add(r), ['j', 'i']);
    });
    expect(parseProgram(text).stmts.map((s) => s.target.name)).toEqual(['S', 'R', 'O']);
  });

  it('composites: softmax, logsoftmax, layernorm and rmsnorm with keywords, activations, dot over several axes', () => {
    pair(
      `program p(N, D) {
         input X: f32[i: N, j: D]
         input G: f32[j: D]
         output A = softmax[j](X) + logsoftmax[i](X)
         output B = layernorm[j](X) + layernorm[j](X, G, eps = 1e-3) + layernorm[j](X, beta = G)
         output C = rmsnorm[j](X, G, eps=1e-6) + rmsnorm[j](X, weight = G)
         output E = gelu(X) + gelu_tanh(X) + silu(X)
         output F = dot[i, j](X, X) + dot[j](X, G)
       }`,
      (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', 'f32', { i: N, j: D });
        const g = p.input('G', 'f32', { j: D });
        p.output('A', softmax(x, 'j').add(logSoftmax(x, 'i')));
        p.output('B', layernorm(x, 'j').add(layernorm(x, 'j', { gamma: g, eps: 1e-3 })).add(layernorm(x, 'j', { beta: g })));
        p.output('C', rmsnorm(x, 'j', { weight: g, eps: 1e-6 }).add(rmsnorm(x, 'j', { weight: g })));
        p.output('E', gelu(x).add(geluTanh(x)).add(silu(x)));
        p.output('F', dot(x, x, 'i', 'j').add(dot(x, g, 'j')));
      },
    );
  });

  it('every dtype, scalar inputs, integer size expressions and number literals', () => {
    pair(
      `program p(N) {
         ${DTYPES.map((d) => `input In_${d}: ${d}[i: N * 2 + 1, j: (N - 1) / 2 % 3, k: 4]`).join('\n')}
         input s: f32
         input t: f32[]
         output O = f32(In_u4) * s + t + .5 + 1.5e3 + 2E-2 + inf
       }`,
      (p) => {
        const N = p.size('N');
        const axes = { i: iadd(imul(N, 2), 1), j: imod(idiv(isub(N, 1), 2), 3), k: 4 };
        const ins = DTYPES.map((d) => p.input(`In_${d}`, d, axes));
        const s = p.input('s', 'f32', {});
        const t = p.input('t', 'f32', {});
        p.output('O', ins[DTYPES.indexOf('u4')]!.cast('f32').mul(s).add(t).add(0.5).add(1500).add(0.02).add(Infinity));
      },
    );
  });

  it('comments, semicolons and several statements on a line', () => {
    pair(
      `# leading comment
       program p(N) { # after the brace
         input X: f32[i: N]; let A = X * 2; output Y = A + 1 # trailing
       } # done`,
      (p) => {
        const x = p.input('X', 'f32', { i: p.size('N') });
        const a = p.let('A', x.mul(2));
        p.output('Y', a.add(1));
      },
    );
  });

  it('numbers fold among themselves; sizes stay integer expressions', () => {
    pair(
      `program p(N) {
         input X: f32[i: N]
         half = 1 / 2
         n = N * 2
         output Y = X * (half + 2 * 3 - -1) + f32(n - 1) + max(1, 2)
       }`,
      (p) => {
        const N = p.size('N');
        const x = p.input('X', 'f32', { i: N });
        p.output('Y', x.mul(0.5 + 6 + 1).add(p.value(isub(imul(N, 2), 1), 'f32')).add(2));
      },
    );
  });

  it('dtype parameters: default, chosen by the caller, and several of them', () => {
    const text = `program p<T = f32, I = i32>(N) {
      input X: T[i: N]
      input Z: I[i: N]
      output Y = X + T(Z)
    }`;
    const build = (t: 'f32' | 'f16', i: 'i32' | 'u32') => (p: ProgramBuilder) => {
      const N = p.size('N');
      const x = p.input('X', t, { i: N });
      const z = p.input('Z', i, { i: N });
      p.output('Y', x.add(z.cast(t)));
    };
    expectSameIr(parseProgram(text), program('p', build('f32', 'i32')));
    expectSameIr(parseProgram(text, 'x.tc', undefined, { dtypes: { T: 'f16', I: 'u32' } }), program('p', build('f16', 'u32')));
  });

  it('a file may hold several programs', () => {
    const text = `program a(N) { input X: f32[i: N]  output Y = exp(X) }
                  program b(N) { input X: f32[i: N]  output Y = log(X) }`;
    expect(parseFile(text).map((p) => p.name)).toEqual(['a', 'b']);
    expect(parseProgram(text, 'two.tc', 'b').stmts[0]!.expr.op).toBe('unary');
    const e = errorOf(text, 'two.tc');
    expect([e.line, e.column]).toEqual([2, 27]);
    expect(e.reason).toMatch(/holds 2 programs \(a, b\); name the one to build/);
    expect(errorOf(text, 'two.tc', 'c').reason).toMatch(/no program named c; it holds a, b/);
  });
});

describe('errors name the file, line and column', () => {
  interface Case {
    readonly what: string;
    readonly source: string;
    readonly line: number;
    readonly column: number;
    readonly reason: RegExp;
    readonly cause?: new (...args: never[]) => TilecraftError;
    readonly kind?: 'syntax' | 'semantic';
  }
  const head = 'program p(N, D) {\n  input X: f32[i: N, j: D]\n';
  const cases: Case[] = [
    // syntax
    { what: 'a missing operand', source: `${head}  output Y = X +\n}`, line: 4, column: 1, reason: /expected a name, a number, "\(" or "-", found "}"/, kind: 'syntax' },
    { what: 'two values in a row', source: `${head}  output Y = X + 1 2\n}`, line: 3, column: 20, reason: /expected .*an operator, found "2"/, kind: 'syntax' },
    { what: 'an unknown character', source: `${head}  output Y = X @ 2\n}`, line: 3, column: 16, reason: /found "@"/, kind: 'syntax' },
    { what: 'an unclosed bracket', source: 'program p(N) {\n  input X: f32[i: N\n  output Y = X\n}', line: 3, column: 3, reason: /expected .*"]".*found "output"/, kind: 'syntax' },
    { what: 'a keyword as a name', source: 'program p(N) {\n  input let: f32[i: N]\n}', line: 2, column: 9, reason: /expected a name, found "let"/, kind: 'syntax' },
    { what: 'a missing =', source: `${head}  output Y exp(X)\n}`, line: 3, column: 12, reason: /expected .*"=".*found "exp"/, kind: 'syntax' },
    { what: 'the end of the file', source: `${head}  output Y = X`, line: 3, column: 15, reason: /found the end of the file/, kind: 'syntax' },
    { what: 'a comparison chain', source: `${head}  output Y = where(X < 1 < 2, 1, 0)\n}`, line: 3, column: 26, reason: /expected/, kind: 'syntax' },
    { what: 'an empty file', source: '# nothing here\n', line: 1, column: 1, reason: /holds no program/, kind: 'syntax' },
    // names
    { what: 'an unknown tensor', source: `${head}  output Y = exp(Xs)\n}`, line: 3, column: 18, reason: /unknown tensor or size Xs; did you mean X\?/ },
    { what: 'an unknown function', source: `${head}  output Y = expp(X)\n}`, line: 3, column: 14, reason: /unknown function expp; did you mean exp\?/ },
    { what: 'an unknown dtype', source: 'program p(N) {\n  input X: f64[i: N]\n}', line: 2, column: 12, reason: /unknown dtype f64; dtypes are f32, f16, bf16, i32, u32, i8, u4, i4; did you mean f32\?/ },
    { what: 'an unknown size', source: 'program p(N) {\n  input X: f32[i: N, j: M]\n}', line: 2, column: 25, reason: /unknown size M; program p declares N/ },
    { what: 'a name defined twice', source: `${head}  output Y = X\n  Y = X\n}`, line: 4, column: 3, reason: /Y is already defined, as an output on line 3/ },
    { what: 'a tensor named like a size', source: `${head}  let N = X\n}`, line: 3, column: 7, reason: /N is already defined, as a size on line 1/ },
    { what: 'an axis named twice', source: 'program p(N) {\n  input X: f32[i: N, i: N]\n}', line: 2, column: 22, reason: /input X names axis i twice/ },
    // shapes
    {
      what: 'mismatched axis sizes',
      source: 'program p() {\n  input X: f32[i: 4]\n  input Z: f32[i: 5]\n  output Y = X + Z\n}',
      line: 4,
      column: 16,
      reason: /axis i of X and of Z need equal sizes, got 4 and 5/,
      cause: ShapeError,
    },
    { what: 'an unknown axis in a reduction', source: `${head}  output Y = sum[q](X)\n}`, line: 3, column: 18, reason: /X has no axis q; its axes are i, j/, cause: ShapeError },
    { what: 'an unknown axis in a view', source: `${head}  output Y = X[i = 0, q = 1]\n}`, line: 3, column: 23, reason: /has no axis q/, cause: ShapeError },
    { what: 'a slice outside its axis', source: 'program p() {\n  input X: f32[i: 4]\n  output Y = X[i = 2:10]\n}', line: 3, column: 16, reason: /slice 2:10 is outside axis i of X \(size 4\)/, cause: ShapeError },
    { what: 'a storage order that misses an axis', source: `${head}  output Y[i] = X\n}`, line: 3, column: 11, reason: /permute of X needs each of its axes once/, cause: ShapeError },
    { what: 'a permutation mixed with a view', source: `${head}  output Y = X[j, i = 0]\n}`, line: 3, column: 16, reason: /a bare axis name belongs to a permutation/ },
    { what: 'a size that is not an integer', source: 'program p() {\n  input X: f32[i: 2.5]\n}', line: 2, column: 19, reason: /sizes and positions are integers, got 2.5/ },
    { what: 'a zero size', source: 'program p() {\n  input X: f32[i: 0]\n  output Y = X\n}', line: 2, column: 16, reason: /axis i of X has size 0/, cause: ShapeError },
    // dtypes
    { what: 'mixed dtypes', source: `${head}  input H: f16[i: N]\n  output Y = X * H\n}`, line: 4, column: 16, reason: /mul of f32 and f16: cast one operand/, cause: DTypeError },
    { what: 'arithmetic on packed ints', source: 'program p(N) {\n  input W: u4[i: N]\n  output Y = W - 8\n}', line: 3, column: 16, reason: /only stores data; cast it first.*here a cast is written f32\(x\)/, cause: DTypeError },
    { what: 'a fraction added to ints', source: 'program p(N) {\n  input Z: i32[i: N]\n  output Y = Z + 0.5\n}', line: 3, column: 16, reason: /constant 0.5 is not an integer/, cause: DTypeError },
    { what: 'exp of an int', source: 'program p(N) {\n  input Z: i32[i: N]\n  output Y = exp(Z)\n}', line: 3, column: 14, reason: /exp needs a float operand, got i32/, cause: DTypeError },
    { what: 'a boolean output', source: `${head}  output Y = X < 2\n}`, line: 3, column: 10, reason: /Y would be a boolean tensor/, cause: ProgramError },
    { what: 'arithmetic on a comparison', source: `${head}  output Y = (X < 2) + 1\n}`, line: 3, column: 22, reason: /add of booleans; use select/, cause: DTypeError },
    { what: 'a condition that is not a comparison', source: `${head}  output Y = where(X, 1, 0)\n}`, line: 3, column: 14, reason: /select needs a boolean condition/, cause: DTypeError },
    // calls
    { what: 'too many arguments', source: `${head}  output Y = exp(X, X)\n}`, line: 3, column: 21, reason: /too many arguments: exp\(x\)/ },
    { what: 'a missing argument', source: `${head}  output Y = where(X < 1, X)\n}`, line: 3, column: 14, reason: /where is missing b: where\(cond, a, b\)/ },
    { what: 'an unknown keyword', source: `${head}  output Y = layernorm[j](X, epsilon = 1)\n}`, line: 3, column: 30, reason: /layernorm has no parameter epsilon: layernorm\(x, gamma\?, beta\?, eps\?\)/ },
    { what: 'a reduction without axes', source: `${head}  output Y = sum(X)\n}`, line: 3, column: 14, reason: /sum needs the axes it reduces over in brackets, e.g. sum\[j\]/ },
    { what: 'axes on an elementwise function', source: `${head}  output Y = exp[j](X)\n}`, line: 3, column: 18, reason: /exp takes no axes/ },
    { what: 'softmax over two axes', source: `${head}  output Y = softmax[i, j](X)\n}`, line: 3, column: 25, reason: /softmax normalizes over one axis/ },
    { what: 'a constant output', source: `${head}  output Y = 2 * 3\n}`, line: 3, column: 14, reason: /output Y needs a tensor, got 6/ },
    { what: 'a function of a constant', source: `${head}  output Y = X + exp(1)\n}`, line: 3, column: 22, reason: /exp needs a tensor, got 1; give a constant a dtype with a cast/ },
    { what: 'a dtype used as a value', source: `${head}  output Y = X + f32\n}`, line: 3, column: 18, reason: /f32 is a dtype; cast a value with f32\(x\)/ },
    { what: 'a program without outputs', source: `${head}  let Y = X\n}`, line: 1, column: 9, reason: /program p has no outputs/, cause: ProgramError },
  ];

  for (const c of cases) {
    it(c.what, () => {
      const e = errorOf(c.source);
      expect({ line: e.line, column: e.column }).toEqual({ line: c.line, column: c.column });
      expect(e.reason).toMatch(c.reason);
      expect(e.kind).toBe(c.kind ?? 'semantic');
      expect(e.file).toBe('test.tc');
      expect(e).toBeInstanceOf(TilecraftError);
      if (c.cause) expect(e.cause).toBeInstanceOf(c.cause);
      expect(e.message.startsWith(`test.tc:${c.line}:${c.column}: `)).toBe(true);
    });
  }

  it('the excerpt shows the line with a caret under the construct, tabs kept', () => {
    const e = errorOf('program p(N) {\n\tinput X: f32[i: N]\n\toutput Y = expp(X)\n}');
    expect([e.line, e.column]).toEqual([3, 13]);
    expect(e.excerpt).toBe('3 | \toutput Y = expp(X)\n  | \t           ^^^^');
    expect(e.message).toBe(`test.tc:3:13: unknown function expp; did you mean exp?\n${e.excerpt}`);
  });

  it('dtype parameters are checked', () => {
    const text = 'program p<T = f32>(N) {\n  input X: T[i: N]\n  output Y = X\n}';
    let e = errorOf(text, 'test.tc', undefined, { dtypes: { T: 'f64' } });
    expect([e.line, e.column, e.reason]).toEqual([1, 11, expect.stringMatching(/dtype parameter T was given "f64"/)]);
    e = errorOf(text, 'test.tc', undefined, { dtypes: { U: 'f16' } });
    expect([e.line, e.column, e.reason]).toEqual([1, 9, expect.stringMatching(/program p has no dtype parameter U; its dtype parameters are T/)]);
    e = errorOf('program p<T>(N) {\n  input X: T[i: N]\n  output Y = X\n}');
    expect([e.line, e.column, e.reason]).toEqual([1, 11, expect.stringMatching(/dtype parameter T has no default/)]);
  });

  it('absurd nesting is an error in the input, not a crash', () => {
    const e = errorOf(`program p(N) {\n  input X: f32[i: N]\n  output Y = ${'('.repeat(20000)}X${')'.repeat(20000)}\n}`);
    expect(e.kind).toBe('syntax');
    expect(e.reason).toMatch(/nests too deeply/);
  });
});

describe('mutated programs give typed errors, never a crash or a hang', () => {
  const TOKENS = [
    '(', ')', '[', ']', '{', '}', ',', ':', '=', '==', '->', '-', '+', '*', '/', '%', '<', ';', '#', '\n', ' ',
    'X', 'j', 'k', 'N', 'D', '0', '-1', '1.5', '1e-9', 'inf', 'f16', 'i32', 'u4', 'bool', 'sum[j]', 'max', 'exp(', 'where(',
    'softmax[j](', 'index(j, D)', 'let ', 'output ', 'input ', 'program ', '[j = 1:2]', '[j -> (a: 2, b: -1)]', '[(a, b) -> j]',
    '[j, i]', '[q: 3]', 'eps = ', 'constructor', 'toString', '<T = f32>', 'T(', 'f32(D)',
  ];
  const sources = EXAMPLES.map((e) => readFileSync(examplePath(e.name), 'utf8'));

  function mutate(src: string, r: () => number): string {
    const at = () => Math.floor(r() * (src.length + 1));
    const pick = <X,>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;
    switch (Math.floor(r() * 6)) {
      case 0:
        return src.slice(0, at()); // truncate
      case 1: {
        const i = at();
        return src.slice(0, i) + src.slice(i + 1 + Math.floor(r() * 6)); // delete a few characters
      }
      case 2: {
        const i = at();
        return src.slice(0, i) + pick(TOKENS) + src.slice(i); // insert a token
      }
      case 3: {
        const words = [...src.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)];
        const w = words.length ? pick(words) : undefined;
        if (!w || w.index === undefined) return src;
        return src.slice(0, w.index) + pick(TOKENS.filter((t) => /^[A-Za-z]/.test(t))) + src.slice(w.index + w[0].length); // replace a word
      }
      case 4: {
        const lines = src.split('\n');
        const i = Math.floor(r() * lines.length);
        const j = Math.floor(r() * lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!]; // swap two lines
        return lines.join('\n');
      }
      default: {
        const i = at();
        const j = at();
        return src.slice(0, Math.min(i, j)) + src.slice(Math.max(i, j)); // cut a span
      }
    }
  }

  it('1500 mutations of the examples', () => {
    const r = rng(20240607);
    let ok = 0;
    const kinds = new Set<string>();
    const times: number[] = [];
    for (let n = 0; n < 1500; n++) {
      let src = sources[n % sources.length]!;
      const rounds = 1 + Math.floor(r() * 3);
      for (let m = 0; m < rounds; m++) src = mutate(src, r);
      const start = performance.now();
      try {
        parseFile(src, 'fuzz.tc');
        ok++;
      } catch (e) {
        if (!(e instanceof TextDslError)) throw new Error(`untyped error for input:\n${src}\n\n${String((e as Error)?.stack ?? e)}`);
        const lines = src.split('\n');
        expect(e.line).toBeGreaterThanOrEqual(1);
        expect(e.line).toBeLessThanOrEqual(lines.length);
        expect(e.column).toBeGreaterThanOrEqual(1);
        expect(e.column).toBeLessThanOrEqual((lines[e.line - 1]?.length ?? 0) + 1);
        expect(e.excerpt).toContain('^');
        kinds.add(e.kind);
        if (e.cause) kinds.add((e.cause as Error).name);
      }
      times.push(performance.now() - start);
    }
    // the mutations reach both the parser and the builder, and some survive
    expect(ok).toBeGreaterThan(0);
    expect(kinds).toContain('syntax');
    expect(kinds).toContain('semantic');
    expect(kinds).toContain('ShapeError');
    // no input is pathologically slow: measured against the typical input on the same machine,
    // not against a clock, so a busy machine is no reason to fail
    times.sort((a, b) => a - b);
    expect(times.at(-1)!).toBeLessThan(1000 * Math.max(times[times.length >> 1]!, 0.05));
  });
});

describe('names that are also Object.prototype properties', () => {
  it('are ordinary axis and size names', () => {
    const p = parseProgram('program p(constructor) {\n  input X: f32[toString: constructor, valueOf: 3]\n  output Y = sum[toString](X)\n}');
    expect(printProgram(p)).toContain('sum[toString');
  });
});
