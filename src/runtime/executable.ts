import { type Sizes, actualShape, checkSizesObject, dynamicValues } from '../ir/bind.js';
import { storageBytes } from '../ir/dtype.js';
import { BindingError, DeviceLimitError, ProgramError } from '../ir/errors.js';
import { type HostArray, type HostTensor, checkHost } from '../ir/host.js';
import { type Program, tensorOf } from '../ir/tensor.js';
import { type LowerOptions, type Plan, type PlanTensor } from '../passes/pipeline.js';
import { InvalidScheduleError, type Schedule } from '../passes/schedule.js';
import { cropFromBound, padToBound } from './padded.js';
import { planFor } from './target.js';
import type { CompiledKernel, Device, DeviceBuffer, DeviceInfo, RunResult } from './device.js';

/**
 * A schedule found for a program: tuned for exactly these sizes, or for sizes in the same bucket,
 * or chosen by a cost model of the device with nothing measured.
 */
export interface TunedSchedule {
  readonly schedule: Schedule;
  readonly match: 'exact' | 'bucket' | 'model';
}

/**
 * Where an executable finds tuned schedules. The runtime only asks; the autotuner's database
 * (`TuningDatabase`, or `scheduleSource` over any `TuningSource`) answers, so the runtime does
 * not depend on the tuner.
 */
export interface ScheduleSource {
  tunedSchedule(device: DeviceInfo, program: Program, sizes: Sizes): Promise<TunedSchedule | undefined>;
  /** Asked only when no other source has a schedule (a cost model: choosing costs time, and any measured schedule beats it). */
  readonly fallback?: boolean;
}

/**
 * How to lay the program out (`LowerOptions`: knobs per group by id, defaults per kind of group,
 * grouping) and where tuned schedules come from; the device's limits come from the device.
 */
export interface CompileOptions extends LowerOptions {
  /**
   * Tuned schedules to use when no schedule is given: an exact match for this device, program and
   * sizes, else one tuned for sizes in the same bucket, else a fallback source's choice (a cost
   * model, `modelScheduleSource`); else the default schedule. Several sources (the user's own
   * database, then one shipped with a package) are asked in order: the first exact match in any
   * of them wins, else the first bucket match (see `tunedScheduleOf`).
   */
  readonly tuning?: ScheduleSource | readonly ScheduleSource[];
  /**
   * Run every kernel once before returning (see `warmup`), so the first real run does not pay
   * for the device's deferred shader compilation.
   */
  readonly warmup?: boolean;
}

/**
 * Where an executable's schedule comes from, when none is given: the first exact match (tuned
 * for these very sizes) in any source; else the first bucket match; else the first answer of a
 * fallback source (a cost model's choice), which is asked only then. Sources are asked in order,
 * so the user's own database goes first and a shipped one after it.
 */
export async function tunedScheduleOf(
  sources: ScheduleSource | readonly ScheduleSource[],
  device: DeviceInfo,
  program: Program,
  sizes: Sizes,
): Promise<TunedSchedule | undefined> {
  const all: readonly ScheduleSource[] = isScheduleSourceList(sources) ? sources : [sources];
  const hits = await Promise.all(all.filter((s) => !s.fallback).map((s) => s.tunedSchedule(device, program, sizes)));
  const measured = hits.find((h) => h?.match === 'exact') ?? hits.find((h) => h !== undefined);
  if (measured) return measured;
  for (const s of all.filter((x) => x.fallback)) {
    const hit = await s.tunedSchedule(device, program, sizes);
    if (hit) return hit;
  }
  return undefined;
}

const isScheduleSourceList = (s: ScheduleSource | readonly ScheduleSource[]): s is readonly ScheduleSource[] => Array.isArray(s);

/** Where an executable's schedule came from. */
export type ScheduleOrigin = 'given' | 'tuned' | 'tuned-bucket' | 'model' | 'default';

/** A program compiled for one device and one set of sizes. */
export class Executable {
  private readonly owned = new Map<string, DeviceBuffer>();

  private constructor(
    readonly device: Device,
    readonly plan: Plan,
    readonly kernels: readonly CompiledKernel[],
    readonly scheduleOrigin: ScheduleOrigin,
  ) {}

