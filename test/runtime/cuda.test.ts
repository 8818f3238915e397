import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { type Sizes } from '../../src/ir/bind.js';
import { type DType } from '../../src/ir/dtype.js';
import { DeviceError, DeviceLimitError, KernelCompileError } from '../../src/ir/errors.js';
import { type HostTensor, randomHost } from '../../src/ir/host.js';
import { type Kernel } from '../../src/ir/kernel.js';
import { lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { type CudaDevice, cudaStatus, createCudaDevice } from '../../src/runtime/cuda.js';
import { type CudaNativeError, loadCudaNative } from '../../src/runtime/cuda-native.js';
import { type CompileOptions, Executable } from '../../src/runtime/executable.js';
import { mismatch, toleranceFor } from '../helpers/device.js';
import { doubleBelow } from '../helpers/param-kernel.js';

// Evaluated once, before any test loads a stand-in driver into this process.
const status = cudaStatus();
const available = status.available;

const example = (name: string) => {
  const e = EXAMPLES.find((x) => x.name === name);
  if (!e) throw new Error(`no example ${name}`);
  return e;
};

function inputsFor(exe: Executable, seed: number): Record<string, HostTensor> {
  return Object.fromEntries(exe.inputs.map((t, i) => [t.name, randomHost(t.dtype, t.shape, seed + i)]));
}

describe('CUDA availability', () => {
  it.skipIf(available)('says why CUDA is unavailable here', () => {
    expect(status.available).toBe(false);
    expect(status.reason).toMatch(/libcuda/);
  });

  it.skipIf(available)('rejects createCudaDevice with a DeviceError naming the cause', async () => {
    const e = await createCudaDevice().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as Error).message).toMatch(/libcuda/);
  });

  it('names the addon when it is not built', () => {
    const s = cudaStatus({ addon: ['/nonexistent/tilecraft_cuda.node'] });
    expect(s.available).toBe(false);
    expect(s.reason).toMatch(/addon is not built.*build-addon\.mjs.*libcuda/);
  });
});

/**
 * Real runs, compared with the CPU reference. Skipped where there is no CUDA device; the kernels
 * they run have otherwise only been compiled (test/codegen-cuda/compile.test.ts).
 */
describe.skipIf(!available)(`CUDA device tests${available ? '' : ` (skipped: no CUDA device: ${status.reason})`}`, () => {
  let device: CudaDevice;
  beforeAll(async () => {
    device = await createCudaDevice();
  });
  afterAll(() => device?.destroy());

  const check = async (name: string, dtype: DType, sizes: Sizes, options: CompileOptions = {}) => {
    const program = example(name).build(dtype);
    const exe = await Executable.create(device, program, sizes, options);
    const inputs = inputsFor(exe, 7);
    const { outputs, timing } = await exe.run(inputs, { timing: true });
    const ref = evaluate(program, sizes, inputs);
    for (const [out, expected] of Object.entries(ref.outputs)) {
      const tol = expected.dtype === 'f32' ? { rtol: 1e-4, atol: 1e-5 } : toleranceFor(expected.dtype);
      expect(mismatch(outputs[out]!, expected, tol), `${name} ${dtype} ${out}`).toBeUndefined();
    }
    expect(timing.kernelMs?.every((ms) => ms >= 0)).toBe(true);
    exe.destroy();
  };

  it('softmax matches the reference (f32, f16; shared-memory and warp reductions)', async () => {
    await check('softmax', 'f32', { N: 67, D: 1000 });
    await check('softmax', 'f16', { N: 67, D: 1000 });
    await check('softmax', 'f32', { N: 67, D: 1000 }, { defaults: { rows: { subgroups: true, threadsPerRow: 128, workgroupSize: 128 } } });
    await check('softmax', 'f32', { N: 5, D: 100 }, { defaults: { rows: { subgroups: true, threadsPerRow: 16, workgroupSize: 16 } } });
  });

  it('matmul matches the reference (f32, f16)', async () => {
    await check('matmul', 'f32', { M: 130, N: 129, K: 70 });
    await check('matmul', 'f16', { M: 64, N: 64, K: 64 });
  });

  it('int4 GEMM matches the reference', async () => {
    await check('int4-gemm', 'f32', { M: 3, N: 64, K: 256, G: 64 });
  });

  it('one compiled kernel reads each launch\'s value of a dynamic size', async () => {
    const bound = 1000;
    const compiled = await device.compile(doubleBelow(bound));
    const X = device.createBuffer(bound * 4, 'X');
    const Y = device.createBuffer(bound * 4, 'Y');
    device.write(X, Float32Array.from({ length: bound }, (_, i) => i + 1));
    for (const n of [1, 300, 1000]) {
      device.write(Y, new Float32Array(bound).fill(-1));
      await device.run([{ kernel: compiled, buffers: [X, Y], params: [n] }]);
      const y = new Float32Array((await device.read(Y)).buffer);
      expect(Array.from(y)).toEqual(Array.from({ length: bound }, (_, i) => (i < n ? 2 * (i + 1) : -1)));
    }
    device.destroyBuffer(X);
    device.destroyBuffer(Y);
  });
});

