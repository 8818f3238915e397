import Table from 'cli-table3';
import { tableStyle } from './style.js';
import { storageBytes } from '../ir/dtype.js';
import { toValues } from '../ir/host.js';
import { compareWithReference } from '../autotune/check.js';
import { evaluate } from '../reference/evaluate.js';
import { measure } from '../autotune/measure.js';
import { type CompileOptions, Executable } from '../runtime/executable.js';
import { type Schedule, describeSchedule } from '../passes/schedule.js';
import { type Sizes, bindProgram, shapeOf } from '../ir/bind.js';
import { type Program } from '../ir/tensor.js';
import { DeviceLimitError } from '../ir/errors.js';
import { type PlanTensor } from '../passes/pipeline.js';
import { type DeviceLimits } from '../runtime/device.js';
import { checkBufferLimits } from '../runtime/limits.js';
import { openDatabase } from './database.js';
import { UsageError } from './sizes.js';
import { EXIT } from './exit-codes.js';
import { randomInputs } from '../autotune/inputs.js';
import { type DeviceKind, describeDevice, openDevice } from './open-device.js';
import type { DeviceInfo } from '../runtime/device.js';
import { deviceCostModel } from '../autotune/device-model.js';
import { modelScheduleSource } from '../autotune/model-search.js';
import { resolveProgram } from './program-source.js';
import { readScheduleArg, scheduleToReplay } from './schedule-arg.js';

export interface RunOptions {
  readonly dtype?: string;
  readonly shape: readonly string[];
  readonly device: DeviceKind;
  readonly warmup: number;
  readonly repeat: number;
  readonly check: boolean;
  readonly json: boolean;
  readonly source: boolean;
  readonly db?: string;
  readonly tuned: boolean;
  /** Where nothing is tuned, the cost model's choice (`--no-model`: the fixed default schedule). */
  readonly model?: boolean;
  /** A schedule to replay: inline JSON or a file (see `readScheduleArg`). */
  readonly schedule?: string;
}

/**
 * `autotune run <program>`: compile with the given schedule, else the tuned one, else the default;
 * run, time, and check.
 */
