/**
 * npm run gpu-bundle [-- --out DIR]: builds, here, the CUDA check for a machine with an NVIDIA GPU
 * and nothing else (no Node, no toolkit, no network): every example and dtype at small, ragged
 * sizes with its default CUDA schedule, the schedules that matter (tensor cores, shuffles,
 * split-K, split-KV, staged attention, the GEMV's), and a few shapes worth timing, checked
 * against the CPU reference computed here. Run it there with `bash DIR/run.sh` (or
 * scripts/gpu-check.sh, which does). See src/export/check-bundle.ts.
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { EXAMPLES, findExample } from '../examples/index.js';
import { findNvcc } from '../src/codegen-cuda/nvcc.js';
import { type BundleCase, writeCheckBundle } from '../src/export/check-bundle.js';
import { type Sizes } from '../src/ir/bind.js';
import { dot, softmax } from '../src/dsl/ops.js';
import { program } from '../src/dsl/program.js';
import { type Program } from '../src/ir/tensor.js';

/** Small sizes, not multiples of the tiles (M for decode is dynamic: run at 50 of 64). */
const SMALL: Readonly<Record<string, Sizes>> = {
  elementwise: { N: 37, D: 130 },
  softmax: { N: 19, D: 257 },
  layernorm: { N: 19, D: 257 },
  rmsnorm: { N: 19, D: 257 },
  matmul: { M: 75, N: 67, K: 53 },
  attention: { B: 1, H: 2, N: 37, M: 53, D: 16 },
  'causal-attention': { B: 1, H: 2, N: 45, D: 16 },
  'decode-attention': { B: 1, H: 4, M: 64, D: 8 },
  'gqa-attention': { B: 1, H: 4, KVH: 2, N: 3, M: 53, D: 16 },
  'int8-gemm': { M: 5, N: 67, K: 256, G: 64 },
  'int8-channel-gemm': { M: 1, N: 67, K: 101 },
  'int8-outlier-gemm': { M: 5, N: 67, K: 101, O: 5 },
  'int4-gemm': { M: 5, N: 67, K: 256, G: 64 },
  'int4-zp-gemm': { M: 1, N: 67, K: 256, G: 32 },
  'swiglu-int4': { M: 1, N: 67, K: 128, G: 32 },
  'online-softmax': { B: 1, H: 2, N: 8, M: 53, D: 16 },
  'linear-recurrence': { H: 2, T: 19, D: 8, E: 8 },
  // two chunks of 64 steps, the second ragged
  ...Object.fromEntries(['linear-attention', 'linear-attention-plain', 'retention', 'gla'].map((e) => [e, { B: 1, H: 2, L: 100, K: 16, V: 16 }])),
  ssd: { B: 1, H: 2, L: 100, N: 16, P: 16 },
  'gla-decode': { B: 1, H: 3, K: 16, V: 19 },
};
const VALUES: Readonly<Record<string, Sizes>> = { 'decode-attention': { M: 50 } };
const id = (s: string) => s.replace(/[^A-Za-z0-9]/g, '_');

