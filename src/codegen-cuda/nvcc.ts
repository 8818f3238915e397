import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KernelCompileError, TilecraftError } from '../ir/errors.js';

/**
 * nvcc as an offline compiler: the compile check of every printed kernel, and the runtime's
 * fallback where libnvrtc is missing. Resource usage comes from ptxas's verbose report.
 */

/** nvcc is not installed where tilecraft looked. */
export class NvccNotFoundError extends TilecraftError {
  override name = 'NvccNotFoundError';
  constructor(readonly searched: readonly string[]) {
    super(
      `nvcc was not found (looked at ${searched.join(', ') || 'nothing'}): install the CUDA toolkit and set CUDA_PATH or ` +
        'CUDA_HOME to it, or put its bin folder on PATH',
    );
  }
}

export interface Nvcc {
  readonly path: string;
  /** `release` from `nvcc --version`, e.g. "13.0". */
  readonly version: string;
}

/** The environment variables nvcc is searched with; pass `process.env` from the entry point. */
export type ToolEnv = Readonly<Record<string, string | undefined>>;

const executable = (p: string) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Where a toolkit usually is when nothing in the environment names it. */
export const DEFAULT_CUDA_ROOTS: readonly string[] = ['/usr/local/cuda'];

/** Finds nvcc under CUDA_PATH, CUDA_HOME, on PATH, then under `roots`; throws NvccNotFoundError. */
export function findNvcc(env: ToolEnv, roots: readonly string[] = DEFAULT_CUDA_ROOTS): Nvcc {
  const candidates: string[] = [];
  for (const root of [env.CUDA_PATH, env.CUDA_HOME]) if (root) candidates.push(join(root, 'bin', 'nvcc'));
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'nvcc'));
  for (const root of roots) candidates.push(join(root, 'bin', 'nvcc'));
  const path = candidates.find(executable);
  if (!path) throw new NvccNotFoundError([...new Set(candidates)]);
  let version = 'unknown';
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8' });
    version = /release (\d+\.\d+)/.exec(out)?.[1] ?? version;
  } catch {
    // a broken nvcc shows up as a compile error, with its own message
  }
  return { path, version };
}

/** What ptxas reports for one entry on one architecture. */
export interface PtxasResources {
  readonly entry: string;
  /** `sm_80`, `sm_90`, ... */
  readonly arch: string;
  readonly registers: number;
  readonly sharedBytes: number;
  readonly spillStoreBytes: number;
  readonly spillLoadBytes: number;
  readonly stackFrameBytes: number;
  readonly barriers: number;
}

/** Parses `-Xptxas -v` output (CUDA 11 to 13 formats) into one record per entry and architecture. */
export function parsePtxasVerbose(log: string): PtxasResources[] {
  const out: PtxasResources[] = [];
  const frames = new Map<string, { stack: number; stores: number; loads: number }>();
  let entry: { name: string; arch: string } | undefined;
  let propertiesOf: string | undefined;
  for (const line of log.split('\n')) {
    const compiling = /Compiling entry function '([^']+)' for '([^']+)'/.exec(line);
    if (compiling) {
      entry = { name: compiling[1]!, arch: compiling[2]! };
      continue;
    }
    const props = /Function properties for (\S+)/.exec(line);
    if (props) {
      propertiesOf = props[1]!;
      continue;
    }
    const frame = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (frame && propertiesOf) {
      frames.set(propertiesOf, { stack: Number(frame[1]), stores: Number(frame[2]), loads: Number(frame[3]) });
      continue;
    }
    const used = /Used (\d+) registers/.exec(line);
    if (used && entry) {
      const f = frames.get(entry.name) ?? { stack: 0, stores: 0, loads: 0 };
      out.push({
        entry: entry.name,
        arch: entry.arch,
        registers: Number(used[1]),
        sharedBytes: Number(/(\d+) bytes smem/.exec(line)?.[1] ?? 0),
        spillStoreBytes: f.stores,
        spillLoadBytes: f.loads,
        stackFrameBytes: f.stack,
        barriers: Number(/used (\d+) barriers/.exec(line)?.[1] ?? 0),
      });
      entry = undefined;
    }
  }
  return out;
}

export interface NvccOptions {
  /** Architectures as 10 * major + minor (80, 90). One gives a cubin; several, a fatbin. */
  readonly archs: readonly number[];
  /** Warnings fail the compile (default true): generated code should compile cleanly. */
  readonly werror?: boolean;
  /** Kernel name(s) for error messages. */
  readonly label?: string;
}

export interface NvccResult {
  /** The cubin (one architecture) or fatbin (several). */
  readonly binary: Uint8Array;
  readonly log: string;
  readonly resources: readonly PtxasResources[];
}

/**
 * Compiles CUDA C++ device code to a cubin or fatbin with ptxas's resource report. A compile
 * error becomes a KernelCompileError pointing at the first error's line in `source`.
 */
export async function nvccCompile(nvcc: Nvcc, source: string, options: NvccOptions): Promise<NvccResult> {
  if (options.archs.length === 0) throw new TilecraftError('nvccCompile needs at least one architecture, e.g. archs: [80]');
  const dir = mkdtempSync(join(tmpdir(), 'tilecraft-nvcc-'));
  try {
    const input = join(dir, 'kernels.cu');
    const single = options.archs.length === 1;
    const output = join(dir, single ? 'kernels.cubin' : 'kernels.fatbin');
    writeFileSync(input, source);
    const args = [
      single ? '--cubin' : '--fatbin',
      ...options.archs.flatMap((a) => ['-gencode', `arch=compute_${a},code=sm_${a}`]),
      ...(options.werror === false ? [] : ['-Werror', 'all-warnings']),
      '-Xptxas',
      '-v',
      '-o',
      output,
      input,
    ];
    const { code, log } = await run(nvcc.path, args);
    if (code !== 0) throw compileError(log, source, options.label ?? 'kernels', input);
    return { binary: new Uint8Array(readFileSync(output)), log, resources: parsePtxasVerbose(log) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(file: string, args: readonly string[]): Promise<{ code: number; log: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, log: `${stdout}${stderr}${err && typeof err.code !== 'number' ? err.message : ''}` });
    });
  });
}

function compileError(log: string, source: string, label: string, file: string): KernelCompileError {
  const lines = log.split('\n').filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => /error/i.test(l));
  const first = at >= 0 ? lines[at]! : lines[0] ?? 'nvcc failed without a message';
  const pos = /\((\d+)\): (?:error|warning)/.exec(first);
  const line = pos ? Number(pos[1]) : undefined;
  const message = `nvcc rejected the CUDA for ${label}: ${first.replace(file, 'kernel.cu')}${line ? `\n  ${source.split('\n')[line - 1]?.trim() ?? ''}` : ''}`;
  return line === undefined ? new KernelCompileError(message, label, source) : new KernelCompileError(message, label, source, line);
}
