import { F32, type Kernel, kadd, kbinary, kbuiltin, kconst, kload, kmul, kparam, kref, I32 } from '../../src/ir/kernel.js';

/**
 * A hand-built kernel reading a dynamic size: `Y[i] = X[i] * 2` for `i < N`, over buffers laid
 * out at `bound` elements, 64 invocations per workgroup and enough workgroups for the bound.
 * Elements of Y from N on are left as they were.
 */
export function doubleBelow(bound: number): Kernel {
  const i = kref('i', I32);
  return {
    name: 'double_below',
    workgroup: [64, 1, 1],
    grid: [Math.ceil(bound / 64), 1, 1],
    params: ['N'],
    buffers: [
      { name: 'X', scope: 'global', dtype: 'f32', length: bound, access: 'read' },
      { name: 'Y', scope: 'global', dtype: 'f32', length: bound, access: 'read_write' },
    ],
    body: [
      { op: 'let', name: 'i', value: kadd(kmul(kbuiltin('group_id_x'), kconst(64)), kbuiltin('local_index')) },
      {
        op: 'if',
        cond: kbinary('lt', i, kparam('N')),
        then: [{ op: 'store', buffer: 'Y', index: i, value: kmul(kload('X', i, F32), kconst(2, F32)) }],
        else: [],
      },
    ],
  };
}
