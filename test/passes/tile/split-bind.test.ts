import { describe, expect, it } from 'vitest';
import { program } from '../../../src/dsl/program.js';
import { printTile } from '../../../src/ir/tile.js';
import { elementwiseTile } from '../../../src/passes/tile/from-group.js';
import { fuseLoops } from '../../../src/passes/tile/fuse-loops.js';
import { splitBind } from '../../../src/passes/tile/split-bind.js';
import { boundStmts } from './fixtures.js';

const neg = program('neg', (b) => {
  const [N] = b.sizes('N');
  b.output('Y', b.input('X', 'f32', { i: N }).neg());
});

describe('splitBind', () => {
  it('binds the top loop to workgroups of lanes, guarding a ragged last workgroup', () => {
    const [s] = boundStmts(neg, { N: 100 });
    const t = splitBind(fuseLoops(elementwiseTile('neg', s!), 'f'), 32);
    expect(t.grid).toEqual([{ var: 'f_g', extent: 4 }]);
    expect(t.lanes).toEqual([{ var: 'f_l', extent: 32 }]);
    expect(printTile(t)).toMatchInlineSnapshot(`
      "kernel neg
        grid f_g < 4
        lanes f_l < 32
        f = f_g * 32 + f_l
        if f < 100:
          e_i = f
          Y[e_i] = -X[e_i]"
    `);
  });

  it('needs no guard where the lanes divide the loop', () => {
    const [s] = boundStmts(neg, { N: 128 });
    const t = splitBind(fuseLoops(elementwiseTile('neg', s!), 'f'), 32);
    expect(printTile(t)).not.toContain('if ');
  });

  it('refuses a kernel whose top is not one plain loop', () => {
    const [s] = boundStmts(neg, { N: 128 });
    const once = splitBind(fuseLoops(elementwiseTile('neg', s!), 'f'), 32);
    expect(() => splitBind(once, 32)).toThrow(/no plain top-level loop/);
  });
});
