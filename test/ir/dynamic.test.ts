import { describe, expect, it } from 'vitest';
import { canonicalProgram } from '../../src/autotune/canonical.js';
import { program } from '../../src/dsl/program.js';
import { TextDslError } from '../../src/dsl/text/errors.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { actualShape, bindProgram, dynamicExtent, dynamicLoopExtent, dynamicValues, numel, shapeOf } from '../../src/ir/bind.js';
import { ProgramError, ShapeError } from '../../src/ir/errors.js';
import { structuralHash } from '../../src/ir/hash.js';
import { fromValues, toValues } from '../../src/ir/host.js';
import { imul, printInt, sym } from '../../src/ir/intexpr.js';
import { printProgram } from '../../src/ir/print.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';
import { verifyProgram } from '../../src/ir/verify.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { thrown } from '../helpers/thrown.js';

/** Attention scores of one query row against a KV cache of M (dynamic) keys, and a doubled copy of the cache. */
const decode = program('decode', (p) => {
  const [H, D] = p.sizes('H', 'D');
  const M = p.dynamicSize('M', { max: 64 });
  const q = p.input('Q', 'f32', { h: H, d: D });
  const k = p.input('K', 'f32', { h: H, j: M, d: D });
  p.output('S', q.mul(k).sum('d'));
  p.output('T', p.input('W', 'f32', { j2: imul(M, 2) }).mul(2));
});

describe('dynamic sizes in the tensor IR', () => {
  it('the DSL declares them with a bound, either way', () => {
    expect(decode.sizes).toEqual(['H', 'D', 'M']);
    expect(decode.dynamic).toEqual({ M: 64 });
    const q = program('q', (p) => {
      const [N, M] = p.sizes('N', 'M');
      p.dynamic(M, 100);
      p.output('Y', p.input('X', 'f32', { i: N, j: M }).mul(2));
    });
    expect(q.dynamic).toEqual({ M: 100 });
    expect(program('s', (p) => p.output('Y', p.input('X', 'f32', { i: p.size('N') }).mul(2))).dynamic).toBeUndefined();
  });

  it('the DSL refuses a bad bound, a second bound, and a size it did not declare', () => {
    const build = (f: (p: Parameters<Parameters<typeof program>[1]>[0]) => void) => () =>
      program('p', (p) => {
        f(p);
        p.output('Y', p.input('X', 'f32', { i: p.size('N') }).mul(2));
      });
    expect(thrown(build((p) => p.dynamicSize('M', { max: 0 })))).toBeInstanceOf(ShapeError);
    expect(thrown(build((p) => p.dynamicSize('M', { max: 2.5 })))).toBeInstanceOf(ShapeError);
    expect(thrown(build((p) => p.dynamic(p.dynamicSize('M', { max: 4 }), 8)))).toBeInstanceOf(ProgramError);
    expect(thrown(build((p) => p.dynamic(sym('Z'), 8)))).toBeInstanceOf(ProgramError);
  });

  it('the text language writes `M <= bound` in the size list', () => {
    const src = `program decode(H, D, M <= 64) {
  input Q: f32[h: H, d: D]
  input K: f32[h: H, j: M, d: D]
  output S = sum[d](Q * K)
}`;
    const p = parseProgram(src);
    expect(p.sizes).toEqual(['H', 'D', 'M']);
    expect(p.dynamic).toEqual({ M: 64 });
    expect(printProgram(p).split('\n')[0]).toBe('program decode(H, D, M <= 64)');
  });

  it('the text language reports a bad bound at its line and column', () => {
    for (const [bound, col] of [['0', 19], ['2.5', 19], ['inf', 19]] as const) {
      const e = thrown(() => parseProgram(`\nprogram p(N, M <= ${bound}) {\n  input X: f32[i: M]\n  output Y = X * 2\n}`));
      expect(e).toBeInstanceOf(TextDslError);
      expect(e).toMatchObject({ line: 2, column: col });
      expect((e as TextDslError).reason).toMatch(/bound of dynamic size M must be a positive integer/);
    }
    const syntax = thrown(() => parseProgram('program p(M <= N) {\n}'));
    expect(syntax).toMatchObject({ kind: 'syntax', line: 1, column: 16 });
  });

  it('verify, serialize and hash see the field', () => {
    expect(deserializeProgram(serializeProgram(decode))).toEqual(decode);
    const fixed = { ...decode, dynamic: { M: 32 } };
    expect(structuralHash(fixed)).not.toBe(structuralHash(decode));
    const { dynamic: _, ...plain } = decode;
    expect(structuralHash(plain)).toBe(structuralHash({ ...plain, dynamic: undefined }));
    expect(thrown(() => verifyProgram({ ...decode, dynamic: { Z: 4 } }))).toBeInstanceOf(ProgramError);
    expect(thrown(() => verifyProgram({ ...decode, dynamic: { M: 0 } }))).toBeInstanceOf(ShapeError);
    // a dynamic program tunes apart from its static twin, whatever its sizes are called
    expect(canonicalProgram(decode).program.dynamic).toEqual({ [canonicalProgram(decode).sizeNames.M!]: 64 });
    expect(canonicalProgram(plain).program).not.toHaveProperty('dynamic');
  });
});

