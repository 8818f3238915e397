import { type Sizes } from '../ir/bind.js';
import { storageBytes } from '../ir/dtype.js';
import { BindingError, DeviceLimitError } from '../ir/errors.js';
import { type HostArray, type HostTensor, checkHost } from '../ir/host.js';
import { type Program } from '../ir/tensor.js';
import { type LowerOptions, type Plan, type PlanTensor } from '../passes/pipeline.js';
import { InvalidScheduleError, type Schedule } from '../passes/schedule.js';
import { planFor } from './target.js';
import type { CompiledKernel, Device, DeviceBuffer, DeviceInfo, RunResult } from './device.js';

/** A tuned schedule found for a program: tuned for exactly these sizes, or for sizes in the same bucket. */
export interface TunedSchedule {
  readonly schedule: Schedule;
  readonly match: 'exact' | 'bucket';
}

/**
 * Where an executable finds tuned schedules. The runtime only asks; the autotuner's database
 * (`TuningDatabase`, or `scheduleSource` over any `TuningSource`) answers, so the runtime does
 * not depend on the tuner.
 */
export interface ScheduleSource {
  tunedSchedule(device: DeviceInfo, program: Program, sizes: Sizes): Promise<TunedSchedule | undefined>;
}

/**
 * How to lay the program out (`LowerOptions`: knobs per group by id, defaults per kind of group,
 * grouping) and where tuned schedules come from; the device's limits come from the device.
 */
export interface CompileOptions extends LowerOptions {
  /**
   * Tuned schedules to use when no schedule is given: an exact match for this device, program and
   * sizes, else one tuned for sizes in the same bucket; else the default schedule.
   */
  readonly tuning?: ScheduleSource;
}

/** Where an executable's schedule came from. */
export type ScheduleOrigin = 'given' | 'tuned' | 'tuned-bucket' | 'default';

/** A program compiled for one device and one set of sizes. */
export class Executable {
  private readonly owned = new Map<string, DeviceBuffer>();

  private constructor(
    readonly device: Device,
    readonly plan: Plan,
    readonly kernels: readonly CompiledKernel[],
    readonly scheduleOrigin: ScheduleOrigin,
  ) {}

  static async create(device: Device, program: Program, sizes: Sizes, options: CompileOptions = {}): Promise<Executable> {
    const { tuning, ...lowering } = options;
    let origin: ScheduleOrigin = options.schedule ? 'given' : 'default';
    let plan: Plan | undefined;
    if (!options.schedule && tuning) {
      const hit = await tuning.tunedSchedule(device.info, program, sizes);
      if (hit) {
        try {
          plan = planFor(device.info, program, sizes, { ...lowering, schedule: hit.schedule });
          origin = hit.match === 'exact' ? 'tuned' : 'tuned-bucket';
        } catch (e) {
          // a schedule tuned for other sizes may not fit these: the default schedule does
          if (!(e instanceof InvalidScheduleError || e instanceof DeviceLimitError)) throw e;
        }
      }
    }
    plan ??= planFor(device.info, program, sizes, lowering);
    return Executable.fromPlan(device, plan, origin);
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

  upload(name: string, host: HostTensor): void {
    const t = this.tensor(name);
    checkHost(name, host, t.dtype, t.shape);
    this.device.write(this.buffer(name), host.data);
  }

  async download(name: string): Promise<HostTensor> {
    const t = this.tensor(name);
    const bytes = await this.device.read(this.buffer(name), storageBytes(t.dtype, t.shape));
    return { dtype: t.dtype, shape: t.shape, data: viewAs(t.dtype, bytes) };
  }

  /**
   * Launches every kernel on device buffers: `buffers` may supply any tensor's buffer (your own
   * GPUBuffers wrapped with `device.wrapBuffer`); the rest use buffers this executable keeps.
   */
  async dispatch(buffers: Readonly<Record<string, DeviceBuffer>> = {}, options: { timing?: boolean } = {}): Promise<RunResult> {
    for (const name of Object.keys(buffers)) {
      const t = this.tensor(name);
      const need = storageBytes(t.dtype, t.shape);
      if (buffers[name]!.bytes < need) {
        throw new BindingError(`buffer for ${name} holds ${buffers[name]!.bytes} bytes; ${t.dtype}[${t.shape.join(', ')}] needs ${need}`, name);
      }
    }
    const launches = this.kernels.map((k) => ({
      kernel: k,
      buffers: k.kernel.buffers.filter((b) => b.scope === 'global').map((b) => buffers[b.name] ?? this.buffer(b.name)),
    }));
    return this.device.run(launches, options);
  }

  /** Uploads inputs, runs, and downloads the outputs. */
  async run(
    inputs: Readonly<Record<string, HostTensor>>,
    options: { timing?: boolean } = {},
  ): Promise<{ outputs: Record<string, HostTensor>; timing: RunResult }> {
    for (const t of this.inputs) {
      const h = inputs[t.name];
      if (!h) throw new BindingError(`input ${t.name} of program ${this.plan.program.name} was not given`, t.name);
      this.upload(t.name, h);
    }
    for (const name of Object.keys(inputs)) {
      if (!this.inputs.some((t) => t.name === name)) throw new BindingError(`program ${this.plan.program.name} has no input ${name}`, name);
    }
    const timing = await this.dispatch({}, options);
    const outputs: Record<string, HostTensor> = {};
    for (const t of this.outputs) outputs[t.name] = await this.download(t.name);
    return { outputs, timing };
  }

  /** Frees the buffers this executable allocated. */
  destroy(): void {
    for (const b of this.owned.values()) this.device.destroyBuffer(b);
    this.owned.clear();
  }
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
