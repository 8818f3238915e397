import { describe, expect, it } from 'vitest';
import { toCuda } from '../../src/codegen-cuda/index.js';
import { doubleBelow } from '../helpers/param-kernel.js';

describe('CUDA printer: dynamic sizes', () => {
  it('takes params as int arguments after the buffers', () => {
    const { source, launch } = toCuda(doubleBelow(1000), { sm: 80 });
    expect(launch.sizes).toEqual(['N']);
    expect(launch.params.map((p) => p.name)).toEqual(['X', 'Y']);
    expect(source).toMatchInlineSnapshot(`
      "extern "C" __global__ void __launch_bounds__(64) double_below(const float* __restrict__ t_X, float* __restrict__ t_Y, int tc_size_N) {
        const int i = (((int)blockIdx.x) * 64) + ((int)threadIdx.x);
        if (i < tc_size_N) {
          t_Y[i] = t_X[i] * 2.0f;
        }
      }
      "
    `);
  });
});
