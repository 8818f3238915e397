import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { randomHost } from '../../src/ir/host.js';
import { Executable } from '../../src/runtime/executable.js';
import { gpu, mismatch } from '../helpers/device.js';
import { onnxModel } from '../helpers/onnx.js';
import { ortOn } from '../helpers/ort.js';

/**
 * tilecraft and ONNX Runtime Web's WebGPU execution provider on one GPUDevice (tilecraft's, given
 * to ORT as the EP's `device`): an ORT session's output stays on the GPU
 * (`preferredOutputLocation: 'gpu-buffer'`) and is a tilecraft kernel's input as it is; the
 * kernel's output buffer is a second session's input through `Tensor.fromGpuBuffer`. Neither
 * hand-off copies or goes through the host.
 */
describe('ONNX Runtime Web interop on one GPUDevice', () => {
  it("runs a tilecraft softmax on an ORT session's GPU output and feeds its output buffer to another session", { timeout: 120_000 }, async () => {
    const device = await gpu();
    const ort = await ortOn(device);
    const [N, K, D, E] = [33, 20, 129, 17];
    const f32 = (shape: number[], seed: number) => randomHost('f32', shape, seed).data as Float32Array;
    const [x, w1, b1, w2] = [f32([N, K], 1), f32([K, D], 2), f32([D], 3), f32([D, E], 4)];
    // H = relu(X W1 + b1) by ORT; S = softmax(H) along D by tilecraft; Z = S W2 by ORT
    const first = onnxModel({
      inputs: { X: [N, K] },
      outputs: { H: [N, D] },
      initializers: { W1: { dims: [K, D], data: w1 }, B1: { dims: [D], data: b1 } },
      nodes: [
        { op: 'MatMul', inputs: ['X', 'W1'], outputs: ['XW'] },
        { op: 'Add', inputs: ['XW', 'B1'], outputs: ['G'] },
        { op: 'Relu', inputs: ['G'], outputs: ['H'] },
      ],
    });
    const second = onnxModel({
      inputs: { S: [N, D] },
      outputs: { Z: [N, E] },
      initializers: { W2: { dims: [D, E], data: w2 } },
      nodes: [{ op: 'MatMul', inputs: ['S', 'W2'], outputs: ['Z'] }],
    });
    const ep = { name: 'webgpu' as const, device: device.device };
    const s1 = await ort.InferenceSession.create(first, { executionProviders: [ep], preferredOutputLocation: 'gpu-buffer' });
    const s2 = await ort.InferenceSession.create(second, { executionProviders: [ep] });
    const exe = await Executable.create(device, findExample('softmax')!.build('f32'), { N, D });

    const { H } = await s1.run({ X: new ort.Tensor('float32', x, [N, K]) });
    expect(H!.location).toBe('gpu-buffer');
    await exe.dispatch({ X: device.wrapBuffer(H!.gpuBuffer!) });
    const S = ort.Tensor.fromGpuBuffer(device.gpuBuffer(exe.buffer('Y')), { dataType: 'float32', dims: [N, D] });
    const { Z } = await s2.run({ S });
    const got = (await Z!.getData()) as Float32Array;

    // the reference, in float64 on the CPU
    const z = new Float64Array(N * E);
    for (let n = 0; n < N; n++) {
      const h = Array.from({ length: D }, (_, d) => {
        let acc = b1[d]!;
        for (let k = 0; k < K; k++) acc += x[n * K + k]! * w1[k * D + d]!;
        return Math.max(acc, 0);
      });
      const max = Math.max(...h);
      const ex = h.map((v) => Math.exp(v - max));
      const sum = ex.reduce((a, b) => a + b, 0);
      for (let e = 0; e < E; e++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += (ex[d]! / sum) * w2[d * E + e]!;
        z[n * E + e] = acc;
      }
    }
    const expected = { dtype: 'f32' as const, shape: [N, E], data: Float32Array.from(z) };
    expect(mismatch({ dtype: 'f32', shape: [N, E], data: Float32Array.from(got) }, expected, { rtol: 1e-4, atol: 1e-5 })).toBeUndefined();

    H!.dispose();
    S.dispose();
    await s1.release();
    await s2.release();
    exe.destroy();
  });
});
