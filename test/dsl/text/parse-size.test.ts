import { describe, expect, it } from 'vitest';
import { parseProgram } from '../../../src/dsl/text/parse.js';

/** A program of `n` statements, each reading the one before: about 34 bytes a statement. */
function chain(n: number): string {
  const lines = ['program big(N) {', '  input X: f32[i: N]', '  let t0 = X * 1.0001'];
  for (let k = 1; k < n; k++) lines.push(`  let t${k} = t${k - 1} * 1.0001 + 0.5`);
  lines.push(`  output Y = t${n - 1}`, '}');
  return lines.join('\n');
}

/** The fastest of `runs` parses, in ms: the least disturbed by whatever else the machine runs. */
function parseTime(source: string, runs = 2): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    parseProgram(source);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

describe('parsing time grows with the size of the program, not its square', () => {
  // A ratio of times, not a time: a slower machine is slower at both sizes alike. Linear is 4x;
  // quadratic would be 16x.
  it('four times the statements take less than ten times as long to parse', { timeout: 600_000 }, () => {
    const small = chain(1500);
    const large = chain(6000);
    expect(large.length).toBeGreaterThan(200_000);
    parseProgram(small); // warm up the parser
    const ratio = parseTime(large) / parseTime(small);
    expect(ratio).toBeLessThan(10);
  });
});
