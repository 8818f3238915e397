import { describe, expect, it } from 'vitest';
import { TextDslError } from '../../../src/dsl/text/errors.js';
import { parseProgram } from '../../../src/dsl/text/parse.js';
import { boundedEditDistance, suggest } from '../../../src/dsl/text/build.js';

/** The full dynamic-programming table: the reference the bounded version is checked against. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function caught(f: () => unknown): TextDslError {
  try {
    f();
  } catch (e) {
    if (e instanceof TextDslError) return e;
    throw e;
  }
  throw new Error('expected a TextDslError');
}

describe('"did you mean" suggestions', () => {
  it('the bounded edit distance agrees with the full one up to its bound', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const word = () => Array.from({ length: rand(7) }, () => 'abc'[rand(3)]).join('');
    for (let t = 0; t < 3000; t++) {
      const a = word();
      const b = word();
      const max = rand(4);
      const full = editDistance(a, b);
      expect(boundedEditDistance(a, b, max), `${a} ${b} ${max}`).toBe(full <= max ? full : max + 1);
    }
  });

  it('still suggests the closest name within two edits', () => {
    expect(suggest('Xs', ['X', 'Y'])).toBe('; did you mean X?');
    expect(suggest('expp', ['exp', 'exp2', 'log'])).toBe('; did you mean exp?');
    expect(suggest('abcdef', ['uvwxyz'])).toBe('');
    const long = 'A'.repeat(20000);
    expect(suggest(`${long}B`, [long, 'X'])).toBe(`; did you mean ${long}?`);
  });

  it('a 40 KB program with two 20 000-character names is reported in linear time', { timeout: 600_000 }, () => {
    const report = (n: number) => {
      const b = 'B'.repeat(n);
      const source = `program p(N) {\n  input ${'A'.repeat(n)}: f32[i: N]\n  output Y = exp(${b})\n}\n`;
      let best = Infinity;
      for (let run = 0; run < 2; run++) {
        const start = performance.now();
        const e = caught(() => parseProgram(source, 'big.tc'));
        best = Math.min(best, performance.now() - start);
        expect(e.reason).toBe(`unknown tensor or size ${b}`);
        expect(e.line).toBe(3);
      }
      return best;
    };
    // A ratio of times, not a time, so a slower machine is no reason to fail: four times the
    // name length is four times the work, where the full edit-distance table (20 000 x 20 000
    // cells, seconds here) was sixteen.
    report(5000); // warm up the parser
    expect(report(80_000) / report(20_000)).toBeLessThan(10);
  });

});
