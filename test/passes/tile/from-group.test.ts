import { describe, expect, it } from 'vitest';
import { program } from '../../../src/dsl/program.js';
import { type Tensor } from '../../../src/dsl/tensor.js';
import { randomHost } from '../../../src/ir/host.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { rowsTile } from '../../../src/passes/tile/from-group.js';
import { checkOnDevice, onEachDevice } from '../../helpers/device.js';
import { boundStmts } from './fixtures.js';

// a per-row value too large to inline into both readers, read by statements of the same row group
const scaled = program('scaled', (b) => {
  const [N, D] = b.sizes('N', 'D');
  const x = b.input('X', 'f32', { i: N, j: D });
  const s = x.sum('j');
  // a wide tree (shallow, so it stays within shader compilers' nesting limits) of 64 terms
  let terms: Tensor<'f32', string>[] = Array.from({ length: 64 }, (_, k) => s.mul(1 + k / 100).add(k));
  while (terms.length > 1) terms = Array.from({ length: terms.length / 2 }, (_, k) => terms[2 * k]!.add(terms[2 * k + 1]!));
  const scale = b.let('Scale', terms[0]!);
  b.output('Y', x.div(scale));
  b.output('Z', x.mul(scale));
});

describe('rowsTile', () => {
  it('fetches a per-row value into a register that later statements of the row read, storing it only where needed', () => {
    const stmts = boundStmts(scaled, { N: 3, D: 5 });
    const tile = printTile(rowsTile('scaled', [3], stmts, new Set(['Y', 'Z'])));
    expect(tile).toMatch(/row_Scale = /);
    expect(tile).not.toContain('Scale[');
    expect(tile).toMatch(/Y\[row, c\d+\] = X\[row, c\d+\] \/ row_Scale/);
  });

  it('one kernel for the sum, the per-row value and both outputs; the value is too large to inline', () => {
    const plan = lower(scaled, { N: 7, D: 50 });
    expect(plan.kernels).toHaveLength(1);
    expect(plan.program.stmts.map((x) => x.target.name)).toContain('Scale');
  });
});

onEachDevice(() => {
  it('a per-row value read by a team of lanes matches the reference', async () => {
    for (const threadsPerRow of [1, 8]) {
      const r = await checkOnDevice(scaled, { N: 7, D: 50 }, { X: randomHost('f32', [7, 50], 5) }, { compile: { defaults: { rows: { threadsPerRow } } }, tol: { rtol: 1e-4 } });
      expect(r.failures).toEqual([]);
    }
  });
});
