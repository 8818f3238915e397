import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { fancyOutput } from '../../src/cli/style.js';
import { VERSION } from '../../src/version.js';
import { autotune } from './autotune-process.js';

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

describe('autotune basics', () => {
  it('--version prints the version and exits 0', () => {
    const r = autotune('--version');
    expect(r.status).toBe(EXIT.ok);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('a program file that cannot be read is a usage error saying why, with no stack trace', () => {
    const r = autotune('run', 'no/such/program.tc');
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/cannot read program file no\/such\/program.tc: no such file/);
    expect(r.stderr).not.toMatch(/ at /);
  });

  it('piped output carries no colours or redraws (the run table, the tune progress)', () => {
    const run = autotune('run', 'softmax', '--shape', 'N=4,D=8', '--warmup', '0', '--repeat', '1', '--no-tuned');
    expect(run.status, run.stderr).toBe(EXIT.ok);
    const tune = autotune('tune', 'softmax', '--shape', 'N=4,D=8', '--budget', '2,30s', '--no-save');
    expect(tune.status, tune.stderr).toBe(EXIT.ok);
    for (const text of [run.stdout, run.stderr, tune.stdout, tune.stderr]) expect(text).not.toMatch(/\u001b\[/);
    expect(run.stdout).toMatch(/│ median/);
    // progress as plain lines
    expect(tune.stderr).toMatch(/^search \d+\/\d+ \| best /m);
  });

  it('tune --json names the device it tuned on', () => {
    const r = autotune('tune', 'softmax', '--shape', 'N=4,D=8', '--budget', '2,30s', '--no-save', '--json');
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const out = JSON.parse(r.stdout) as { device: { backend: string; name: string; summary: string } };
    expect(out.device.backend).toBe('webgpu');
    expect(out.device.summary).toContain(out.device.name);
  });

  it('colours only a terminal without NO_COLOR', () => {
    expect(fancyOutput({ isTTY: true }, {})).toBe(true);
    expect(fancyOutput({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(fancyOutput({ isTTY: false }, {})).toBe(false);
    expect(fancyOutput({}, {})).toBe(false);
  });

  it('--source heads each kernel with its name', () => {
    const r = autotune('run', 'softmax', '--shape', 'N=4,D=8', '--warmup', '0', '--repeat', '1', '--source', '--no-tuned');
    expect(r.status, r.stderr).toBe(EXIT.ok);
    expect(r.stdout.match(/^\/\/ ---- kernel \S+ \(\d of \d\)$/gm)?.length).toBeGreaterThanOrEqual(1);
  });
});

describe('autotune export', () => {
  it('writes the manifest, the WGSL and the loader with its declarations; --out is required', () => {
    const out = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
    const r = autotune('export', 'softmax', '--shape', 'N=4,D=8', '--out', out, '--no-tuned', '--json');
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const res = JSON.parse(r.stdout) as { files: string[]; kernels: string[]; device: string };
    expect(res.device).toMatch(/webgpu/);
    expect(res.files).toEqual(expect.arrayContaining(['manifest.json', 'tilecraft-kernels.js', 'tilecraft-kernels.d.ts']));
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { format: number; kernels: { name: string }[] };
    expect(manifest.format).toBe(1);
    expect(manifest.kernels.map((k) => k.name)).toEqual(res.kernels);
    expect(autotune('export', 'softmax').status).toBe(EXIT.usage);
  });

  it('--dynamic makes a size dynamic: exported at its bound, the live workgroups an expression of it', () => {
    const out = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
    const r = autotune('export', 'softmax', '--shape', 'D=70', '--dynamic', 'N<=300', '--out', out, '--no-tuned', '--json');
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { dynamic: Record<string, number>; sizes: Record<string, number>; kernels: { liveGroups: unknown }[] };
    expect(manifest.dynamic).toEqual({ N: 300 });
    expect(manifest.sizes.N).toBe(300);
    expect(manifest.kernels.some((k) => k.liveGroups !== null)).toBe(true);
    const bad = autotune('export', 'softmax', '--dynamic', 'Q<=8', '--out', out);
    expect(bad.status).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/has no size Q to make dynamic; its sizes are N, D/);
    expect(autotune('export', 'softmax', '--dynamic', 'N=8', '--out', out).stderr).toMatch(/should look like N<=8192/);
  });
});

describe('autotune run', () => {
  it('runs a program with a dynamic size at the value given, its tensors at their actual shapes', () => {
    const r = autotune('run', 'decode-attention', '--shape', 'H=2,M=300,D=16', '--warmup', '0', '--repeat', '1', '--json', '--no-tuned');
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const out = JSON.parse(r.stdout) as { sizes: Record<string, number>; check: { ok: boolean }[]; bytesMoved: number };
    expect(out.sizes.M).toBe(300);
    expect(out.check.length).toBeGreaterThan(0);
    expect(out.check.every((c) => c.ok)).toBe(true);
    // Q and O of 2 heads x 16, K and V of 2 heads x 300 keys x 16: bytes at the value, not the bound
    expect(out.bytesMoved).toBe(4 * (2 * 16 * 2 + 2 * 300 * 16 * 2));
  });
});

describe('autotune run --schedule', () => {
  const knobs = { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging: 'direct' };
  const small = ['--shape', 'M=64,N=64,K=64', '--warmup', '0', '--repeat', '1'];

  it('replays exactly the knobs given, checked against the reference', () => {
    const r = autotune('run', 'matmul', ...small, '--json', '--schedule', JSON.stringify({ 'contraction:C': knobs }));
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const out = JSON.parse(r.stdout) as { schedule: { origin: string; knobs: Record<string, unknown> }; check: { ok: boolean }[] };
    expect(out.schedule.origin).toBe('given');
    expect(out.schedule.knobs['contraction:C']).toMatchObject(knobs);
    expect(out.check.every((c) => c.ok)).toBe(true);
  });

  it('is a usage error naming the group and knob when a knob is wrong', () => {
    const r = autotune('run', 'matmul', ...small, '--schedule', '{"contraction:C": {"blokM": 16}}');
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/group contraction:C \(contraction\): contraction groups have no knob blokM; their knobs are blockM/);
  });

  it('is a usage error when it is neither JSON nor a file', () => {
    const r = autotune('run', 'matmul', ...small, '--schedule', 'no-such-schedule.json');
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/not inline JSON .* and not a readable file/);
  });
});
