/**
 * Measuring and tuning in this process, on a device the caller owns: what the measuring worker
 * does for the CLI, and what a web page does on `navigator.gpu`, where there are no processes to
 * spread the work over. No Node APIs here: this module is in the main entry, which loads in
 * browsers.
 */
import { type BoundProgram, type Sizes, bindProgram, shapeOf } from '../ir/bind.js';
import type { HostTensor } from '../ir/host.js';
import type { Program } from '../ir/tensor.js';
import { evaluate } from '../reference/evaluate.js';
import type { Device } from '../runtime/device.js';
import { Executable } from '../runtime/executable.js';
import { compareWithReference } from './check.js';
import { randomInputs } from './inputs.js';
import { measure } from './measure.js';
import type { CandidateOutcome, MeasureRequest, SentPlan } from './protocol.js';
import { type Restrictions, type SpaceLowering, searchSpace } from './space.js';
import { type TuneOptions, type TuneProgress, type TuneResult, tune } from './tuner.js';

/**
 * A program ready to measure candidates on one device: bound to the tuning sizes, with random
 * inputs and the CPU reference's outputs, which every candidate must reproduce before it is timed.
 */
export class DeviceMeasurer {
  private constructor(
    readonly device: Device,
    /** The program bound to the tuning run's sizes: what every plan measured computes. */
    private readonly program: BoundProgram,
    private readonly inputs: Record<string, HostTensor>,
    private readonly expected: Record<string, HostTensor>,
    /** The values of the program's dynamic sizes the run is timed at (kernels are laid out at the bounds). */
    private readonly values: Record<string, number>,
  ) {}

  static create(device: Device, program: Program, sizes: Sizes, seed = 1): DeviceMeasurer {
    const bound = bindProgram(program, sizes);
    // inputs and the reference at the sizes given: a dynamic size at its value, not its bound
    const actual = bindProgram(program, sizes, { dynamic: 'value' });
    const inputs = randomInputs(actual.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t) })), seed);
    const expected = evaluate(program, sizes, inputs).outputs;
    const values = Object.fromEntries(Object.keys(program.dynamic ?? {}).map((s) => [s, sizes[s] ?? program.dynamic![s]!]));
    return new DeviceMeasurer(device, bound, inputs, expected, values);
  }

  /**
   * Compiles a plan's kernels as they are (never lowering again), checks its outputs against the
   * reference, then times it. A schedule the device cannot run is `invalid`; a wrong result is a
   * `mismatch`. In this process a kernel that hangs cannot be stopped: `timeoutMs` is checked
   * between runs only.
   */
  async measure(plan: SentPlan, request: MeasureRequest): Promise<CandidateOutcome> {
    let exe: Executable | undefined;
    try {
      const { kernels, kernelGroups, tensors, schedule, groups } = plan;
      exe = await Executable.fromPlan(this.device, { program: this.program, kernels, kernelGroups, tensors, schedule, groups, tiles: [], trace: [] });
      const sizes = this.values;
      for (const [name, t] of Object.entries(this.inputs)) exe.upload(name, t, sizes);
      await exe.dispatch({}, { sizes });
      for (const [name, want] of Object.entries(this.expected)) {
        const c = compareWithReference(await exe.download(name, sizes), want);
        if (!c.ok) {
          const w = c.worst!;
          return { status: 'mismatch', detail: `${name}[${w.index}] = ${w.actual}, reference ${w.expected}` };
        }
      }
      const run = () => exe!.dispatch({}, { timing: true, sizes });
      const measurement = await measure(run, { warmup: request.warmup, repeat: request.repeat, timeoutMs: request.timeoutMs ?? Infinity, cutoffMs: request.cutoffMs });
      return { status: 'ok', measurement };
    } catch (e) {
      const err = e as Error;
      const invalid = err.name === 'InvalidScheduleError' || err.name === 'DeviceLimitError';
      return { status: invalid ? 'invalid' : 'error', detail: `${err.name}: ${err.message}` };
    } finally {
      exe?.destroy();
    }
  }
}

export interface TuneOnDeviceOptions extends Partial<TuneOptions> {
  /** Knob values to search instead of their natural ranges (`{ workgroupSize: [64, 128] }`). */
  readonly restrict?: Restrictions;
  /** How the program is lowered for every candidate (grouping, rewrites). */
  readonly lowering?: SpaceLowering;
  /** Seed of the random inputs every candidate is checked with. */
  readonly inputSeed?: number;
  readonly onProgress?: (p: TuneProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * Tunes a program's schedule on a device the caller owns, in this process: the search the CLI
 * runs, with every candidate checked against the CPU reference before it is timed. In a page,
 * this is how schedules are tuned on the visitor's own GPU; `result.best.schedule` is what to
 * give `Executable.create` (or keep, under `deviceFingerprint(device.info)`, for later visits).
 */
export async function tuneOnDevice(device: Device, program: Program, sizes: Sizes, options: TuneOnDeviceOptions = {}): Promise<TuneResult> {
  const { restrict, lowering, inputSeed, onProgress, signal, ...tuneOptions } = options;
  const space = searchSpace(device.info, program, sizes, restrict, lowering);
  const measurer = DeviceMeasurer.create(device, program, sizes, inputSeed);
  const hooks = { ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) };
  return tune(device.info, program, sizes, space, (plan, request) => measurer.measure(plan, request), tuneOptions, hooks);
}
