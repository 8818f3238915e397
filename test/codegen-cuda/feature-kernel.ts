import {
  type KExpr,
  type Kernel,
  F32,
  I32,
  U32,
  kadd,
  kbinary,
  kbitcast,
  kbuiltin,
  kcast,
  kconst,
  kload,
  kmul,
  kref,
  kselect,
  kt,
  kunary,
} from '../../src/ir/kernel.js';

const F16 = kt('f16');
const F32x4 = kt('f32', 4);
const r = (name: string, t = I32): KExpr => kref(name, t);

/**
 * A hand-built kernel touching every kernel-IR feature the CUDA printer handles: a 3-D block of
 * 48 threads (one full and one partial warp), vectors, f16 / bf16 / i8 / u4 buffers, global and
 * shared atomics, private arrays, an unrolled loop, subgroup reductions, infinities and NaN,
 * casts, bitcasts, shifts and the math functions legalization expands.
 */
export const featureKernel: Kernel = {
  name: 'features',
  workgroup: [8, 2, 3],
  grid: [2, 1, 1],
  buffers: [
    { name: 'A', scope: 'global', dtype: 'f32', length: 256, access: 'read' },
    { name: 'H', scope: 'global', dtype: 'f16', length: 256, access: 'read' },
    { name: 'B', scope: 'global', dtype: 'bf16', length: 256, access: 'read_write' },
    { name: 'Q', scope: 'global', dtype: 'i8', length: 256, access: 'read_write' },
    { name: 'P', scope: 'global', dtype: 'u4', length: 64, access: 'read_write', rowLength: 64 },
    { name: 'C', scope: 'global', dtype: 'u32', length: 4, access: 'read_write', atomic: true },
    { name: 'O', scope: 'global', dtype: 'f32', length: 256, access: 'read_write' },
    { name: 'S', scope: 'workgroup', dtype: 'f32', length: 48 },
    { name: 'N', scope: 'workgroup', dtype: 'i32', length: 1, atomic: true },
    { name: 'R', scope: 'private', dtype: 'f32', length: 4 },
  ],
  body: [
    { op: 'let', name: 'li', value: kbuiltin('local_index') },
    { op: 'let', name: 'lane', value: kbuiltin('subgroup_lane') },
    { op: 'let', name: 'g', value: kbinary('add', kbuiltin('group_id_x'), kmul(kbuiltin('local_id_z'), kbuiltin('subgroup_size'))) },
    { op: 'let', name: 'v', value: kload('A', kmul(r('li'), kconst(4)), F32x4) },
    { op: 'let', name: 'w', value: kbinary('mul', r('v', F32x4), { op: 'vector', type: F32x4, parts: [kconst(2, F32)] }) },
    { op: 'let', name: 'x', value: { op: 'extract', type: F32, x: r('w', F32x4), lane: 3 } },
    { op: 'store', buffer: 'O', index: kmul(r('li'), kconst(4)), value: r('w', F32x4) },
    { op: 'var', name: 'acc', type: F32 },
    {
      op: 'for',
      var: 'k',
      start: kconst(0),
      end: kconst(4),
      step: kconst(1),
      unroll: true,
      body: [
        { op: 'store', buffer: 'R', index: r('k'), value: kcast(r('k'), F32) },
        { op: 'assign', name: 'acc', value: kbinary('add', r('acc', F32), kload('R', r('k'), F32)) },
      ],
    },
    { op: 'let', name: 'h', value: kload('H', r('li'), F16) },
    { op: 'let', name: 'hm', value: kbinary('max', r('h', F16), kunary('exp', r('h', F16))) },
    { op: 'store', buffer: 'B', index: r('li'), value: kcast(kbinary('add', kcast(r('hm', F16), F32), kunary('sigmoid', r('x', F32))), kt('bf16')) },
    { op: 'store', buffer: 'Q', index: r('li'), value: kcast(kmul(r('x', F32), kconst(100, F32)), kt('i8')) },
    { op: 'let', name: 'q', value: kcast(kload('Q', r('li'), kt('i8')), I32) },
    { op: 'store', buffer: 'P', index: kbinary('mod', r('li'), kconst(64)), value: kcast(kbinary('and', r('q'), kconst(15)), kt('u4')) },
    { op: 'atomic', fn: 'add', buffer: 'C', index: kconst(0), value: kconst(1, U32) },
    { op: 'atomic', fn: 'max', buffer: 'C', index: kconst(1), value: kcast(r('li'), U32), result: 'old' },
    { op: 'if', cond: kbinary('eq', r('li'), kconst(0)), then: [{ op: 'store', buffer: 'N', index: kconst(0), value: kconst(0) }], else: [] },
    { op: 'barrier' },
    { op: 'atomic', fn: 'add', buffer: 'N', index: kconst(0), value: kconst(1) },
    { op: 'barrier' },
    { op: 'let', name: 'tot', value: { op: 'subgroup', type: F32, fn: 'sum', x: r('acc', F32) } },
    { op: 'let', name: 'mx', value: { op: 'subgroup', type: I32, fn: 'max', x: r('q') } },
    { op: 'let', name: 'nb', value: { op: 'shuffle', type: F32, x: r('tot', F32), lane: kbinary('and', kbinary('add', r('lane'), kconst(1)), kconst(31)) } },
    {
      op: 'if',
      cond: kbinary('eq', r('lane'), kconst(0)),
      then: [{ op: 'store', buffer: 'S', index: kbinary('div', r('li'), kconst(32)), value: kadd(r('tot', F32), r('nb', F32)) }],
      else: [{ op: 'comment', text: 'other lanes wait' }],
    },
    { op: 'barrier' },
    { op: 'let', name: 'sel', value: kselect(kbinary('gt', r('x', F32), kconst(0, F32)), r('x', F32), kconst(-Infinity, F32)) },
    { op: 'let', name: 'bits', value: kbinary('or', kbinary('shl', kcast(r('mx'), U32), kconst(3)), kbinary('shr', kcast(r('old', U32), U32), r('g'))) },
    {
      op: 'store',
      buffer: 'O',
      index: r('li'),
      value: kbinary(
        'add',
        kbinary('add', r('sel', F32), kload('S', kconst(0), F32)),
        kbinary(
          'add',
          kbinary('add', kcast(kload('N', kconst(0), I32), F32), kbitcast(r('bits', U32), F32)),
          kbinary('min', kunary('erf', r('x', F32)), kunary('tanh', kconst(Number.NaN, F32))),
        ),
      ),
    },
  ],
};
