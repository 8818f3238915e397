import { elementwiseChain } from '../examples/elementwise.js';
import { softmaxExample } from '../examples/norms.js';
import { type Example } from '../examples/index.js';
import { storageBytes } from '../src/ir/dtype.js';
import { randomInputs } from '../src/autotune/inputs.js';
import { describeSchedule } from '../src/passes/schedule.js';
import { Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { deviceCostModel } from '../src/autotune/device-model.js';
import { modelSchedule } from '../src/autotune/model-search.js';
import { type Contender, fmtMs, interleaved, openDb, printTable, tunedSchedule } from './common.js';
import { COPY_PROBE, sameRunCeilings } from './roofline.js';

export interface MemoryBenchOptions {
  readonly N: number;
  readonly D: number;
  readonly rounds: number;
  readonly tuneBudget: { trials?: number; seconds?: number };
  readonly tune: boolean;
  readonly db?: string;
}

/**
 * GB/s of memory-bound kernels: an elementwise chain and a row softmax, default vs the cost
 * model's default vs tuned schedule, each as a share of a vec4 copy's GB/s timed in the same run.
 */
export async function benchMemory(device: WebGpuDevice, o: MemoryBenchOptions, log: (s: string) => void) {
  const db = await openDb(o.db);
  const probes = await sameRunCeilings(device);
  const model = deviceCostModel(device.info, o.db);
  const results: Record<string, unknown>[] = [];
  const rows: (string | number)[][] = [];
  const examples: Example[] = [elementwiseChain, softmaxExample];
  for (const ex of examples) {
    const sizes = { N: o.N, D: o.D };
    const program = ex.build('f32');
    const tuned = o.tune ? await tunedSchedule(db, device.info, ex.name, program, sizes, o.tuneBudget, log) : undefined;
    const exes: [string, Executable][] = [['default', await Executable.create(device, program, sizes)]];
    exes.push(['model default', await Executable.create(device, program, sizes, { schedule: modelSchedule(device.info, program, sizes, model).schedule })]);
    if (tuned) exes.push(['tuned', await Executable.create(device, program, sizes, { schedule: tuned.schedule })]);
    const bytes = exes[0]![1].plan.tensors.filter((t) => t.role !== 'temp').reduce((a, t) => a + storageBytes(t.dtype, t.shape), 0);
    const contenders: Contender[] = exes.map(([name, exe]) => {
      for (const [k, v] of Object.entries(randomInputs(exe.inputs))) exe.upload(k, v);
      return {
        name,
        run: async () => {
          const r = await exe.dispatch({}, { timing: true });
          return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
        },
      };
    });
    log(`  measuring ${ex.name} [${o.N}, ${o.D}] f32 (${(bytes / 2 ** 20).toFixed(0)} MiB moved per run)`);
    const m = await interleaved([...contenders, ...probes.contenders.filter((c) => c.name === COPY_PROBE)], o.rounds);
    const copy = probes.copyGbps(m);
    for (const [, exe] of exes) exe.destroy();
    const gbps = (k: string) => (m.get(k) ? bytes / (m.get(k)!.medianMs * 1e-3) / 1e9 : undefined);
    results.push({
      example: ex.name,
      sizes,
      bytes,
      tunedSchedule: tuned ? describeSchedule(tuned.schedule) : null,
      ms: Object.fromEntries([...m].map(([k, v]) => [k, { median: v.medianMs, min: v.minMs, spread: v.spread }])),
      gbPerSecond: Object.fromEntries([...m.keys()].map((k) => [k, gbps(k)])),
      copyGbPerSecond: copy ?? null,
    });
    for (const [name] of exes) {
      const share = copy ? `${((100 * gbps(name)!) / copy).toFixed(0)}%` : 'n/a';
      rows.push([ex.name, `${o.N}x${o.D} f32`, name, describeSchedule(exes.find(([n]) => n === name)![1].plan.schedule), fmtMs(m.get(name)), gbps(name)!.toFixed(2), share]);
    }
  }
  probes.destroy();
  printTable(['kernel', 'shape', 'schedule', 'knobs', 'ms (median ±spread)', 'GB/s', '% of a vec4 copy, same run'], rows);
  return results;
}
