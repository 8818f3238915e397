import { describe, expect, it } from 'vitest';
import { program } from '../../../src/dsl/program.js';
import { printTile } from '../../../src/ir/tile.js';
import { elementwiseTile } from '../../../src/passes/tile/from-group.js';
import { vectorize } from '../../../src/passes/tile/vectorize.js';
import { boundStmts } from './fixtures.js';

const scale = (dtype: 'f32' | 'f16') =>
  program('scale', (b) => {
    const [N, D] = b.sizes('N', 'D');
    const x = b.input('X', dtype, { i: N, j: D });
    const s = b.input('S', dtype, { j: D });
    b.output('Y', x.mul(s));
  });

describe('vectorize', () => {
  it('splits the innermost loop into vectors along the stored axis', () => {
    const [s] = boundStmts(scale('f32'), { N: 3, D: 8 });
    expect(printTile(vectorize(elementwiseTile('scale', s!), 4, s!.target))).toMatchInlineSnapshot(`
      "kernel scale
        for e_i < 3:
          for e_j_q < 2:
            Y[e_i, e_j_q * 4 + e_j_v] = X[e_i, e_j_q * 4 + e_j_v] * S[e_j_q * 4 + e_j_v] for e_j_v < 4 (vector)"
    `);
  });

  it('leaves the kernel as it is where the width does not divide the axis, or the type has no vectors', () => {
    const [odd] = boundStmts(scale('f32'), { N: 3, D: 6 });
    const t = elementwiseTile('scale', odd!);
    expect(vectorize(t, 4, odd!.target)).toBe(t);
    const [half] = boundStmts(scale('f16'), { N: 3, D: 8 });
    const h = elementwiseTile('scale', half!);
    expect(vectorize(h, 4, half!.target)).toBe(h);
    expect(vectorize(t, 1, odd!.target)).toBe(t);
  });
});
