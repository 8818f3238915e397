import Table from 'cli-table3';
import { tableStyle } from './style.js';
import { type Contender, interleaved } from '../autotune/measure.js';
import { storageBytes } from '../ir/dtype.js';
import { describeSchedule } from '../passes/schedule.js';
import { Executable } from '../runtime/executable.js';
import { openDatabase } from './database.js';
import { EXIT } from './exit-codes.js';
import { randomInputs } from '../autotune/inputs.js';
import { type DeviceKind, describeDevice, openDevice } from './open-device.js';
import { resolveProgram } from './program-source.js';
import { checkFitsDevice } from './run.js';

export interface BenchCommandOptions {
  readonly dtype?: string;
  readonly shape: readonly string[];
  readonly device: DeviceKind;
  readonly rounds: number;
  readonly db?: string;
  readonly json: boolean;
}

/**
 * `autotune bench`: each program with its default schedule and with the tuned one (from the
 * database), timed side by side in interleaved rounds.
 */
export async function benchCommand(specs: readonly string[], o: BenchCommandOptions): Promise<number> {
  const db = await openDatabase(o.db);
  const device = await openDevice(o.device);
  const results: Record<string, unknown>[] = [];
  const table = new Table({ head: ['program', 'shape', 'default', 'tuned', 'speedup', 'GFLOP/s', 'GB/s', 'tuned schedule'], ...tableStyle() });
  try {
    for (const spec of specs) {
      const src = await resolveProgram(spec, o.dtype, o.shape);
      const dflt = await Executable.create(device, src.program, src.sizes);
      const tuned = await Executable.create(device, src.program, src.sizes, { tuning: db });
      const exes = tuned.scheduleOrigin === 'default' ? [dflt] : [dflt, tuned];
      checkFitsDevice(dflt.plan.tensors, device.info.limits, src.sizes);
      const inputs = randomInputs(dflt.inputs);
      const contenders: Contender[] = exes.map((exe, i) => {
        for (const [k, v] of Object.entries(inputs)) exe.upload(k, v);
        return {
          name: i === 0 ? 'default' : 'tuned',
          run: async () => {
            const r = await exe.dispatch({}, { timing: true });
            return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
          },
        };
      });
      const m = await interleaved(contenders, o.rounds);
      const best = m.get('tuned') ?? m.get('default')!;
      const bytes = dflt.plan.tensors.filter((t) => t.role !== 'temp').reduce((a, t) => a + storageBytes(t.dtype, t.shape), 0);
      const flops = src.flops?.(src.sizes);
      const shape = Object.entries(src.sizes).map(([k, v]) => `${k}=${v}`).join(' ');
      const d = m.get('default')!;
      const t = m.get('tuned');
      results.push({
        program: src.name,
        dtype: src.dtype,
        sizes: src.sizes,
        defaultMs: d.medianMs,
        tunedMs: t?.medianMs ?? null,
        tunedOrigin: tuned.scheduleOrigin,
        tunedSchedule: t ? tuned.plan.schedule : null,
        speedup: t ? d.medianMs / t.medianMs : null,
        gflopPerSecond: flops ? flops / (best.medianMs * 1e-3) / 1e9 : null,
        gbPerSecond: bytes / (best.medianMs * 1e-3) / 1e9,
      });
      table.push([
        `${src.name} (${src.dtype})`,
        shape,
        `${d.medianMs.toFixed(3)} ms ±${(d.spread * 100).toFixed(0)}%`,
        t ? `${t.medianMs.toFixed(3)} ms ±${(t.spread * 100).toFixed(0)}%${tuned.scheduleOrigin === 'tuned-bucket' ? ' (bucket)' : ''}` : 'not tuned',
        t ? `${(d.medianMs / t.medianMs).toFixed(2)}x` : '-',
        flops ? (flops / (best.medianMs * 1e-3) / 1e9).toFixed(2) : '-',
        (bytes / (best.medianMs * 1e-3) / 1e9).toFixed(2),
        t ? describeSchedule(tuned.plan.schedule) : 'run autotune tune first',
      ]);
      dflt.destroy();
      tuned.destroy();
    }
  } finally {
    device.destroy();
  }
  if (o.json) console.log(JSON.stringify({ device: describeDevice(device), results }, null, 2));
  else {
    console.log(`device ${describeDevice(device)}; ${o.rounds} interleaved rounds`);
    console.log(table.toString());
  }
  return EXIT.ok;
}