  /**
   * Compiles `program` at `sizes`. A dynamic size is compiled for its bound: it may be left out of
   * `sizes`, and a value given for it is only checked against the bound (a ShapeError above it).
   */
  static async create(device: Device, program: Program, givenSizes: Sizes, options: CompileOptions = {}): Promise<Executable> {
    const sizes = atBounds(program, givenSizes);
    const { tuning, warmup, ...lowering } = options;
    let origin: ScheduleOrigin = options.schedule ? 'given' : 'default';
    let plan: Plan | undefined;
    if (!options.schedule && tuning) {
      const hit = await tunedScheduleOf(tuning, device.info, program, sizes);
      if (hit) {
        try {
          plan = planFor(device.info, program, sizes, { ...lowering, schedule: hit.schedule });
          origin = hit.match === 'exact' ? 'tuned' : hit.match === 'bucket' ? 'tuned-bucket' : 'model';
        } catch (e) {
          // a schedule tuned for other sizes may not fit these: the default schedule does
          if (!(e instanceof InvalidScheduleError || e instanceof DeviceLimitError)) throw e;
        }
      }
    }
    plan ??= planFor(device.info, program, sizes, lowering);
    const exe = await Executable.fromPlan(device, plan, origin);
    if (warmup) await exe.warmup();
    return exe;
  }

  /**
   * Runs every kernel once on this executable's own buffers (dynamic sizes at their bounds) and
   * waits: devices finish compiling a pipeline at its first use (hundreds of milliseconds on a
   * software GPU), which a warm-up takes out of the first timed or latency-critical run. Inputs
   * uploaded before are read, not changed; outputs are overwritten by the next run.
   */
  async warmup(): Promise<void> {
    const bounds = Object.keys(this.dynamic).length ? { ...this.dynamic } : undefined;
    await this.dispatch({}, bounds ? { sizes: bounds } : {});
  }

  /**
   * Compiles a plan lowered already (by `planFor`, or by a tuning run that checked it): its
   * kernels run as they are, nothing is lowered again.
   */
  static async fromPlan(device: Device, plan: Plan, origin: ScheduleOrigin = 'given'): Promise<Executable> {
    const kernels = await Promise.all(plan.kernels.map((k) => device.compile(k)));
    return new Executable(device, plan, kernels, origin);
  }

  get inputs(): readonly PlanTensor[] {
    return this.plan.tensors.filter((t) => t.role === 'input');
  }

  get outputs(): readonly PlanTensor[] {
    return this.plan.tensors.filter((t) => t.role === 'output');
  }

  /** Source of every kernel, in launch order (WGSL or CUDA C++). */
  get sources(): readonly string[] {
    return this.kernels.map((k) => k.source);
  }

  private tensor(name: string): PlanTensor {
    const t = this.plan.tensors.find((x) => x.name === name);
    if (!t) throw new BindingError(`program ${this.plan.program.name} has no tensor ${name}`, name);
    return t;
  }

  /** The buffer tilecraft keeps for a tensor, allocated on first use. */
  buffer(name: string): DeviceBuffer {
    let b = this.owned.get(name);
    if (!b) {
      const t = this.tensor(name);
      b = this.device.createBuffer(storageBytes(t.dtype, t.shape), name);
      this.owned.set(name, b);
    }
    return b;
  }

  /** The program's dynamic sizes and their bounds (`{}` when every size is static). */
  get dynamic(): Readonly<Record<string, number>> {
    return this.plan.program.dynamic;
  }

  /**
   * The values of the dynamic sizes for one run, checked (see `dynamicValues`): a ProgramError
   * when one is missing, a ShapeError when one is not an integer from 1 to its bound.
   */
  dynamicValues(sizes?: Sizes): Sizes {
    return dynamicValues(this.plan.program, sizes);
  }

  /** A tensor's shape at the given values of the dynamic sizes (its layout shape when none are dynamic). */
  shapeAt(name: string, values: Sizes): readonly number[] {
    const t = this.tensor(name);
    if (!Object.hasOwn(this.plan.program.dynamicAxes, name)) return t.shape;
    return actualShape(this.plan.program, tensorOf(this.plan.program, name), values);
  }

  /**
   * Writes a host tensor into the tensor's buffer. With `sizes` (the dynamic sizes' values), the
   * host tensor is at the actual shape and is copied into the layout at the bound (the padding
   * zeroed); without, it is at the layout shape.
   */
  upload(name: string, host: HostTensor, sizes?: Sizes): void {
    const t = this.tensor(name);
    const shape = sizes ? this.shapeAt(name, this.dynamicValues(sizes)) : t.shape;
    checkHost(name, host, t.dtype, shape);
    const padded = shape === t.shape || shape.every((n, i) => n === t.shape[i]);
    this.device.write(this.buffer(name), padded ? host.data : padToBound(t.dtype, host.data, shape, t.shape));
  }

  /** Reads a tensor's buffer; with `sizes`, only its meaningful part, at the actual shape. */
  async download(name: string, sizes?: Sizes): Promise<HostTensor> {
    const t = this.tensor(name);
    const shape = sizes ? this.shapeAt(name, this.dynamicValues(sizes)) : t.shape;
    const bytes = await this.device.read(this.buffer(name), storageBytes(t.dtype, t.shape));
    const whole = shape === t.shape || shape.every((n, i) => n === t.shape[i]);
    return { dtype: t.dtype, shape, data: viewAs(t.dtype, whole ? bytes : cropFromBound(t.dtype, bytes, shape, t.shape)) };
  }

