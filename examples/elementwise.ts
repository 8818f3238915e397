import { gelu } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

/** y = gelu(x * scale + bias) + residual: a chain that fuses into one pass over memory. */
export const elementwiseChain: Example = {
  name: 'elementwise',
  description: 'gelu(x * scale + bias) + residual over [N, D], fused into one kernel',
  dtypes: ['f32', 'f16'],
  sizes: { N: 8192, D: 4096 },
  build: (dtype) =>
    program('elementwise', (p) => {
      const [N, D] = p.sizes('N', 'D');
      const dt = dtype as 'f32' | 'f16';
      const x = p.input('X', dt, { i: N, j: D });
      const scale = p.input('Scale', dt, { j: D });
      const bias = p.input('Bias', dt, { j: D });
      const residual = p.input('R', dt, { i: N, j: D });
      p.output('Y', gelu(x.mul(scale).add(bias)).add(residual));
    }),
};
