import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { tfjsOn } from '../../bench/tfjs.js';
import { randomHost } from '../../src/ir/host.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { gpu, mismatch } from '../helpers/device.js';

/**
 * tilecraft and TensorFlow.js's WebGPU backend on one GPUDevice: a TF.js tensor's data reaches a
 * tilecraft kernel as a GPUBuffer (TF.js's dataToGPU: a copy on the device, no trip through the
 * host), and the kernel's output becomes a TF.js tensor over tilecraft's own buffer, without a
 * copy (tf.tensor({ buffer, zeroCopy: true })).
 */
describe('TensorFlow.js interop on one GPUDevice', () => {
  it("runs a tilecraft softmax on a TF.js tensor's GPU data and hands its output buffer to TF.js without a copy", { timeout: 120_000 }, async () => {
    const device = await gpu();
    const tf = await tfjsOn(device);
    const [N, D] = [37, 129];
    const host = randomHost('f32', [N, D], 9);
    // a TF.js tensor, computed by TF.js on the device
    const a = tf.mul(tf.tensor(host.data as Float32Array, [N, D]), tf.scalar(2));
    const exe = await Executable.create(device, findExample('softmax')!.build('f32'), { N, D });
    const gpuData = a.dataToGPU();
    await exe.dispatch({ X: device.wrapBuffer(gpuData.buffer!) });
    // the output, as a TF.js tensor over tilecraft's buffer (zero copy), used by a TF.js op
    const out = device.gpuBuffer(exe.buffer('Y'));
    const y = tf.tensor({ buffer: out, zeroCopy: true }, [N, D], 'float32');
    const rowSums = await tf.sum(y, 1).data();
    const got = await y.data();
    const doubled = { dtype: 'f32' as const, shape: [N, D], data: Float32Array.from(host.data as Float32Array, (v) => Math.fround(2 * v)) };
    const expected = evaluate(findExample('softmax')!.build('f32'), { N, D }, { X: doubled }).outputs.Y!;
    expect(mismatch({ dtype: 'f32', shape: [N, D], data: Float32Array.from(got) }, expected)).toBeUndefined();
    for (const s of rowSums) expect(s).toBeCloseTo(1, 5);
    gpuData.tensorRef.dispose();
    tf.dispose([a, y]);
    exe.destroy();
  });
});
