import { describe, expect, it } from 'vitest';
import { onlineSoftmax } from '../../../examples/online-softmax.js';
import { program } from '../../../src/dsl/program.js';
import { softmax } from '../../../src/dsl/ops.js';
import { printTile } from '../../../src/ir/tile.js';
import { rowsTile } from '../../../src/passes/tile/from-group.js';
import { shareLanes } from '../../../src/passes/tile/share-lanes.js';
import { splitBind } from '../../../src/passes/tile/split-bind.js';
import { boundStmts } from './fixtures.js';

const sm = program('softmax', (b) => {
  const [N, D] = b.sizes('N', 'D');
  b.output('Y', softmax(b.input('X', 'f32', { i: N, j: D }), 'j'));
});

describe('shareLanes', () => {
  it('deals a row to a team: sums and maxima cyclically, a merge after each, the row guard split around the merges', () => {
    const stmts = boundStmts(sm, { N: 5, D: 40 });
    const t = shareLanes(splitBind(rowsTile('softmax', [5], stmts, new Set(['Y'])), 2), 4, 'lane', 'workgroup');
    expect(printTile(t)).toMatchInlineSnapshot(`
      "kernel softmax
        grid row_g < 3
        lanes row_l < 2
        lanes lane < 4
        fold f0[j'] state(acc) at(i=row) -> Y_max
        fold f1[j'2] state(acc) at(i=row) -> Y_sum
        row = row_g * 2 + row_l
        if row < 5:
          f0 = init
          for lane <= r0 < 40 step 4:
            f0 = step(f0, r0)
        f0 = merge across lane (workgroup)
        if row < 5:
          f1 = init
          for lane <= r1 < 40 step 4:
            f1 = step(f1, r1)
        f1 = merge across lane (workgroup)
        if row < 5:
          for lane <= c2 < 40 step 4:
            Y[row, c2] = exp(X[row, c2] - Y_max[row]) / Y_sum[row]"
    `);
  });

  it('gives each lane a contiguous block of a fold whose merge is not known to commute', () => {
    const p = onlineSoftmax.build('f32');
    const stmts = boundStmts(p, { B: 1, H: 1, N: 3, M: 10, D: 2 });
    const t = shareLanes(splitBind(rowsTile('att', [1, 1, 3], stmts, new Set(['O', 'lse'])), 1), 4, 'lane', 'subgroup');
    const text = printTile(t);
    // ceil(10 / 4) = 3 keys per lane, the last lane's block cut at 10
    expect(text).toMatch(/for lane \* 3 <= r\d+ < min\(lane \* 3 \+ 3, 10\)/);
    // its merge is not a plain sum: it goes through workgroup memory whatever was asked
    expect(text).toContain('merge across lane (workgroup)');
  });

  it('leaves a kernel alone for a team of one', () => {
    const stmts = boundStmts(sm, { N: 5, D: 40 });
    const t = splitBind(rowsTile('softmax', [5], stmts, new Set(['Y'])), 2);
    expect(shareLanes(t, 1, 'lane', 'workgroup')).toBe(t);
  });
});
