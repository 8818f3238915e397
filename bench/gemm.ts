import { matmul } from '../examples/matmul.js';
import { type DType } from '../src/ir/dtype.js';
import { randomHost } from '../src/ir/host.js';
import { describeSchedule } from '../src/passes/schedule.js';
import { Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, fmtMs, interleaved, openDb, printTable, tunedSchedule } from './common.js';
import { deviceCostModel } from '../src/autotune/device-model.js';
import { describeModel } from '../src/autotune/cost-model.js';
import { modelSchedule } from '../src/autotune/model-search.js';
import { sameRunCeilings } from './roofline.js';
import { tfjsContender, tfjsOn } from './tfjs.js';

export interface GemmBenchOptions {
  readonly shapes: readonly { readonly M: number; readonly N: number; readonly K: number }[];
  readonly dtypes: readonly DType[];
  readonly rounds: number;
  readonly tuneBudget: { trials?: number; seconds?: number };
  readonly db?: string;
  readonly tfjs: boolean;
  readonly naive: boolean;
}

/** TensorFlow.js's WebGPU matmul on the same GPUDevice, timed by its own profiler (GPU timestamps). */
async function tfjsMatmul(device: WebGpuDevice, M: number, N: number, K: number): Promise<Contender> {
  const tf = await tfjsOn(device);
  const a = tf.randomUniform([M, K]);
  const b = tf.randomUniform([K, N]);
  return tfjsContender(tf, 'TF.js', () => tf.matMul(a, b));
}

export async function benchGemm(device: WebGpuDevice, o: GemmBenchOptions, log: (s: string) => void) {
  const db = await openDb(o.db);
  // the FMA rate, measured beside every shape (f32: the device's f16 rate is no GEMM's ceiling
  // where f16 is computed in f32)
  const probes = await sameRunCeilings(device);
  // the untuned default a cost model picks: the ceilings' model, fitted to kernels tuned here
  const model = deviceCostModel(device.info, o.db);
  log(`cost model: ${describeModel(model)}`);
  const results: Record<string, unknown>[] = [];
  const rows: (string | number)[][] = [];
  for (const dtype of o.dtypes) {
    for (const { M, N, K } of o.shapes) {
      const sizes = { M, N, K };
      const program = matmul.build(dtype);
      const flops = 2 * M * N * K;
      const tuned = await tunedSchedule(db, device.info, 'matmul', program, sizes, o.tuneBudget, log);
      const exes: [string, Executable][] = [];
      exes.push(['default', await Executable.create(device, program, sizes)]);
      const t0 = performance.now();
      const choice = modelSchedule(device.info, program, sizes, model);
      const chooseMs = performance.now() - t0;
      exes.push(['model', await Executable.create(device, program, sizes, { schedule: choice.schedule })]);
      if (tuned) exes.push(['tuned', await Executable.create(device, program, sizes, { schedule: tuned.schedule })]);
      if (o.naive) {
        // one invocation per output element, looping over K: the untiled baseline
        const naive = { grouping: { tileContractions: false, contractionSerialOutputs: 0 }, defaults: { serial: { workgroupSize: 64 } } };
        exes.push(['naive', await Executable.create(device, program, sizes, naive)]);
      }
      const contenders: Contender[] = [];
      for (const [name, exe] of exes) {
        exe.upload('A', randomHost(dtype, [M, K], 1));
        exe.upload('B', randomHost(dtype, [K, N], 2));
        contenders.push({
          name,
          run: async () => {
            const r = await exe.dispatch({}, { timing: true });
            return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
          },
        });
      }
      contenders.push(...probes.contenders);
      if (o.tfjs && dtype === 'f32') {
        contenders.push(await tfjsMatmul(device, M, N, K));
      }
      log(`  measuring ${dtype} ${M}x${N}x${K}: ${contenders.map((c) => c.name).join(', ')}`);
      const m = await interleaved(contenders, o.rounds);
      for (const [, exe] of exes) exe.destroy();
      const gf = (name: string) => {
        const x = m.get(name);
        return x ? flops / (x.medianMs * 1e-3) / 1e9 : undefined;
      };
      const ratio = (a: string, b: string) => {
        const x = m.get(a);
        const y = m.get(b);
        return x && y ? y.medianMs / x.medianMs : undefined;
      };
      const entry = {
        dtype,
        M,
        N,
        K,
        tunedSchedule: tuned ? describeSchedule(tuned.schedule) : null,
        modelSchedule: describeSchedule(choice.schedule),
        model: { source: model.source, samples: model.samples, evaluated: choice.evaluated, chooseMs, predictedMs: choice.predictedMs },
        tunedFrom: tuned?.source ?? null,
        ms: Object.fromEntries([...m].map(([k, v]) => [k, { median: v.medianMs, min: v.minMs, spread: v.spread, samples: v.samples }])),
        gflops: Object.fromEntries([...m.keys()].map((k) => [k, gf(k)])),
        fmaPeakGflops: probes.fmaGflops(m) ?? null,
        ratios: {
          tunedOfFmaPeak: gf('tuned') !== undefined && probes.fmaGflops(m) ? gf('tuned')! / probes.fmaGflops(m)! : null,
          defaultOfFmaPeak: probes.fmaGflops(m) ? gf('default')! / probes.fmaGflops(m)! : null,
          modelOfFmaPeak: probes.fmaGflops(m) ? gf('model')! / probes.fmaGflops(m)! : null,
          tunedOverDefault: ratio('tuned', 'default') ?? null,
          tunedOverModel: ratio('tuned', 'model') ?? null,
          tunedOverNaive: ratio('tuned', 'naive') ?? null,
          tunedOverTfjs: ratio('tuned', 'TF.js') ?? null,
        },
      };
      results.push(entry);
      const g = (k: string) => (gf(k) !== undefined ? gf(k)!.toFixed(2) : 'n/a');
      const x = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
      rows.push([
        dtype,
        `${M}x${N}x${K}`,
        `${fmtMs(m.get('tuned'))} (${g('tuned')})`,
        `${fmtMs(m.get('default'))} (${g('default')})`,
        `${fmtMs(m.get('model'))} (${g('model')})`,
        `${fmtMs(m.get('naive'))} (${g('naive')})`,
        `${fmtMs(m.get('TF.js'))} (${g('TF.js')})`,
        x(entry.ratios.tunedOverDefault),
        x(entry.ratios.tunedOverModel),
        x(entry.ratios.tunedOverNaive),
        x(entry.ratios.tunedOverTfjs),
        [entry.ratios.tunedOfFmaPeak, entry.ratios.defaultOfFmaPeak, entry.ratios.modelOfFmaPeak].map((r) => (r === null ? 'n/a' : `${(r * 100).toFixed(0)}%`)).join(' / '),
      ]);
    }
  }
  probes.destroy();
  printTable(
    ['dtype', 'M x N x K', 'tuned ms (GFLOP/s)', 'default', 'model default', 'naive', 'TF.js', 'tuned/default', 'tuned/model', 'tuned/naive', 'tuned/TF.js', '% of FMA f32, same run: tuned / default / model'],
    rows,
  );
  return results;
}
