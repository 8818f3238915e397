import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { type CudaSource, archLimits, archName, toCuda } from '../../src/codegen-cuda/index.js';
import { type Nvcc, NvccNotFoundError, type PtxasResources, findNvcc, nvccCompile, parsePtxasVerbose } from '../../src/codegen-cuda/nvcc.js';
import { type Sizes } from '../../src/ir/bind.js';
import { DeviceLimitError, KernelCompileError } from '../../src/ir/errors.js';
import { F32, type Kernel, kbuiltin, kconst, kload } from '../../src/ir/kernel.js';
import { InvalidScheduleError } from '../../src/passes/schedule.js';
import { type LowerOptions, type TargetLimits, WEBGPU_BASELINE_LIMITS, lower } from '../../src/passes/pipeline.js';
import { featureKernel } from './feature-kernel.js';
import { doubleBelow } from '../helpers/param-kernel.js';

/**
 * Every example, in each of its dtypes and under several schedules, printed as CUDA and compiled
 * by nvcc for sm_80 and sm_90 with warnings as errors. These kernels are compiled only: running
 * them needs a GPU (test/runtime/cuda.test.ts).
 */

const ARCHS = [80, 90] as const;

/**
 * Time allowed to compile one group of kernels: a fixed start-up allowance plus a share per kernel
 * (each compiled for every arch), generous enough for a loaded two-core machine.
 */
const COMPILE_BASE_MS = 60_000;
const COMPILE_PER_KERNEL_MS = 10_000;

/** Small sizes: code shape does not depend on size beyond the serial / rows choice. */
const SMALL: Readonly<Record<string, Sizes>> = {
  elementwise: { N: 64, D: 128 },
  softmax: { N: 16, D: 256 },
  layernorm: { N: 16, D: 256 },
  rmsnorm: { N: 16, D: 256 },
  matmul: { M: 128, N: 128, K: 64 },
  // the attention examples are one fold kernel (online softmax): D sets the state each lane of a
  // team publishes to merge, so it is kept small enough for the explicit teams below to fit
  attention: { B: 1, H: 2, N: 32, M: 64, D: 16 },
  'causal-attention': { B: 1, H: 2, N: 64, D: 16 },
  // M is dynamic: kernels are laid out and teamed for its bound (8192), whatever is given here
  'decode-attention': { B: 1, H: 4, M: 64, D: 8 },
  'gqa-attention': { B: 1, H: 4, KVH: 2, N: 3, M: 64, D: 16 },
  'int8-gemm': { M: 4, N: 64, K: 256, G: 64 },
  'int4-gemm': { M: 4, N: 64, K: 256, G: 64 },
  'online-softmax': { B: 1, H: 2, N: 8, M: 64, D: 16 },
  'linear-recurrence': { H: 2, T: 16, D: 8, E: 8 },
  // two chunks of 64 steps, the second ragged
  ...Object.fromEntries(['linear-attention', 'linear-attention-plain', 'retention', 'gla'].map((e) => [e, { B: 1, H: 2, L: 100, K: 16, V: 16 }])),
  ssd: { B: 1, H: 2, L: 100, N: 16, P: 16 },
};

/**
 * Schedules an example refuses, as the tuner would skip them: a scan runs in one invocation per
 * row, a team's merge of the attention state must fit in shared memory, and tensor cores take
 * f16 operands.
 */
const REFUSED = new Set([
  'linear-recurrence/tpr8',
  'linear-recurrence/sg64',
  'linear-recurrence/sg16',
  'linear-recurrence/wg1024',
  // the chunked form's scans (the log-decays within a chunk, the state over chunks) likewise, and
  // its f32 intermediates take no tensor cores
  ...['linear-attention', 'linear-attention-plain', 'retention', 'gla', 'ssd'].flatMap((e) =>
    ['tpr8', 'sg64', 'sg16', 'wg1024', 'tensor-cores', 'tensor-cores-2x2-db'].map((s) => `${e}/${s}`),
  ),
  ...['online-softmax', 'attention', 'causal-attention', 'decode-attention', 'gqa-attention'].map((e) => `${e}/wg1024`),
]);

