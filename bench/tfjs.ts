import type { Contender } from './common.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';

type Tf = typeof import('@tensorflow/tfjs-core');

const registered = new WeakSet<WebGpuDevice>();

/**
 * TensorFlow.js with its WebGPU backend running on our GPUDevice (not an adapter of its own), so
 * its kernels and ours share the device and are timed alike.
 */
export async function tfjsOn(device: WebGpuDevice): Promise<Tf> {
  const g = globalThis as { navigator?: unknown };
  // the backend checks for navigator.gpu and a userAgent when it is imported, and uses WebGPU's
  // global enums (GPUBufferUsage, ...), which the webgpu package provides
  g.navigator ??= { gpu: {}, userAgent: 'node' };
  const { globals } = (await import('webgpu')) as unknown as { globals: object };
  Object.assign(globalThis, globals);
  const tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (d: GPUDevice, info?: GPUAdapterInfo) => import('@tensorflow/tfjs-core').KernelBackend;
  };
  if (!registered.has(device)) {
    // TF.js's kernels are registered for the backend named 'webgpu': replace its factory (which
    // would open its own adapter) with one running on our GPUDevice
    tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new WebGPUBackend(device.device, device.device.adapterInfo));
    await tf.setBackend('webgpu');
    await tf.ready();
    registered.add(device);
  }
  return tf;
}

/**
 * A contender running `compute` in TF.js, timed by TF.js's profiler (the GPU timestamps of the
 * kernels it launched, summed). Intermediates and the result are freed after every run.
 */
export function tfjsContender(tf: Tf, name: string, compute: () => import('@tensorflow/tfjs-core').Tensor): Contender {
  return {
    name,
    run: async () => {
      const p = await tf.profile(() => tf.tidy(compute));
      const ms = p.kernels.reduce((s, k) => s + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0), 0);
      tf.dispose(p.result);
      return ms;
    },
  };
}
