import { createWebGpuDevice } from '../runtime/webgpu.js';
import { EXIT } from './exit-codes.js';

/** `autotune devices`: what tilecraft can run on here, and why not where it cannot. */
export async function devicesCommand(o: { json: boolean }): Promise<number> {
  const found: Record<string, unknown>[] = [];
  try {
    const d = await createWebGpuDevice();
    found.push({ available: true, ...d.info });
    d.destroy();
  } catch (e) {
    found.push({ backend: 'webgpu', available: false, reason: (e as Error).message });
  }
  // loaded lazily: the CUDA module loads a native addon that WebGPU-only commands never need
  const { cudaStatus } = await import('../runtime/cuda.js');
  found.push({ backend: 'cuda', ...cudaStatus() });
  if (o.json) {
    console.log(JSON.stringify(found, null, 2));
    return EXIT.ok;
  }
  for (const d of found) {
    if (!d.available) {
      console.log(`${d.backend}: unavailable — ${d.reason}`);
      continue;
    }
    const info = d as unknown as { backend: string; name: string; vendor: string; architecture: string; features: string[]; limits: Record<string, unknown> };
    console.log(`${info.backend}: ${info.name}`);
    console.log(`  vendor ${info.vendor || '?'}, architecture ${info.architecture || '?'}`);
    console.log(`  features ${info.features.join(', ') || 'none'}`);
    for (const [k, v] of Object.entries(info.limits)) console.log(`  ${k} ${Array.isArray(v) ? v.join(' x ') : String(v)}`);
  }
  return found.some((d) => d.available) ? EXIT.ok : EXIT.failure;
}