const sizesFor = (name: string, defaults: Sizes): Sizes =>
  SMALL[name] ?? Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, Math.min(v, 64)]));

const CUDA_LIMITS = { maxWorkgroupInvocations: 1024, maxWorkgroupStorageBytes: 48 * 1024, tensorCores: true } as const;

const SCHEDULES: readonly {
  readonly name: string;
  readonly options: LowerOptions;
  readonly limits?: Partial<TargetLimits>;
  readonly dtypes?: readonly string[];
  /** Only these examples (a schedule for one family of kernels). */
  readonly only?: readonly string[];
}[] = [
  { name: 'default', options: {} },
  { name: 'wg64', options: { defaults: { elementwise: { workgroupSize: 64 }, serial: { workgroupSize: 64 }, rows: { workgroupSize: 64 } } } },
  { name: 'tpr8', options: { defaults: { rows: { threadsPerRow: 8, workgroupSize: 128 } } } },
  { name: 'sg64', options: { defaults: { rows: { subgroups: true, threadsPerRow: 64, workgroupSize: 64 } } } },
  // a 16-thread block is one partial warp
  { name: 'sg16', options: { defaults: { rows: { subgroups: true, threadsPerRow: 16, workgroupSize: 16 } } } },
  {
    name: 'wg1024',
    options: { defaults: { elementwise: { workgroupSize: 1024 }, serial: { workgroupSize: 1024 }, rows: { workgroupSize: 1024, threadsPerRow: 1024, subgroups: true } } },
  },
  // GEMV (the low-bit examples at M = 1): a lane per 4 weight rows; and a warp per row reading
  // 32 steps (four packed words) per block
  {
    name: 'gemv-rows4',
    only: ['int4-zp-gemm', 'int8-channel-gemm', 'swiglu-int4'],
    options: { defaults: { rows: { threadsPerRow: 1, workgroupSize: 64, rowsPerLane: 4 } } },
  },
  {
    name: 'gemv-warp-unroll32',
    only: ['int4-zp-gemm', 'int8-channel-gemm', 'swiglu-int4'],
    options: { defaults: { rows: { threadsPerRow: 32, workgroupSize: 128, unrollSteps: 32, subgroups: false } } },
  },
  // contraction tilings the tuner explores
  { name: 'direct8x8', options: { defaults: { contraction: { blockM: 64, blockN: 64, threadM: 8, threadN: 8, staging: 'direct' } } } },
  { name: 'db-splitk', limits: CUDA_LIMITS, options: { defaults: { contraction: { blockK: 32, doubleBuffer: true, splitK: 2, vectorWidth: 1 } } } },
  // A shared across a warp by shuffles: 8 rows x 4 columns per thread, one warp per block; the
  // 32-step shuffle loop kept as a loop (the tuner's seed) and unrolled
  {
    name: 'shuffleA',
    limits: { ...CUDA_LIMITS, subgroupSize: 32 },
    options: { defaults: { contraction: { staging: 'direct', shuffleA: true, blockM: 8, threadM: 8, blockN: 128, threadN: 4, blockK: 32, unrollK: false } } },
  },
  {
    name: 'shuffleA-unrolled',
    limits: { ...CUDA_LIMITS, subgroupSize: 32 },
    options: { defaults: { contraction: { staging: 'direct', shuffleA: true, blockM: 8, threadM: 8, blockN: 128, threadN: 4, blockK: 32 } } },
  },
  // attention prefill: lanes own query rows, key/value tiles staged in shared memory, the query row in registers
  {
    name: 'staged',
    limits: CUDA_LIMITS,
    only: ['attention', 'causal-attention', 'gqa-attention', 'online-softmax'],
    options: { defaults: { rows: { threadsPerRow: 1, workgroupSize: 64, stageSteps: 32 } } },
  },
  // ... with 4 query rows per thread (one state and one query row per point of an unrolled tile)
  {
    name: 'staged-rows4',
    limits: CUDA_LIMITS,
    only: ['attention', 'causal-attention'],
    options: { defaults: { rows: { threadsPerRow: 1, workgroupSize: 32, stageSteps: 16, rowsPerLane: 4 } } },
  },
  // tensor cores (wmma): f16 operands only
  {
    name: 'tensor-cores',
    dtypes: ['f16'],
    limits: CUDA_LIMITS,
    options: { defaults: { contraction: { tensorCores: true, staging: 'shared', blockM: 32, blockN: 32, blockK: 32, threadM: 1, threadN: 1 } } },
  },
  {
    name: 'tensor-cores-2x2-db',
    dtypes: ['f16'],
    limits: CUDA_LIMITS,
    options: { defaults: { contraction: { tensorCores: true, staging: 'shared', blockM: 64, blockN: 64, blockK: 32, threadM: 2, threadN: 2, doubleBuffer: true } } },
  },
];

