// Exits 0 when a WebGPU adapter is available to Node here (through the `webgpu` package), 1 otherwise.
const timer = setTimeout(() => {
  console.error('probe-webgpu: no answer from the WebGPU adapter within 60 s');
  process.exit(1);
}, 60_000);
try {
  const { create } = await import('webgpu');
  const adapter = await create([]).requestAdapter();
  if (!adapter) {
    console.error('probe-webgpu: no WebGPU adapter found');
    process.exit(1);
  }
  console.log(`probe-webgpu: ${adapter.info.description || adapter.info.vendor || 'adapter found'}`);
  clearTimeout(timer);
  process.exit(0);
} catch (e) {
  console.error(`probe-webgpu: ${e.message}`);
  process.exit(1);
}
