import { afterAll, beforeAll, describe } from 'vitest';
import { type Sizes } from '../../src/ir/bind.js';
import { type DType } from '../../src/ir/dtype.js';
import { type HostTensor, toValues } from '../../src/ir/host.js';
import { type Program } from '../../src/ir/tensor.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { type CompileOptions, Executable } from '../../src/runtime/executable.js';
import { type WebGpuOptions, WebGpuDevice, createWebGpuDevice } from '../../src/runtime/webgpu.js';
import type { Device } from '../../src/runtime/device.js';
import { cudaStatus, createCudaDevice } from '../../src/runtime/cuda.js';

const devices = new Map<string, Promise<WebGpuDevice>>();

/** One WebGPU device per test file (and per set of options), destroyed after the file's tests. */
export function gpu(options: WebGpuOptions = {}): Promise<WebGpuDevice> {
  const key = JSON.stringify(options);
  let d = devices.get(key);
  if (!d) {
    d = createWebGpuDevice(options);
    devices.set(key, d);
  }
  return d;
}

let cuda: Promise<Device> | undefined;

afterAll(async () => {
  for (const d of devices.values()) (await d).destroy();
  devices.clear();
  if (cuda) (await cuda).destroy();
  cuda = undefined;
});

export type TestDeviceKind = 'webgpu' | 'cuda';

/** The device suites that take the current device run on (set by `onEachDevice`). */
let current: TestDeviceKind = 'webgpu';

/** The device the current suite runs on: WebGPU, or CUDA inside `onEachDevice`'s CUDA block. */
export function currentDevice(): Promise<Device> {
  if (current === 'cuda') return (cuda ??= createCudaDevice());
  return gpu();
}

/**
 * Runs a suite once per device kind: on WebGPU always, and on CUDA when a CUDA device is present
 * (otherwise the CUDA block is skipped, its name saying why). TILECRAFT_TEST_DEVICES (e.g.
 * `cuda`) narrows the kinds, as the GPU check script does.
 */
export function onEachDevice(body: () => void): void {
  const wanted = (process.env.TILECRAFT_TEST_DEVICES ?? 'webgpu,cuda').split(',').map((s) => s.trim());
  if (wanted.includes('webgpu')) {
    describe('on WebGPU', () => {
      beforeAll(() => {
        current = 'webgpu';
      });
      body();
    });
  }
  if (wanted.includes('cuda')) {
    const status = cudaStatus();
    const name = status.available ? 'on CUDA' : `on CUDA (skipped: no CUDA device: ${status.reason ?? 'unavailable'})`;
    describe.skipIf(!status.available)(name, () => {
      beforeAll(() => {
        current = 'cuda';
      });
      afterAll(() => {
        current = 'webgpu';
      });
      body();
    });
  }
}

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

/** Default tolerance for comparing a device result of this dtype with the float64 reference. */
export function toleranceFor(dtype: DType): Tolerance {
  switch (dtype) {
    case 'f32':
      return { rtol: 2e-5, atol: 2e-6 };
    case 'f16':
      return { rtol: 1e-2, atol: 1e-3 };
    case 'bf16':
      return { rtol: 2e-2, atol: 1e-2 };
    default:
      return { rtol: 0, atol: 0 };
  }
}

/** The worst element of a comparison, or undefined when every element is within tolerance. */
export function mismatch(actual: HostTensor, expected: HostTensor, tol: Tolerance = toleranceFor(expected.dtype)) {
  if (actual.dtype !== expected.dtype) return { index: -1, actual: NaN, expected: NaN, why: `dtype ${actual.dtype} != ${expected.dtype}` };
  if (actual.shape.join() !== expected.shape.join()) return { index: -1, actual: NaN, expected: NaN, why: `shape [${actual.shape}] != [${expected.shape}]` };
  const a = toValues(actual);
  const e = toValues(expected);
  let worst: { index: number; actual: number; expected: number; why: string } | undefined;
  let worstExcess = 0;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (x === y) continue;
    const excess = Math.abs(x - y) - (tol.atol + tol.rtol * Math.abs(y));
    if (!(excess <= 0) && (worst === undefined || excess > worstExcess || Number.isNaN(excess))) {
      worst = { index: i, actual: x, expected: y, why: 'out of tolerance' };
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  return worst;
}

/**
 * Compiles `program` for the test device, runs it on `inputs` and compares every output with the
 * reference. Returns the executable (for source inspection) and the outputs.
 */
export async function checkOnDevice(
  program: Program,
  sizes: Sizes,
  inputs: Readonly<Record<string, HostTensor>>,
  options: { tol?: Partial<Tolerance>; device?: Device; compile?: CompileOptions } = {},
) {
  const device = options.device ?? (await currentDevice());
  const exe = await Executable.create(device, program, sizes, options.compile);
  const { outputs } = await exe.run(inputs);
  const ref = evaluate(program, sizes, inputs);
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(ref.outputs)) {
    const tol = { ...toleranceFor(expected.dtype), ...options.tol };
    const m = mismatch(outputs[name]!, expected, tol);
    if (m) failures.push(`${name}[${m.index}]: got ${m.actual}, expected ${m.expected} (${m.why}, rtol ${tol.rtol}, atol ${tol.atol})`);
  }
  exe.destroy();
  return { outputs, reference: ref.outputs, failures, sources: exe.sources, plan: exe.plan };
}