interface Case {
  readonly example: string;
  readonly dtype: string;
  readonly schedule: string;
  readonly cuda: CudaSource;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const ex of EXAMPLES) {
    for (const dtype of ex.dtypes) {
      const program = ex.build(dtype);
      for (const s of SCHEDULES) {
        if ((s.dtypes && !s.dtypes.includes(dtype)) || (s.only && !s.only.includes(ex.name))) continue;
        let plan;
        try {
          plan = lower(program, sizesFor(ex.name, ex.sizes), s.options, { ...WEBGPU_BASELINE_LIMITS, ...s.limits });
        } catch (e) {
          if (e instanceof InvalidScheduleError && REFUSED.has(`${ex.name}/${s.name}`)) continue;
          throw e;
        }
        if (REFUSED.has(`${ex.name}/${s.name}`)) throw new Error(`${ex.name}/${s.name} was expected to be refused`);
        for (const k of plan.kernels) {
          // one translation unit holds many kernels: entry names must differ
          const named = { ...k, name: `${ex.name}_${dtype}_${s.name}_${k.name}` };
          out.push({ example: ex.name, dtype, schedule: s.name, cuda: toCuda(named, { sm: 80 }) });
        }
      }
    }
  }
  return out;
}

/** nvcc, or the typed error saying where it was looked for (the compile checks then fail with it). */
const nvcc: Nvcc | NvccNotFoundError = (() => {
  try {
    return findNvcc(process.env);
  } catch (e) {
    if (e instanceof NvccNotFoundError) return e;
    throw e;
  }
})();

describe('ptxas report parsing', () => {
  it('reads CUDA 13 and older formats', () => {
    const log = [
      "ptxas info    : Compiling entry function 'a' for 'sm_80'",
      'ptxas info    : Function properties for a',
      '    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads',
      'ptxas info    : Used 40 registers, used 1 barriers, 1024 bytes smem, 384 bytes cmem[0]',
      "ptxas info    : Compiling entry function 'b' for 'sm_70'",
      'ptxas info    : Function properties for b',
      '    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads',
      'ptxas info    : Used 12 registers, 356 bytes cmem[0]',
    ].join('\n');
    expect(parsePtxasVerbose(log)).toEqual([
      { entry: 'a', arch: 'sm_80', registers: 40, sharedBytes: 1024, spillStoreBytes: 4, spillLoadBytes: 12, stackFrameBytes: 8, barriers: 1 },
      { entry: 'b', arch: 'sm_70', registers: 12, sharedBytes: 0, spillStoreBytes: 0, spillLoadBytes: 0, stackFrameBytes: 0, barriers: 0 },
    ]);
  });

  it('says where it looked when nvcc is missing', () => {
    expect(() => findNvcc({ PATH: '/nonexistent-bin' }, [])).toThrow(NvccNotFoundError);
    expect(() => findNvcc({ PATH: '/nonexistent-bin', CUDA_PATH: '/opt/no-cuda' }, [])).toThrow(/\/opt\/no-cuda\/bin\/nvcc.*CUDA_PATH/);
  });
});