  /**
   * Launches every kernel on device buffers: `buffers` may supply any tensor's buffer (your own
   * GPUBuffers wrapped with `device.wrapBuffer`); the rest use buffers this executable keeps.
   */
  async dispatch(
    buffers: Readonly<Record<string, DeviceBuffer>> = {},
    options: { timing?: boolean; sizes?: Sizes } = {},
  ): Promise<RunResult> {
    for (const name of Object.keys(buffers)) {
      const t = this.tensor(name);
      const need = storageBytes(t.dtype, t.shape);
      if (buffers[name]!.bytes < need) {
        throw new BindingError(`buffer for ${name} holds ${buffers[name]!.bytes} bytes; ${t.dtype}[${t.shape.join(', ')}] needs ${need}`, name);
      }
    }
    // the dynamic sizes' values, checked whenever given or read by a kernel
    const reads = this.kernels.some((k) => k.kernel.params?.length);
    const values = options.sizes || reads ? this.dynamicValues(options.sizes) : {};
    const launches = this.kernels.map((k) => ({
      kernel: k,
      buffers: k.kernel.buffers.filter((b) => b.scope === 'global').map((b) => buffers[b.name] ?? this.buffer(b.name)),
      params: (k.kernel.params ?? []).map((p) => {
        if (!Object.hasOwn(values, p)) throw new ProgramError(`kernel ${k.kernel.name} reads ${p}, which is not a dynamic size of program ${this.plan.program.name}`);
        return values[p]!;
      }),
    }));
    return this.device.run(launches, { timing: options.timing === true });
  }

  /**
   * Uploads inputs, runs, and downloads the outputs. A program with dynamic sizes needs their
   * values in `sizes` (`{ sizes: { M: 300 } }`, each from 1 to its bound): inputs are given and
   * outputs come back at the actual shapes, copied into and out of the layout at the bound.
   */
  async run(
    inputs: Readonly<Record<string, HostTensor>>,
    options: { timing?: boolean; sizes?: Sizes } = {},
  ): Promise<{ outputs: Record<string, HostTensor>; timing: RunResult }> {
    if (inputs === null || typeof inputs !== 'object') {
      throw new BindingError(`inputs of program ${this.plan.program.name} must be an object of host tensors by name, got ${inputs === null ? 'null' : typeof inputs}`, '(inputs)');
    }
    const dynamic = Object.keys(this.dynamic).length > 0;
    const values = dynamic || options.sizes ? this.dynamicValues(options.sizes) : undefined;
    for (const t of this.inputs) {
      const h = Object.hasOwn(inputs, t.name) ? inputs[t.name] : undefined;
      if (!h) throw new BindingError(`input ${t.name} of program ${this.plan.program.name} was not given`, t.name);
      this.upload(t.name, h, values);
    }
    for (const name of Object.keys(inputs)) {
      if (!this.inputs.some((t) => t.name === name)) throw new BindingError(`program ${this.plan.program.name} has no input ${name}`, name);
    }
    const timing = await this.dispatch({}, { timing: options.timing === true, ...(values ? { sizes: values } : {}) });
    const outputs: Record<string, HostTensor> = {};
    for (const t of this.outputs) outputs[t.name] = await this.download(t.name, values);
    return { outputs, timing };
  }

  /** Frees the buffers this executable allocated. */
  destroy(): void {
    for (const b of this.owned.values()) this.device.destroyBuffer(b);
    this.owned.clear();
  }
}

/**
 * The sizes a program is compiled at: a dynamic size at its bound. A value above the bound is kept,
 * for binding to reject with a ShapeError naming the size and bound.
 */
export function atBounds(program: Program, sizes: Sizes): Sizes {
  checkSizesObject(program, sizes);
  const out: Record<string, number> = { ...sizes };
  for (const [s, max] of Object.entries(program.dynamic ?? {})) {
    const v = Object.hasOwn(sizes, s) ? sizes[s] : undefined;
    if (v === undefined || (Number.isSafeInteger(v) && v >= 1 && v <= max)) out[s] = max;
  }
  return out;
}

function viewAs(dtype: PlanTensor['dtype'], bytes: Uint8Array): HostArray {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (dtype) {
    case 'f32':
      return new Float32Array(buf);
    case 'f16':
    case 'bf16':
      return new Uint16Array(buf);
    case 'i32':
      return new Int32Array(buf);
    case 'u32':
    case 'u4':
    case 'i4':
      return new Uint32Array(buf);
    case 'i8':
      return new Int8Array(buf);
  }
}

export const compile = Executable.create;