export async function runCommand(name: string, o: RunOptions): Promise<number> {
  const src = await resolveProgram(name, o.dtype, o.shape);
  const { program, sizes, dtype } = src;
  const given = o.schedule !== undefined ? await readScheduleArg(o.schedule) : undefined;
  const device = await openDevice(o.device);
  try {
    // a shape too big for the device is the user's input: said before anything is compiled or allocated
    checkFitsDevice(programTensors(program, sizes), device.info.limits, sizes);
    const exe = await Executable.create(device, program, sizes, await compileOptions(o, device.info, given, () => scheduleToReplay(device.info, program, sizes, given)));
    checkFitsDevice(exe.plan.tensors, device.info.limits, sizes);
    // a dynamic size runs at the value given (or the example's), its tensors at their actual shapes
    const dynamic = Object.keys(exe.dynamic);
    const values = dynamic.length ? exe.dynamicValues(Object.fromEntries(dynamic.map((d) => [d, sizes[d]!]))) : undefined;
    const inputs = randomInputs(values ? exe.inputs.map((t) => ({ ...t, shape: exe.shapeAt(t.name, values) })) : exe.inputs);
    for (const [k, v] of Object.entries(inputs)) exe.upload(k, v, values);
    const m = await measure(() => exe.dispatch({}, { timing: true, ...(values ? { sizes: values } : {}) }), { warmup: o.warmup, repeat: o.repeat });
    const outputs = Object.fromEntries(await Promise.all(exe.outputs.map(async (t) => [t.name, await exe.download(t.name, values)] as const)));
    const bytes = exe.plan.tensors.filter((t) => t.role !== 'temp').reduce((a, t) => a + storageBytes(t.dtype, values ? exe.shapeAt(t.name, values) : t.shape), 0);
    const gbps = bytes / (m.medianMs * 1e-3) / 1e9;
    const gflops = src.flops ? src.flops(sizes) / (m.medianMs * 1e-3) / 1e9 : undefined;

    let check: { ok: boolean; maxAbsError: number; tensor: string }[] = [];
    if (o.check) {
      const ref = evaluate(program, sizes, inputs);
      check = Object.keys(ref.outputs).map((t) => {
        const c = compareWithReference(outputs[t]!, ref.outputs[t]!);
        return { tensor: t, maxAbsError: c.maxAbsError, ok: c.ok };
      });
    }
    const ok = check.every((c) => c.ok);
    const result = {
      program: src.name,
      dtype,
      sizes,
      device: { backend: device.info.backend, name: device.info.name, vendor: device.info.vendor, architecture: device.info.architecture },
      kernels: exe.plan.kernels.map((k) => ({ name: k.name, grid: k.grid, workgroup: k.workgroup })),
      schedule: { origin: exe.scheduleOrigin, knobs: exe.plan.schedule },
      timing: { medianMs: m.medianMs, minMs: m.minMs, spread: m.spread, runs: m.samples.length, clock: m.clock },
      bytesMoved: bytes,
      gbPerSecond: gbps,
      ...(gflops !== undefined ? { gflopPerSecond: gflops } : {}),
      check,
      preview: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, [...toValues(v).slice(0, 6)]])),
    };
    if (o.json) {
      console.log(JSON.stringify(result, null, 2));
    } else {
      console.log(`${src.name} (${dtype}) ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      console.log(`device   ${describeDevice(device)}`);
      console.log(`kernels  ${exe.plan.kernels.length}: ${exe.plan.trace.find((t) => t.pass === 'group')?.note ?? ''}`);
      console.log(`schedule ${exe.scheduleOrigin}: ${describeSchedule(exe.plan.schedule)}`);
      const t = new Table({ head: ['median', 'min', 'spread', 'runs', 'clock', 'GB/s', ...(gflops !== undefined ? ['GFLOP/s'] : [])], ...tableStyle() });
      t.push([
        `${m.medianMs.toFixed(3)} ms`,
        `${m.minMs.toFixed(3)} ms`,
        `±${(m.spread * 100).toFixed(1)}%`,
        String(m.samples.length),
        m.clock === 'device' ? 'GPU timestamps' : 'wall',
        gbps.toFixed(2),
        ...(gflops !== undefined ? [gflops.toFixed(2)] : []),
      ]);
      console.log(t.toString());
      for (const [k, v] of Object.entries(result.preview)) console.log(`${k}[0:6] = ${v.map((x) => x.toPrecision(6)).join(' ')}`);
      for (const c of check) {
        console.log(`check    ${c.tensor}: max |error| ${c.maxAbsError.toExponential(2)} vs the CPU reference (${c.ok ? 'ok' : 'MISMATCH'})`);
      }
      if (o.source) exe.sources.forEach((s, i) => console.log(`// ---- kernel ${exe.plan.kernels[i]!.name} (${i + 1} of ${exe.sources.length})\n${s}`));
    }
    exe.destroy();
    return ok ? EXIT.ok : EXIT.mismatch;
  } finally {
    device.destroy();
  }
}

/**
 * Before anything is allocated, on the host or the device: a tensor too large for one buffer of
 * this device is the sizes' fault, so a usage error naming the tensor, the sizes and the limit.
 */
/** The program's inputs and outputs at these sizes, as the plan will bind them. */
export function programTensors(program: Program, sizes: Sizes): PlanTensor[] {
  const bound = bindProgram(program, sizes);
  const outputs = bound.stmts.filter((st) => bound.outputs.includes(st.target.name)).map((st) => ({ t: st.target, role: 'output' as const }));
  return [...bound.inputs.map((t) => ({ t, role: 'input' as const })), ...outputs].map(({ t, role }) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t), role }));
}

export function checkFitsDevice(tensors: readonly PlanTensor[], limits: DeviceLimits, sizes: Sizes): void {
  try {
    checkBufferLimits(tensors, limits);
  } catch (e) {
    if (!(e instanceof DeviceLimitError)) throw e;
    const shape = Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(',');
    throw new UsageError(`--shape ${shape} is too large for this device: ${e.message}`, { cause: e });
  }
}

/**
 * A given schedule replays exactly (no tuned lookup); else the tuned one, else the cost model's
 * choice; `--no-tuned` takes the fixed default schedule, `--no-model` skips the model.
 */
async function compileOptions(o: RunOptions, info: DeviceInfo, given: unknown, replay: () => Schedule): Promise<CompileOptions> {
  if (given !== undefined) return { schedule: replay() };
  if (!o.tuned) return {};
  const db = await openDatabase(o.db);
  return { tuning: o.model === false ? db : [db, modelScheduleSource(deviceCostModel(info, db.path))] };
}