// nvcc is part of every machine this suite runs on; without it these checks fail, naming where it looked
describe('nvcc compile checks', () => {
  if (nvcc instanceof NvccNotFoundError) throw nvcc;
  const tool = nvcc;

  // lowered once, when the suite is collected; each example and dtype is then its own test, with a
  // time budget that grows with the kernels it compiles, so a busy machine slows every test alike
  // instead of pushing one long test past a fixed limit
  const all = cases();
  // schedules that do not touch a kernel print it identically: compile each text once, in the
  // group of the first case that prints it
  const canonical = (c: Case) => c.cuda.source.split(c.cuda.launch.entry).join('ENTRY');
  const first = new Map<string, Case>();
  for (const c of all) if (!first.has(canonical(c))) first.set(canonical(c), c);
  const groupOf = (c: Case) => `${c.example} ${c.dtype}`;
  const groups = new Map<string, Case[]>();
  for (const c of first.values()) groups.set(groupOf(c), [...(groups.get(groupOf(c)) ?? []), c]);
  const reports = new Map<string, PtxasResources>();
  const rowsOf = (compiled: readonly Case[]) => {
    const mine = new Set(compiled);
    return all.filter((c) => mine.has(first.get(canonical(c))!));
  };
  const perArch = (c: Case) => {
    const compiled = first.get(canonical(c))!;
    return ARCHS.map((a) => reports.get(`${compiled.cuda.launch.entry}@${archName(a)}`));
  };

  it('lowers every example, dtype and schedule', () => {
    expect(all.length).toBeGreaterThan(EXAMPLES.length * SCHEDULES.length);
    expect([...groups.values()].reduce((n, g) => n + g.length, 0)).toBe(first.size);
  });

  for (const [name, unique] of groups) {
    it(
      `compiles ${name} (${unique.length} kernels) for sm_80 and sm_90 with warnings as errors`,
      { timeout: COMPILE_BASE_MS + COMPILE_PER_KERNEL_MS * unique.length },
      async () => {
        // two translation units side by side: nvcc is mostly single-threaded
        const batches = [unique.filter((_, i) => i % 2 === 0), unique.filter((_, i) => i % 2 === 1)].filter((b) => b.length > 0);
        const results = await Promise.all(
          batches.map((b) => nvccCompile(tool, b.map((c) => c.cuda.source).join('\n'), { archs: ARCHS, label: `${name}: ${b.length} kernels` })),
        );
        for (const r of results) for (const p of r.resources) reports.set(`${p.entry}@${p.arch}`, p);
        for (const c of rowsOf(unique)) {
          for (const p of perArch(c)) {
            expect(p, `ptxas reported ${c.cuda.launch.entry}`).toBeDefined();
            expect(p!.registers).toBeGreaterThan(0);
            expect(p!.registers).toBeLessThanOrEqual(255);
            // our static-shared accounting (used by the limits check) agrees with ptxas
            expect(p!.sharedBytes, c.cuda.launch.entry).toBe(c.cuda.launch.sharedBytes);
          }
        }
      },
    );
  }

  it('records the resources of every example kernel', () => {
    const rows = all.map((c) => ({ ...c, per: perArch(c) }));
    const missing = rows.filter((r) => r.per.some((p) => !p)).map((r) => r.cuda.launch.entry);
    expect(missing, 'kernels without a ptxas report (their compile test failed)').toEqual([]);
    const json = rows.map((r) => ({
      entry: r.cuda.launch.entry,
      example: r.example,
      dtype: r.dtype,
      schedule: r.schedule,
      block: r.cuda.launch.block,
      grid: r.cuda.launch.grid,
      sharedBytes: r.cuda.launch.sharedBytes,
      nvcc: tool.version,
      ptxas: Object.fromEntries(r.per.map((p) => [p!.arch, { ...p, entry: undefined, arch: undefined }])),
    }));
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    mkdirSync(join(root, 'build'), { recursive: true });
    writeFileSync(join(root, 'build', 'cuda-resources.json'), JSON.stringify(json, null, 2) + '\n');
    console.log(resourceTable(rows, tool.version));
  });

  it('compiles a kernel using every kernel-IR feature, and ptxas agrees on its shared memory', async () => {
    const cuda = toCuda(featureKernel, { sm: 90 });
    const out = await nvccCompile(tool, cuda.source, { archs: ARCHS, label: 'features' });
    expect(out.resources.map((r) => r.arch)).toEqual(ARCHS.map(archName));
    for (const r of out.resources) expect(r.sharedBytes).toBe(cuda.launch.sharedBytes);
  });

  it('compiles a kernel reading a dynamic size from an int argument', async () => {
    const cuda = toCuda(doubleBelow(1000), { sm: 90 });
    const out = await nvccCompile(tool, cuda.source, { archs: ARCHS, label: 'params' });
    expect(out.resources.map((r) => r.arch)).toEqual(ARCHS.map(archName));
  });

  it('agrees with ptxas on the 48 KiB static shared memory limit', async () => {
    const unchecked = { ...archLimits(90), maxStaticSharedBytes: 1 << 20 };
    const kernel = (length: number): Kernel => ({
      name: `shared_${length}`,
      workgroup: [32, 1, 1],
      grid: [1, 1, 1],
      buffers: [
        { name: 'O', scope: 'global', dtype: 'f32', length: 32, access: 'read_write' },
        { name: 'S', scope: 'workgroup', dtype: 'f32', length },
      ],
      body: [
        { op: 'store', buffer: 'S', index: kbuiltin('local_index'), value: kconst(1, F32) },
        { op: 'barrier' },
        { op: 'store', buffer: 'O', index: kbuiltin('local_index'), value: kload('S', kconst(length - 1), F32) },
      ],
    });
    await expect(nvccCompile(tool, toCuda(kernel(12288), { sm: 90 }).source, { archs: [90] })).resolves.toBeDefined();
    expect(() => toCuda(kernel(12289), { sm: 90 })).toThrow(DeviceLimitError);
    await expect(nvccCompile(tool, toCuda(kernel(12289), { sm: 90, limits: unchecked }).source, { archs: [90] })).rejects.toThrow(KernelCompileError);
  });

  it('reports a compile error with the line it is on', async () => {
    const bad = 'extern "C" __global__ void k(float* t) {\n  t[0] = undeclared;\n}\n';
    const err = await nvccCompile(tool, bad, { archs: [80], label: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelCompileError);
    expect((err as KernelCompileError).line).toBe(2);
    expect((err as KernelCompileError).message).toMatch(/undeclared/);
  });
});

function resourceTable(rows: readonly (Case & { per: readonly (PtxasResources | undefined)[] })[], version: string): string {
  const head = ['kernel', 'block', 'smem B', ...ARCHS.flatMap((a) => [`regs ${a}`, `spill st/ld ${a}`])];
  const body = rows.map((r) => [
    `${r.example} ${r.dtype} ${r.schedule} ${r.cuda.launch.entry.replace(`${r.example.replace(/[^A-Za-z0-9_]/g, '_')}_${r.dtype}_${r.schedule}_`, '')}`,
    String(r.cuda.launch.block[0]),
    String(r.cuda.launch.sharedBytes),
    ...r.per.flatMap((p) => [String(p?.registers ?? '?'), `${p?.spillStoreBytes ?? '?'}/${p?.spillLoadBytes ?? '?'}`]),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`ptxas resource usage (nvcc ${version}; compiled only, never run here)`, fmt(head), ...body.map(fmt)].join('\n');
}
