/**
 * The measuring worker: a child process that owns the device, so a candidate that crashes or
 * hangs the driver takes down only this process. It compiles each candidate's kernels as the
 * tuning run lowered them (it never lowers anything itself), checks the result against the CPU
 * reference, and only then times it (`DeviceMeasurer`).
 */
import { deserializeProgram } from '../ir/serialize.js';
import type { Device } from '../runtime/device.js';
import { DeviceMeasurer } from './on-device.js';
import type { FromWorker, ToWorker } from './protocol.js';

const send = (m: FromWorker) => process.send?.(m);

async function openDevice(backend: 'webgpu' | 'cuda'): Promise<Device> {
  if (backend === 'cuda') return (await import('../runtime/cuda.js')).createCudaDevice();
  return (await import('../runtime/webgpu.js')).createWebGpuDevice();
}

async function init(m: Extract<ToWorker, { type: 'init' }>): Promise<DeviceMeasurer> {
  const program = deserializeProgram(m.program);
  return DeviceMeasurer.create(await openDevice(m.backend), program, m.sizes, m.seed);
}

async function measureOne(s: DeviceMeasurer, m: Extract<ToWorker, { type: 'measure' }>): Promise<FromWorker> {
  const { plan, warmup, repeat, cutoffMs } = m;
  // the pool enforces time-outs by killing this process; runs are never cut short here
  const outcome = await s.measure(plan, { warmup, repeat, timeoutMs: Infinity, cutoffMs });
  return { type: 'result', id: m.id, ...outcome };
}

let state: Promise<DeviceMeasurer> | undefined;
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