/** The bundle's cases: `time_*` ones are large shapes worth timing on a GPU (slow to emulate). */
export function bundleCases(): BundleCase[] {
  const out: BundleCase[] = [];
  for (const e of EXAMPLES) {
    const sizes = SMALL[e.name] ?? Object.fromEntries(Object.entries(e.sizes).map(([k, v]) => [k, Math.min(v, 64)]));
    for (const dtype of e.dtypes) out.push({ name: id(`${e.name}_${dtype}`), program: e.build(dtype), sizes, ...(VALUES[e.name] ? { values: VALUES[e.name] } : {}) });
  }
  const ex = (name: string, dtype = 'f32') => findExample(name)!.build(dtype as never);
  const contraction = (knobs: Record<string, unknown>) => ({ defaults: { contraction: knobs } });
  const rows = (knobs: Record<string, unknown>) => ({ defaults: { rows: knobs } });
  out.push(
    { name: 'matmul_f16_tensor_cores', program: ex('matmul', 'f16'), sizes: { M: 75, N: 67, K: 53 }, options: contraction({ tensorCores: true, staging: 'shared', blockM: 32, blockN: 32, blockK: 32, threadM: 1, threadN: 1 }) },
    { name: 'matmul_f32_shuffleA', program: ex('matmul'), sizes: { M: 75, N: 130, K: 70 }, options: contraction({ staging: 'direct', shuffleA: true, blockM: 8, threadM: 8, blockN: 128, threadN: 4, blockK: 32, unrollK: false }) },
    { name: 'matmul_f32_splitk', program: ex('matmul'), sizes: { M: 75, N: 67, K: 530 }, options: contraction({ blockK: 32, doubleBuffer: true, splitK: 2, vectorWidth: 1 }) },
    { name: 'int4_gemm_f16_tensor_cores', program: ex('int4-gemm', 'f16'), sizes: { M: 16, N: 67, K: 256, G: 64 }, options: contraction({ tensorCores: true, staging: 'shared', blockM: 16, blockN: 32, blockK: 32, threadM: 1, threadN: 1 }) },
    { name: 'int4_gemv_rows4', program: ex('int4-zp-gemm'), sizes: { M: 1, N: 67, K: 256, G: 32 }, options: rows({ threadsPerRow: 1, workgroupSize: 64, rowsPerLane: 4 }) },
    { name: 'int4_gemv_warp', program: ex('int4-zp-gemm'), sizes: { M: 1, N: 67, K: 256, G: 32 }, options: rows({ threadsPerRow: 32, workgroupSize: 128, unrollSteps: 32 }) },
    { name: 'decode_split_kv', program: ex('decode-attention'), sizes: { B: 1, H: 4, M: 64, D: 8 }, values: { M: 50 }, options: rows({ splitSteps: 4, threadsPerRow: 16, workgroupSize: 16 }) },
    { name: 'attention_staged', program: ex('attention'), sizes: { B: 1, H: 2, N: 37, M: 53, D: 16 }, options: rows({ threadsPerRow: 1, workgroupSize: 32, stageSteps: 16, rowsPerLane: 4 }) },
    // a dynamic leading axis: workgroups past its value are not launched (tc_grid)
    { name: 'matmul_dynamic_m', program: dynamicMatmul(), sizes: { M: 200, N: 45, K: 37 }, values: { M: 23 } },
    { name: 'softmax_dynamic_rows', program: dynamicSoftmax(), sizes: { N: 300, D: 70 }, values: { N: 41 } },
    // worth timing (checked too)
    { name: 'time_int4_gemv_4096', program: ex('int4-gemm'), sizes: { M: 1, N: 4096, K: 4096, G: 128 }, options: rows({ threadsPerRow: 32, workgroupSize: 128, unrollSteps: 32 }), flops: 2 * 4096 * 4096 },
    { name: 'time_gla_4096', program: ex('gla'), sizes: { B: 1, H: 4, L: 4096, K: 64, V: 64 }, flops: 4 * 4 * 4096 * 64 * 64 },
    { name: 'time_matmul_f16_1024_tensor_cores', program: ex('matmul', 'f16'), sizes: { M: 1024, N: 1024, K: 1024 }, options: contraction({ tensorCores: true, staging: 'shared', blockM: 64, blockN: 64, blockK: 32, threadM: 2, threadN: 2, doubleBuffer: true }), flops: 2 * 1024 ** 3 },
  );
  return out;
}

/** A GEMM over a dynamic number of rows (tokens), M <= the bound it is compiled for. */
export function dynamicMatmul(): Program {
  return program('matmul_dyn', (p) => {
    const M = p.dynamicSize('M', { max: 200 });
    const [N, K] = p.sizes('N', 'K');
    p.output('C', dot(p.input('A', 'f32', { m: M, k: K }), p.input('B', 'f32', { k: K, n: N }), 'k'));
  });
}

/** A softmax over a dynamic number of rows. */
export function dynamicSoftmax(): Program {
  return program('softmax_dyn', (p) => {
    const N = p.dynamicSize('N', { max: 300 });
    p.output('Y', softmax(p.input('X', 'f32', { i: N, j: p.size('D') }), 'j'));
  });
}

const cli = new Command('gpu-bundle')
  .description('build the self-contained CUDA check (needs nvcc here; only the NVIDIA driver where it runs)')
  .option('--out <dir>', 'bundle folder', 'build/gpu-bundle')
  .option('--only <list>', 'comma-separated case names')
  .action(async (o: { out: string; only?: string }) => {
    const all = bundleCases();
    const only = o.only ? new Set(o.only.split(',')) : undefined;
    const chosen = only ? all.filter((c) => only.has(c.name)) : all;
    const started = Date.now();
    const bytes = await writeCheckBundle(o.out, chosen, findNvcc(process.env));
    console.log(`gpu-bundle: ${chosen.length} cases, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${o.out}, built in ${((Date.now() - started) / 1000).toFixed(0)} s; run: bash ${o.out}/run.sh`);
  });
// run as a script (npm run gpu-bundle), not when a test imports the cases
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli.parseAsync(process.argv).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
