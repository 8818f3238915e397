import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { autotune } from './autotune-process.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/xdg', NO_COLOR: '1' };

/** Seconds a bare node process takes to start and exit here: outside any budget, and slow on a loaded machine. */
function nodeBoot(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ['-e', ''], { env });
  return (performance.now() - t0) / 1000;
}

describe('autotune tune keeps its time budget', () => {
  it('a real tune on the software GPU, worker start and saving included, ends within its seconds', { timeout: 120_000 }, () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tilecraft-budget-')), 'tuning.json');
    const budget = 8;
    const boot = nodeBoot();
    const t0 = performance.now();
    const r = autotune('tune', 'matmul', '--shape', 'M=512,N=512,K=512', '--budget', `200,${budget}s`, '--db', db, '--json');
    const wall = (performance.now() - t0) / 1000;
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const out = JSON.parse(r.stdout) as { seconds: number; stoppedBy: string; measured: number };
    expect(out.stoppedBy).toBe('budget');
    // the tuner's own clock counts from the process's start (loading, the worker and the
    // reference included); a candidate may run at most a second past the search's deadline
    expect(out.seconds).toBeLessThanOrEqual(budget + 1);
    // the whole process, as the user waits for it: within the budget but for node's own start-up
    expect(wall, `wall ${wall.toFixed(1)} s, node start ${boot.toFixed(1)} s`).toBeLessThanOrEqual(budget + 2.5 + boot);
    expect(JSON.parse(readFileSync(db, 'utf8')).entries).not.toEqual({});
  });
});

describe('Ctrl-C during a tune', () => {
  it('saves the winner measured so far, marked as resting on screening, and show says so', { timeout: 120_000 }, async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'tilecraft-sigint-')), 'tuning.json');
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'autotune.ts'), 'tune', 'matmul', '--shape', 'M=256,N=256,K=256', '--budget', '200,100s', '--db', db], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // the default has been measured: interrupt the search
      if (/^search \d+\//m.test(stderr) && child.exitCode === null && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code, stderr).toBe(EXIT.interrupted);
    expect(stderr).toMatch(/interrupted; finishing with what was measured/);
    expect(stdout).toMatch(/^winner .*\(first measurement only, not confirmed\)/m);
    expect(stdout).toMatch(/saved to .*\(as measured by screening only, not confirmed\)/);
    const entries = Object.values(JSON.parse(readFileSync(db, 'utf8')).entries as Record<string, { measuredBy?: string }>);
    expect(entries.map((e) => e.measuredBy)).toEqual(['screen']);
    const shown = autotune('show', '--db', db);
    expect(shown.status).toBe(EXIT.ok);
    expect(shown.stdout).toMatch(/ms ±\d+\.\d% ~/);
    expect(shown.stdout).toMatch(/~ = not confirmed: the winner rests on its first \(screening\) measurement/);
  });
});
