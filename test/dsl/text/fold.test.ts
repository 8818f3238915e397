import { describe, expect, it } from 'vitest';
import { type ProgramBuilder, program } from '../../../src/dsl/program.js';
import { TextDslError } from '../../../src/dsl/text/errors.js';
import { parseProgram } from '../../../src/dsl/text/parse.js';
import { DTypeError } from '../../../src/ir/errors.js';
import { structuralHash } from '../../../src/ir/hash.js';
import { printProgram } from '../../../src/ir/print.js';
import { thrown } from '../../helpers/thrown.js';

const same = (text: string, build: (p: ProgramBuilder) => void) => {
  const a = parseProgram(text);
  const b = program('p', build);
  expect(printProgram(a)).toBe(printProgram(b));
  expect(structuralHash(a)).toBe(structuralHash(b));
};

const error = (text: string): TextDslError => {
  const e = thrown(() => parseProgram(text, 'f.tc'));
  expect(e).toBeInstanceOf(TextDslError);
  return e as TextDslError;
};

const HEAD = `program p(N, M) {
  input X: f32[i: N, j: M]
`;

describe('fold and scan blocks build what p.fold and p.scan build', () => {
  it('a fold with a local, two fields and a let and an output', () => {
    same(
      `${HEAD}  fold over j: M {
    state s: f32 = 0; state q: f32 = 0
    step { v = X * 2; s <- s + v; q <- q + v * v }
    merge { s <- s + s'; q <- q + q' }
    output mean = s / f32(M)
    let ex2 = q / f32(M)
  }
  output var = ex2 - mean * mean
}`,
      (p) => {
        const [, M] = p.sizes('N', 'M');
        const x = p.input('X', 'f32', { i: p.size('N'), j: M });
        const { mean, ex2 } = p.fold({
          over: { j: M },
          state: { s: { dtype: 'f32', init: 0 }, q: { dtype: 'f32', init: 0 } },
          step: (st, local) => {
            const v = local('v', x.mul(2));
            return { s: st.s.add(v), q: st.q.add(v.mul(v)) };
          },
          merge: (a, b) => ({ s: a.s.add(b.s), q: a.q.add(b.q) }),
          outputs: (st) => ({ mean: st.s.div(p.value(M, 'f32')), ex2: st.q.div(p.value(M, 'f32')) }),
        });
        p.output('mean', mean);
        p.output('var', ex2.sub(mean.mul(mean)));
      },
    );
  });

  it('a scan with a field over its own axis', () => {
    same(
      `program p(T, E) {
  input x: f32[t: T, e: E]
  scan over t: T {
    state run[e: E]: f32 = -inf
    step { run <- max(run, x) }
    merge { run <- max(run, run') }
    output y = run
  }
}`,
      (p) => {
        const [T, E] = p.sizes('T', 'E');
        const x = p.input('x', 'f32', { t: T, e: E });
        const { y } = p.scan({
          over: { t: T },
          state: { run: { dtype: 'f32', axes: { e: E }, init: -Infinity } },
          step: (s) => ({ run: s.run.max(x) }),
          merge: (a, b) => ({ run: a.run.max(b.run) }),
          outputs: (s) => ({ y: s.run }),
        });
        p.output('y', y);
      },
    );
  });

  it('names like fold, state and merge stay usable outside fold blocks', () => {
    same(`${HEAD}  fold = X * 2\n  output merge = fold + 1\n}`, (p) => {
      const [N, M] = p.sizes('N', 'M');
      p.output('merge', p.input('X', 'f32', { i: N, j: M }).mul(2).add(1));
    });
  });
});

describe('fold errors point at the line and column', () => {
  const body = (inner: string) => `${HEAD}  fold over j: M {\n    state s: f32 = 0\n${inner}\n  }\n}`;

  it("m' outside a merge block", () => {
    const e = error(body("    step { s <- s' + X }\n    merge { s <- s + s' }\n    output Y = s"));
    expect([e.line, e.column]).toEqual([5, 17]);
    expect(e.reason).toBe("s' (a field of the other partial state) can only be read in a fold's merge block");
  });

  it('a missing block, a field given twice, an assignment to a non-field', () => {
    let e = error(body('    step { s <- s + X }\n    output Y = s'));
    expect(e.reason).toBe('a fold needs exactly one merge block, got 0');
    expect(e.line).toBe(3);
    e = error(body("    step { s <- s + X; s <- s }\n    merge { s <- s + s' }\n    output Y = s"));
    expect([e.line, e.column, e.reason]).toEqual([5, 24, 'state field s is given twice in this step block']);
    e = error(body("    step { t <- s + X }\n    merge { s <- s + s' }\n    output Y = s"));
    expect(e.reason).toMatch(/^t is not a state field \(s\); name a value with =/);
    e = error(body("    step { v = X }\n    merge { s <- s + s' }\n    output Y = s"));
    expect(e.reason).toBe('the step block gives no value for state field s; add s <- ...');
  });

  it("a dtype mismatch in an update is the DSL's DTypeError, located at the fold", () => {
    const e = error(body("    step { s <- i32(X) }\n    merge { s <- s + s' }\n    output Y = s"));
    expect(e.cause).toBeInstanceOf(DTypeError);
    expect(e.reason).toBe('the step of state field s has dtype i32; the field is f32 (cast it)');
    expect(e.line).toBe(3);
  });

  it('locals and fields are not visible after the block', () => {
    const e = error(`${HEAD}  fold over j: M {\n    state s: f32 = 0\n    step { v = X; s <- s + v }\n    merge { s <- s + s' }\n    output Y = s\n  }\n  output Z = v + Y\n}`);
    expect(e.reason).toMatch(/^unknown tensor or size v/);
    expect([e.line, e.column]).toEqual([9, 14]);
  });
});
