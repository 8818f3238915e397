import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs the `autotune` command from source (on the software WebGPU device where it needs one). */
export function autotune(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'autotune.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/xdg', TILECRAFT_TUNING_DB: join(root, 'node_modules', '.cache', 'cli-test-never-written.json') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
