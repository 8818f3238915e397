import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loaderModule } from './loader.js';
import { type Manifest, manifestSchema } from './manifest.js';

/** The C/CUDA files of an export (see cudaExport). */
export interface CudaExport {
  readonly headerName: string;
  readonly header: string;
  readonly source: string;
}

/** What an export writes, relative to its folder. */
export const EXPORT_FILES = { manifest: 'manifest.json', schema: 'manifest.schema.json', loader: 'tilecraft-kernels.js', types: 'tilecraft-kernels.d.ts', kernels: 'kernels' } as const;

/**
 * Writes an export into `dir`: `manifest.json`, each kernel's WGSL in `kernels/` (to read; the
 * loader carries them too), the loader module with its declarations, and with `cuda` the C
 * header and CUDA source (`tc_<program>.h`, `.cu`).
 */
export async function writeExport(dir: string, manifest: Manifest, cuda?: CudaExport): Promise<string[]> {
  await mkdir(join(dir, EXPORT_FILES.kernels), { recursive: true });
  const { js, dts } = loaderModule(manifest);
  const files: [string, string][] = [
    [EXPORT_FILES.manifest, JSON.stringify(manifest, null, 2) + '\n'],
    [EXPORT_FILES.schema, JSON.stringify(manifestSchema(), null, 2) + '\n'],
    [EXPORT_FILES.loader, js],
    [EXPORT_FILES.types, dts],
    ...manifest.kernels.map((k): [string, string] => [join(EXPORT_FILES.kernels, `${k.name}.wgsl`), k.wgsl]),
    ...(cuda ? ([[cuda.headerName, cuda.header], [cuda.headerName.replace(/\.h$/, '.cu'), cuda.source]] as [string, string][]) : []),
  ];
  for (const [name, text] of files) await writeFile(join(dir, name), text);
  return files.map(([name]) => name);
}
