import { describe, expect, it } from 'vitest';
import { program } from '../../../src/dsl/program.js';
import { printTile } from '../../../src/ir/tile.js';
import { elementwiseTile } from '../../../src/passes/tile/from-group.js';
import { fuseLoops } from '../../../src/passes/tile/fuse-loops.js';
import { boundStmts } from './fixtures.js';

const add = program('add', (b) => {
  const [N, D] = b.sizes('N', 'D');
  b.output('Y', b.input('X', 'f32', { i: N, j: D }).add(1));
});

describe('fuseLoops', () => {
  it('fuses a loop per axis into one loop over their product, naming each axis once', () => {
    const [s] = boundStmts(add, { N: 3, D: 5 });
    const t = elementwiseTile('add', s!);
    expect(printTile(t)).toMatchInlineSnapshot(`
      "kernel add
        for e_i < 3:
          for e_j < 5:
            Y[e_i, e_j] = X[e_i, e_j] + 1"
    `);
    expect(printTile(fuseLoops(t, 'f'))).toMatchInlineSnapshot(`
      "kernel add
        for f < 15:
          e_i = f / 5
          e_j = f % 5
          Y[e_i, e_j] = X[e_i, e_j] + 1"
    `);
  });

  it('gives a scalar statement a loop of one', () => {
    const scalar = program('one', (b) => {
      b.output('Y', b.input('X', 'f32', {}).mul(2));
    });
    const [s] = boundStmts(scalar, {});
    expect(printTile(fuseLoops(elementwiseTile('one', s!), 'f'))).toMatchInlineSnapshot(`
      "kernel one
        for f < 1:
          Y[] = X * 2"
    `);
  });
});
