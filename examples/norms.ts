import { layernorm, rmsnorm, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import type { Example } from './index.js';

export const softmaxExample: Example = {
  name: 'softmax',
  description: 'row softmax over [N, D]: one kernel, one workgroup team per row',
  dtypes: ['f32', 'f16'],
  sizes: { N: 8192, D: 4096 },
  build: (dtype) =>
    program('softmax', (p) => {
      const [N, D] = p.sizes('N', 'D');
      p.output('Y', softmax(p.input('X', dtype as 'f32' | 'f16', { i: N, j: D }), 'j'));
    }),
};

export const layernormExample: Example = {
  name: 'layernorm',
  description: 'layer normalization over the last axis of [N, D] with scale and shift',
  dtypes: ['f32', 'f16'],
  sizes: { N: 4096, D: 4096 },
  build: (dtype) =>
    program('layernorm', (p) => {
      const [N, D] = p.sizes('N', 'D');
      const dt = dtype as 'f32' | 'f16';
      const x = p.input('X', dt, { i: N, j: D });
      p.output('Y', layernorm(x, 'j', { gamma: p.input('Gamma', dt, { j: D }), beta: p.input('Beta', dt, { j: D }) }));
    }),
};

export const rmsnormExample: Example = {
  name: 'rmsnorm',
  description: 'RMS normalization over the last axis of [N, D] with a weight',
  dtypes: ['f32', 'f16'],
  sizes: { N: 4096, D: 4096 },
  build: (dtype) =>
    program('rmsnorm', (p) => {
      const [N, D] = p.sizes('N', 'D');
      const dt = dtype as 'f32' | 'f16';
      p.output('Y', rmsnorm(p.input('X', dt, { i: N, j: D }), 'j', { weight: p.input('W', dt, { j: D }) }));
    }),
};
