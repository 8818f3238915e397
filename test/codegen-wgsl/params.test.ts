import { describe, expect, it } from 'vitest';
import { toWgsl } from '../../src/codegen-wgsl/index.js';
import { kparam } from '../../src/ir/kernel.js';
import { doubleBelow } from '../helpers/param-kernel.js';

describe('WGSL printer: dynamic sizes', () => {
  it('reads params from one uniform struct bound after the storage buffers', () => {
    expect(toWgsl(doubleBelow(1000), { shaderF16: true }).source).toMatchInlineSnapshot(`
      "@group(0) @binding(0) var<storage, read> t_X: array<f32>;
      @group(0) @binding(1) var<storage, read_write> t_Y: array<f32>;
      struct TcParams {
        N: i32,
      }
      @group(0) @binding(2) var<uniform> tc_params: TcParams;

      @compute @workgroup_size(64, 1, 1)
      fn main(@builtin(local_invocation_index) tc_li: u32, @builtin(local_invocation_id) tc_lid: vec3<u32>, @builtin(workgroup_id) tc_wg: vec3<u32>, @builtin(num_workgroups) tc_nwg: vec3<u32>) {
        let i = ((i32(tc_wg.x) * 64i) + i32(tc_li));
        if ((i < tc_params.N)) {
          t_Y[i] = (t_X[i] * 2f);
        }
      }
      "
    `);
  });

  it('lists every param as an i32 field, in the kernel order', () => {
    const k = doubleBelow(8);
    const two = { ...k, params: ['B', 'N'], body: [...k.body, { op: 'let' as const, name: 'b', value: kparam('B') }] };
    const src = toWgsl(two, { shaderF16: true }).source;
    expect(src).toContain('struct TcParams {\n  B: i32,\n  N: i32,\n}');
    expect(src).toContain('@group(0) @binding(2) var<uniform> tc_params: TcParams;');
    expect(src).toContain('tc_params.B');
  });

  it('prints no struct for a kernel without params', () => {
    const { params: _, ...k } = doubleBelow(8);
    expect(toWgsl({ ...k, body: [] }, { shaderF16: true }).source).not.toContain('uniform');
  });
});