/**
 * Without a GPU, a stand-in libcuda / libnvrtc (native/test/mock_cuda.c) checks everything but
 * the kernels themselves: loading, attributes, limits, NVRTC options, allocation, zero-fill,
 * copies, launch geometry, timing events, error mapping and clean-up.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const compilerC = ['cc', 'gcc'].find((c) => {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const addon = loadCudaNative();
// The stand-in driver shares libcuda's soname, so it is loaded only where no real driver is.
// Without a C compiler or the built addon this suite fails, as it should on a machine of this kind.
const mockable = !available;

describe.skipIf(!mockable)('the CUDA runtime against a stand-in driver (no kernels run; skipped where a real CUDA device is present)', () => {
  let dir: string;
  let lib: string;
  let log: string;
  let device: CudaDevice;
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tilecraft-mock-cuda-'));
    lib = join(dir, 'libmockcuda.so');
    log = join(dir, 'calls.log');
    execFileSync(compilerC!, ['-shared', '-fPIC', '-o', lib, join(root, 'native', 'test', 'mock_cuda.c')]);
    writeFileSync(log, '');
    // read by the stand-in on every call, through the process environment
    process.env.TILECRAFT_MOCK_CUDA_LOG = log;
    device = await createCudaDevice({ libraries: { libcuda: [lib], libnvrtc: [lib], includeDirs: ['/opt/cuda-headers'] } });
  });
  afterAll(() => {
    device?.destroy();
    delete process.env.TILECRAFT_MOCK_CUDA_LOG;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the device, its limits and the compiler', () => {
    expect(device.info).toMatchObject({ backend: 'cuda', name: 'tilecraft mock GPU', vendor: 'NVIDIA', architecture: 'sm_90' });
    expect(device.info.features).toEqual(['bf16', 'f16', 'subgroups', 'tensor-cores']);
    expect(device.info.limits).toMatchObject({
      maxWorkgroupInvocations: 1024,
      maxWorkgroupSize: [1024, 1024, 64],
      maxWorkgroupsPerDimension: 65535,
      maxWorkgroupStorageBytes: 49152,
      maxRegistersPerThread: 255,
    });
    expect(device.info.extra).toMatchObject({ computeCapability: '9.0', compiler: 'NVRTC 13.0', driverVersion: '13.0', sharedMemoryPerBlockOptin: 232448 });
    const s = cudaStatus({ libraries: { libcuda: [lib], libnvrtc: [lib] } });
    expect(s).toMatchObject({ available: true, compiler: 'nvrtc', devices: [{ name: 'tilecraft mock GPU', computeCapability: '9.0' }] });
  });

  it('zero-fills new buffers and round-trips bytes', async () => {
    const b = device.createBuffer(10, 'bytes');
    expect([...(await device.read(b))]).toEqual(new Array(10).fill(0));
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    device.write(b, data);
    expect([...(await device.read(b))]).toEqual([...data]);
    expect(() => device.write(b, new Uint8Array(64))).toThrow(DeviceError);
    device.destroyBuffer(b);
    expect(() => device.write(b, data)).toThrow(/does not belong/);
  });

  it('compiles with NVRTC for the device architecture and launches with the kernel geometry', async () => {
    const program = example('softmax').build('f32');
    const exe = await Executable.create(device, program, { N: 4, D: 64 });
    expect(exe.sources[0]).toMatch(/extern "C" __global__ void __launch_bounds__\(\d+\) softmax_0_rows\(/);
    expect(calls()).toContain('nvrtcCompileProgram --gpu-architecture=sm_90 --std=c++17 --include-path=/opt/cuda-headers');
    expect(exe.kernels[0]!.notes.join('\n')).toMatch(/NVRTC 13.0 for sm_90[\s\S]*32 registers/);
    const { outputs, timing } = await exe.run(inputsFor(exe, 1), { timing: true });
    expect(timing.kernelMs).toEqual([0.25]);
    // the stand-in runs nothing: the output is the cleared buffer
    expect([...(outputs.Y!.data as Float32Array)].every((v) => v === 0)).toBe(true);
    const k = exe.kernels[0]!.kernel;
    expect(calls()).toContain(`cuLaunchKernel softmax_0_rows grid=${k.grid.join(',')} block=${k.workgroup.join(',')} shared=0`);
    exe.destroy();
  });

  it('passes dynamic sizes to the addon as int arguments after the buffers', async () => {
    const compiled = await device.compile(doubleBelow(100));
    expect(compiled.source).toContain('float* __restrict__ t_Y, int tc_size_N)');
    const X = device.createBuffer(400, 'X');
    const Y = device.createBuffer(400, 'Y');
    await device.run([{ kernel: compiled, buffers: [X, Y], params: [37] }]);
    expect(calls()).toContain('cuLaunchKernel double_below grid=2,1,1 block=64,1,1 shared=0');
    await expect(device.run([{ kernel: compiled, buffers: [X, Y] }])).rejects.toThrow(/reads 1 dynamic size \(N\), 0 values given/);
    await expect(device.run([{ kernel: compiled, buffers: [X, Y], params: [0] }])).rejects.toThrow(/at least 1/);
    device.destroyBuffer(X);
    device.destroyBuffer(Y);
  });

  it('refuses a kernel over the limits before NVRTC runs', async () => {
    const plan = lower(example('softmax').build('f32'), { N: 4, D: 64 }, { defaults: { rows: { workgroupSize: 2048, threadsPerRow: 2048 } } });
    const before = calls().filter((c) => c.startsWith('nvrtcCompileProgram')).length;
    await expect(device.compile(plan.kernels[0]!)).rejects.toBeInstanceOf(DeviceLimitError);
    const huge: Kernel = {
      name: 'huge_shared',
      workgroup: [32, 1, 1],
      grid: [1, 1, 1],
      buffers: [{ name: 'S', scope: 'workgroup', dtype: 'f32', length: 12289 }],
      body: [],
    };
    await expect(device.compile(huge)).rejects.toThrow(/49156 bytes of static shared memory; sm_90 allows 49152/);
    expect(calls().filter((c) => c.startsWith('nvrtcCompileProgram')).length).toBe(before);
  });

  it('turns an NVRTC error into a KernelCompileError at the right line', async () => {
    const k: Kernel = { name: 'broken', workgroup: [32, 1, 1], grid: [1, 1, 1], buffers: [], body: [{ op: 'comment', text: '#error' }] };
    const e = await device.compile(k).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KernelCompileError);
    const err = e as KernelCompileError;
    expect(err.source!.split('\n')[err.line! - 1]).toContain('#error');
  });

  it('reports a failing driver call with the CUDA error name and the call', () => {
    if (!addon.ok) throw new Error(`the CUDA addon did not load: ${addon.reason}`);
    const e = (() => {
      try {
        addon.native.deviceInfo(5);
      } catch (x) {
        return x as CudaNativeError;
      }
      return undefined;
    })();
    expect(e?.message).toBe('cuDeviceGet failed: CUDA_ERROR_INVALID_VALUE (invalid argument)');
    expect(e).toMatchObject({ code: 'CUDA_ERROR_INVALID_VALUE', call: 'cuDeviceGet' });
    expect(() => addon.native.memAlloc({} as never, 4)).toThrow(/expected a CUDA context handle/);
  });

  it('compiles with nvcc where asked (the fallback when libnvrtc is missing)', async () => {
    const d = await createCudaDevice({ libraries: { libcuda: [lib], libnvrtc: [lib] }, compiler: 'nvcc' });
    try {
      expect(d.info.extra.compiler).toMatch(/^nvcc \d+\.\d+$/);
      const exe = await Executable.create(d, example('int4-gemm').build('f32'), { M: 2, N: 8, K: 64, G: 32 });
      expect(exe.kernels[0]!.notes.join('\n')).toMatch(/compiled by nvcc .* for sm_90/);
      expect(calls()).toContain('cuModuleLoadDataEx elf');
      await exe.run(inputsFor(exe, 3));
      exe.destroy();
    } finally {
      d.destroy();
    }
  });

  it('frees every allocation and releases the context on destroy', async () => {
    const d = await createCudaDevice({ libraries: { libcuda: [lib], libnvrtc: [lib] } });
    d.createBuffer(100, 'a');
    d.createBuffer(200, 'b');
    d.destroy();
    const c = calls();
    expect(c.filter((l) => l.startsWith('cuMemFree')).at(-1)).toBe('cuMemFree live=0');
    expect(c.at(-1)).toMatch(/cuDevicePrimaryCtxRelease refs=1/); // the suite's own device still holds one
    expect(() => d.createBuffer(4, 'c')).toThrow(/destroyed/);
  });
});
