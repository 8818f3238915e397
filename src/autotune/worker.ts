/**
 * The measuring worker: a child process that owns the device, so a candidate that crashes or
 * hangs the driver takes down only this process. It compiles each candidate's kernels as the
 * tuning run lowered them (it never lowers anything itself), checks the result against the CPU
 * reference, and only then times it.
 */
import { type BoundProgram, bindProgram, shapeOf } from '../ir/bind.js';
import { deserializeProgram } from '../ir/serialize.js';
import type { HostTensor } from '../ir/host.js';
import { evaluate } from '../reference/evaluate.js';
import type { Device } from '../runtime/device.js';
import { Executable } from '../runtime/executable.js';
import { randomInputs } from './inputs.js';
import { compareWithReference } from './check.js';
import { measure } from './measure.js';
import type { FromWorker, ToWorker } from './protocol.js';

interface State {
  readonly device: Device;
  /** The program bound to the tuning run's sizes: what every plan received computes. */
  readonly program: BoundProgram;
  readonly inputs: Record<string, HostTensor>;
  readonly expected: Record<string, HostTensor>;
  /** The values of the program's dynamic sizes the run is timed at (kernels are laid out at the bounds). */
  readonly values: Record<string, number>;
}

const send = (m: FromWorker) => process.send?.(m);

async function openDevice(backend: 'webgpu' | 'cuda'): Promise<Device> {
  if (backend === 'cuda') return (await import('../runtime/cuda.js')).createCudaDevice();
  return (await import('../runtime/webgpu.js')).createWebGpuDevice();
}

async function init(m: Extract<ToWorker, { type: 'init' }>): Promise<State> {
  const program = deserializeProgram(m.program);
  const bound = bindProgram(program, m.sizes);
  // inputs and the reference at the sizes given: a dynamic size at its value, not its bound
  const actual = bindProgram(program, m.sizes, { dynamic: 'value' });
  const inputs = randomInputs(actual.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t) })), m.seed);
  const expected = evaluate(program, m.sizes, inputs).outputs;
  const values = Object.fromEntries(Object.keys(program.dynamic ?? {}).map((s) => [s, m.sizes[s] ?? program.dynamic![s]!]));
  const device = await openDevice(m.backend);
  return { device, program: bound, inputs, expected, values };
}

async function measureOne(s: State, m: Extract<ToWorker, { type: 'measure' }>): Promise<FromWorker> {
  let exe: Executable | undefined;
  try {
    const { kernels, kernelGroups, tensors, schedule, groups } = m.plan;
    exe = await Executable.fromPlan(s.device, { program: s.program, kernels, kernelGroups, tensors, schedule, groups, tiles: [], trace: [] });
    const sizes = s.values;
    for (const [name, t] of Object.entries(s.inputs)) exe.upload(name, t, sizes);
    await exe.dispatch({}, { sizes });
    for (const [name, want] of Object.entries(s.expected)) {
      const got = await exe.download(name, sizes);
      const c = compareWithReference(got, want);
      if (!c.ok) {
        const w = c.worst!;
        return { type: 'result', id: m.id, status: 'mismatch', detail: `${name}[${w.index}] = ${w.actual}, reference ${w.expected}` };
      }
    }
    const measurement = await measure(() => exe!.dispatch({}, { timing: true, sizes }), { warmup: m.warmup, repeat: m.repeat, timeoutMs: Infinity, cutoffMs: m.cutoffMs });
    return { type: 'result', id: m.id, status: 'ok', measurement };
  } catch (e) {
    const err = e as Error;
    const invalid = err.name === 'InvalidScheduleError' || err.name === 'DeviceLimitError';
    return { type: 'result', id: m.id, status: invalid ? 'invalid' : 'error', detail: `${err.name}: ${err.message}` };
  } finally {
    exe?.destroy();
  }
}

let state: Promise<State> | undefined;
process.on('message', (raw) => {
  const m = raw as ToWorker;
  if (m.type === 'init') {
    state = init(m);
    state.then(
      (s) => send({ type: 'ready', info: s.device.info }),
      (e: Error) => send({ type: 'init-failed', error: `${e.name}: ${e.message}` }),
    );
    return;
  }
  if (!state) {
    send({ type: 'result', id: m.id, status: 'error', detail: 'worker was not initialized' });
    return;
  }
  void state.then((s) => measureOne(s, m)).then(send);
});
process.on('disconnect', () => process.exit(0));