describe('binding a dynamic size', () => {
  const b = bindProgram(decode, { H: 2, D: 4 });

  it('lays tensors out at the bound and records what is dynamic', () => {
    expect(b.bound).toEqual({ H: 2, D: 4, M: 64 });
    expect(b.dynamic).toEqual({ M: 64 });
    const K = b.inputs.find((t) => t.name === 'K')!;
    expect(shapeOf(K)).toEqual([2, 64, 4]);
    expect(numel(shapeOf(K))).toBe(512);
    expect(dynamicExtent(b, 'K', 0)).toBeUndefined();
    expect(dynamicExtent(b, 'K', 1)).toEqual(sym('M'));
    expect(printInt(dynamicExtent(b, 'W', 0)!)).toBe('M * 2');
    expect(dynamicExtent(b, 'Q', 0)).toBeUndefined();
    expect(Object.keys(b.dynamicAxes).sort()).toEqual(['K', 'S', 'T', 'W']);
    // the reduction over d is static; the statement axes of S are (h, j)
    expect(b.dynamicAxes.S).toEqual([undefined, sym('M')]);
    expect(dynamicLoopExtent(b, 'd')).toBeUndefined();
  });

  it('records reduction and fold axes of dynamic extent by name', () => {
    const p = program('red', (q) => {
      const M = q.dynamicSize('M', { max: 16 });
      const N = q.size('N');
      q.output('Y', q.input('X', 'f32', { i: N, j: M }).sum('j'));
    });
    const bp = bindProgram(p, { N: 3 });
    const red = bp.stmts[0]!.expr;
    expect(red.op).toBe('reduce');
    const name = red.op === 'reduce' ? red.axes[0]!.name : '';
    expect(dynamicLoopExtent(bp, name)).toEqual(sym('M'));
    expect(dynamicExtent(bp, 'Y', 0)).toBeUndefined();
  });

  it('accepts a value up to the bound at compile time, and refuses one above it', () => {
    expect(bindProgram(decode, { H: 2, D: 4, M: 10 }).bound.M).toBe(64);
    const e = thrown(() => bindProgram(decode, { H: 2, D: 4, M: 65 }));
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).message).toMatch(/dynamic size M is at most 64 \(its bound\), got 65/);
    expect((e as ShapeError).axis).toBe('M');
  });

  it('binds at the value for one instance, with nothing dynamic left', () => {
    const v = bindProgram(decode, { H: 2, D: 4, M: 10 }, { dynamic: 'value' });
    expect(v.bound.M).toBe(10);
    expect(v.dynamic).toEqual({});
    expect(v.dynamicAxes).toEqual({});
    expect(shapeOf(v.inputs.find((t) => t.name === 'K')!)).toEqual([2, 10, 4]);
  });

  it('checks run-time values: missing, not an integer, below 1, above the bound', () => {
    expect(dynamicValues(b, { M: 7 })).toEqual({ M: 7 });
    expect(dynamicValues(b, { M: 7, H: 2 })).toEqual({ M: 7 });
    expect(thrown(() => dynamicValues(b, {}))).toBeInstanceOf(ProgramError);
    for (const bad of [2.5, 0, -3, 65, NaN]) {
      const e = thrown(() => dynamicValues(b, { M: bad }));
      expect(e).toBeInstanceOf(ShapeError);
      expect((e as ShapeError).axis).toBe('M');
    }
    expect(thrown(() => dynamicValues(b, { M: 3, H: 3 }))).toBeInstanceOf(ShapeError);
    expect(thrown(() => dynamicValues(b, { M: 3, Z: 3 }))).toBeInstanceOf(ProgramError);
    expect(actualShape(b, b.inputs.find((t) => t.name === 'K')!, { M: 5 })).toEqual([2, 5, 4]);
    expect(actualShape(b, b.inputs.find((t) => t.name === 'W')!, { M: 5 })).toEqual([10]);
  });
});

describe('the reference at a dynamic size', () => {
  it('evaluates the program at the value given, on host tensors at that shape', () => {
    const M = 3;
    const Q = fromValues('f32', [1, 2], [1, 2]);
    const K = fromValues('f32', [1, M, 2], [1, 1, 2, 0, 0, 3]);
    const W = fromValues('f32', [2 * M], [1, 2, 3, 4, 5, 6]);
    const r = evaluate(decode, { H: 1, D: 2, M }, { Q, K, W });
    expect(r.outputs.S!.shape).toEqual([1, M]);
    expect(Array.from(toValues(r.outputs.S!))).toEqual([3, 2, 6]);
    expect(Array.from(toValues(r.outputs.T!))).toEqual([2, 4, 6, 8, 10, 12]);
    expect(thrown(() => evaluate(decode, { H: 1, D: 2, M: 65 }, { Q, K, W }))).toBeInstanceOf(ShapeError);
  });
});
