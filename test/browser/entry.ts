/**
 * Runs in a browser page: compiles a few programs on `navigator.gpu` and compares each result
 * with the CPU reference. The browser test bundles this file and calls `tilecraftRun()`.
 */
import { compareWithReference } from '../../src/autotune/check.js';
import { dot, gelu, layernorm, program, softmax } from '../../src/index.js';
import { randomHost } from '../../src/ir/host.js';
import { type Program } from '../../src/ir/tensor.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { createWebGpuDevice } from '../../src/runtime/webgpu.js';

const cases: { name: string; program: Program; sizes: Record<string, number> }[] = [
  {
    name: 'softmax',
    program: program('softmax', (p) => p.output('Y', softmax(p.input('X', 'f32', { i: p.size('N'), j: p.size('D') }), 'j'))),
    sizes: { N: 37, D: 300 },
  },
  {
    name: 'layernorm',
    program: program('ln', (p) => {
      const [N, D] = p.sizes('N', 'D');
      p.output('Y', layernorm(p.input('X', 'f32', { i: N, j: D }), 'j', { gamma: p.input('G', 'f32', { j: D }) }));
    }),
    sizes: { N: 5, D: 129 },
  },
  {
    name: 'tiled matmul + GELU epilogue',
    program: program('mm', (p) => {
      const [M, N, K] = p.sizes('M', 'N', 'K');
      p.output('C', gelu(dot(p.input('A', 'f32', { m: M, k: K }), p.input('B', 'f32', { k: K, n: N }), 'k')));
    }),
    sizes: { M: 45, N: 33, K: 70 },
  },
  {
    name: 'f16 attention',
    program: program('att', (p) => {
      const [N, D] = p.sizes('N', 'D');
      const q = p.input('Q', 'f16', { i: N, d: D });
      const k = p.input('K', 'f16', { j: N, d: D });
      const v = p.input('V', 'f16', { j: N, e: D });
      p.output('O', dot(softmax(dot(q, k, 'd').mul(0.125), 'j'), v, 'j'));
    }),
    sizes: { N: 40, D: 24 },
  },
];

async function run() {
  const device = await createWebGpuDevice();
  const results = [];
  for (const c of cases) {
    const exe = await Executable.create(device, c.program, c.sizes);
    const inputs = Object.fromEntries(exe.inputs.map((t, i) => [t.name, randomHost(t.dtype, t.shape, i + 1)]));
    const { outputs } = await exe.run(inputs);
    const ref = evaluate(c.program, c.sizes, inputs).outputs;
    for (const [name, want] of Object.entries(ref)) {
      const cmp = compareWithReference(outputs[name]!, want);
      results.push({ case: c.name, output: name, ok: cmp.ok, maxAbsError: cmp.maxAbsError });
    }
    exe.destroy();
  }
  const info = device.info;
  device.destroy();
  return { adapter: { name: info.name, vendor: info.vendor, features: info.features }, results };
}

(globalThis as { tilecraftRun?: typeof run }).tilecraftRun = run;
