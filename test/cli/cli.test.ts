import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs the `autotune` command from source; for mistakes caught before a device is opened. */
function autotune(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'autotune.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TILECRAFT_TUNING_DB: join(root, 'node_modules', '.cache', 'cli-test-never-written.json') },
  });
  return { status: r.status, stderr: r.stderr };
}

describe('autotune usage errors', () => {
  it('--knob with an unknown name exits with the usage code, naming it and listing the knobs', () => {
    const r = autotune('tune', 'matmul', '--knob', 'blockKK=8', '--no-save');
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/unknown knob blockKK; the knobs are .*blockK, blockM/);
  });

  it('--knob with a bad value exits with the usage code', () => {
    const r = autotune('tune', 'matmul', '--knob', 'staging=global', '--no-save');
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/staging .*one of shared, direct/);
  });
});
