import type { WebGpuDevice } from '../../src/runtime/webgpu.js';

type Ort = typeof import('onnxruntime-web');

let patched = false;

/**
 * ONNX Runtime Web with its WebGPU execution provider, in Node on the `webgpu` package (Dawn).
 *
 * - The EP's initialization requires `navigator.gpu` even when it is given a device, and it checks
 *   that device with `instanceof GPUDevice`: the package's instance and global classes are
 *   installed as those globals.
 * - ORT's WebAssembly memory is shared (a SharedArrayBuffer) and it uploads with
 *   `queue.writeBuffer(buffer, offset, heapView, ...)`; Dawn's Node binding takes no view over a
 *   SharedArrayBuffer (the call fails with "Invalid argument"), so such a view is copied into an
 *   ordinary ArrayBuffer first. (WebGPU's writeBuffer takes an AllowSharedBufferSource: the
 *   copy is for this binding only.)
 *
 * Sessions then run on the device given in the EP option: `{ name: 'webgpu', device }`.
 */
export async function ortOn(device: WebGpuDevice): Promise<Ort> {
  const { globals, create } = (await import('webgpu')) as unknown as { globals: object; create(o: string[]): GPU };
  Object.assign(globalThis, globals);
  const g = globalThis as { navigator?: { gpu?: unknown; userAgent?: string } };
  const entry = (device.instance as GPU | undefined) ?? create([]);
  if (!g.navigator) g.navigator = { gpu: entry, userAgent: 'node' };
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: entry, configurable: true });
  if (!patched) {
    const queue = Object.getPrototypeOf(device.device.queue) as GPUQueue;
    const writeBuffer = queue.writeBuffer;
    queue.writeBuffer = function (this: GPUQueue, buffer, offset, data, dataOffset?, size?) {
      if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
        // dataOffset and size count elements of a typed array, bytes of a DataView
        const unit = 'BYTES_PER_ELEMENT' in data ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
        const start = data.byteOffset + (dataOffset ?? 0) * unit;
        const bytes = size !== undefined ? size * unit : data.byteLength - (dataOffset ?? 0) * unit;
        const copy = new Uint8Array(bytes);
        copy.set(new Uint8Array(data.buffer, start, bytes));
        return writeBuffer.call(this, buffer, offset, copy);
      }
      return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
    };
    patched = true;
  }
  const ort = (await import('onnxruntime-web/webgpu')) as unknown as Ort;
  // one thread: no workers, and the machine's cores stay with the GPU (often a software one)
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'warning';
  return ort;
}
