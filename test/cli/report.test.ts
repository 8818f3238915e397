import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { type NewTuningEntry, TuningDatabase } from '../../src/autotune/db.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { renderReport } from '../../src/cli/report.js';
import { autotune } from './autotune-process.js';

describe('autotune report', () => {
  it('turns a tuning run into one HTML page whose plots render in a browser', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-report-'));
    const tuned = autotune('tune', 'matmul', '--shape', 'M=64,N=64,K=64', '--budget', '8,60s', '--no-save', '--json');
    expect(tuned.status, tuned.stderr).toBe(EXIT.ok);
    const json = join(dir, 'run.json');
    writeFileSync(json, tuned.stdout);
    const r = autotune('report', json);
    expect(r.status, r.stderr).toBe(EXIT.ok);
    const html = readFileSync(join(dir, 'run.html'), 'utf8');
    expect(html).toContain('Tuning matmul (f32) M=64 N=64 K=64');
    expect(html).toContain('matmul_0_contraction'); // the winner's kernel, printed
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      await page.goto(`file://${join(dir, 'run.html')}`);
      const figures = await page.$$eval('figure svg', (els) => els.map((e) => ({ w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height, marks: e.querySelectorAll('path').length })));
      // the progress plot, then one per knob that varied; each drawn, with marks in it
      expect(figures.length).toBeGreaterThan(1);
      for (const f of figures) {
        expect(f.w).toBeGreaterThan(100);
        expect(f.h).toBeGreaterThan(100);
        expect(f.marks).toBeGreaterThan(3);
      }
      const shot = await page.screenshot();
      expect(shot.byteLength).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });

  it('refuses what is not a tuning run, saying which field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-report-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ program: 'x' }));
    const r = autotune('report', join(dir, 'bad.json'));
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/is not a tuning run \(autotune tune --json\): dtype/);
    expect(autotune('report', join(dir, 'missing.json')).stderr).toMatch(/cannot read .*missing.json: no such file/);
  });
});

const contraction = (blockM: number, staging: string) => ({ 'contraction:C': { kind: 'contraction', blockM, blockN: 64, blockK: 8, threadM: 8, threadN: 8, staging, doubleBuffer: false, unrollK: false, splitK: 1, vectorWidth: 4, vectorK: 1, shuffleA: true, tensorCores: false } });
const rows = (threadsPerRow: number) => ({ 'rows:Y_max,Y_sum,Y': { kind: 'rows', workgroupSize: 256, threadsPerRow, subgroups: false, splitSteps: 1, stageSteps: 0, rowsPerLane: 1, unrollSteps: 0 } });

/** Entries on two devices, two programs, several shapes; some confirmed, one not, one from before it was recorded. */
function entries(): NewTuningEntry[] {
  const base = { programHash: 'aaaabbbbccccdddd', tilecraftVersion: '0.1.0', candidates: 40, strategy: 'guided(seed=1)', tieBreak: 'the default', toleranceBand: 0.03, runnersUp: [] };
  const gpu = { fingerprint: '1111222233334444', deviceSummary: 'llvmpipe (webgpu, mesa, software)' };
  const other = { fingerprint: '5555666677778888', deviceSummary: 'NVIDIA H200 (cuda, sm90)' };
  const out: NewTuningEntry[] = [];
  for (const [i, n] of [128, 256, 512, 1024].entries()) {
    const sizes = { M: n, N: n, K: n };
    out.push({ ...base, ...gpu, program: 'matmul', dtype: 'f32', shape: sizes, sizes, schedule: contraction(8 << (i % 2), 'direct') as never, medianMs: (n / 128) ** 3 * 0.26, spread: 0.04, measuredBy: i === 3 ? 'screen' : 'final', recordedAt: `2026-11-0${i + 1}T10:00:00.000Z` });
    out.push({ ...base, ...gpu, program: 'matmul', dtype: 'f16', shape: sizes, sizes, schedule: contraction(16, 'shared') as never, medianMs: (n / 128) ** 3 * 0.2, spread: 0.06, measuredBy: 'final', recordedAt: '2026-11-05T10:00:00.000Z' });
    out.push({ ...base, ...other, program: 'matmul', dtype: 'f16', shape: sizes, sizes, schedule: contraction(64, 'shared') as never, medianMs: (n / 128) ** 3 * 0.002, spread: 0.01, measuredBy: 'final', recordedAt: '2026-11-06T10:00:00.000Z' });
  }
  for (const [i, d] of [512, 1024, 4096].entries()) {
    const sizes = { N: 1024, D: d };
    out.push({ ...base, ...gpu, programHash: 'eeeeffff00001111', program: 'softmax', dtype: 'f32', shape: sizes, sizes, schedule: rows(32 << i) as never, medianMs: d / 400, spread: 0.1, recordedAt: '2026-10-01T10:00:00.000Z' });
  }
  return out;
}

describe('autotune report on a tuning database', () => {
  it('one page: every entry by device and program, a plot per device with marks, and the database untouched', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-db-report-'));
    const file = join(dir, 'tuning.json');
    await (await TuningDatabase.open(file)).record(...entries());
    const before = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };
    const out = join(dir, 'page', '..', 'db.html');
    const r = autotune('report', '--db', file, '--out', out);
    expect(r.status, r.stderr).toBe(EXIT.ok);
    // read-only: the database as it was, nothing beside it but the page
    expect(readFileSync(file, 'utf8')).toBe(before.text);
    expect(statSync(file).mtimeMs).toBe(before.mtime);
    expect(readdirSync(dir).sort()).toEqual(['db.html', 'tuning.json']);
    // a database given as the argument is recognized, and its page goes beside it
    expect(autotune('report', file).status).toBe(EXIT.ok);
    expect(readdirSync(dir).sort()).toEqual(['db.html', 'tuning.html', 'tuning.json']);
    expect(readFileSync(join(dir, 'tuning.html'), 'utf8')).toBe(readFileSync(out, 'utf8'));

    const html = readFileSync(out, 'utf8');
    expect(html).toContain('15 entries on 2 devices; 1 not confirmed');
    expect(html.indexOf('<h2>llvmpipe (webgpu, mesa, software)</h2>')).toBeLessThan(html.indexOf('<h2>NVIDIA H200 (cuda, sm90)</h2>'));
    expect(html).toMatch(/<tr class="unconfirmed"><td>f32<\/td><td>K=1024 M=1024 N=1024<\/td><td>133\.1200 ms<\/td><td>±4\.0%<\/td><td>not confirmed \(screening only\)<\/td><td><code>16x64x8 t8x8 direct loop v4 shuffleA<\/code><\/td><td>40<\/td><td>2026-11-04 10:00:00<\/td>/);
    expect(html).toMatch(/<td>D=512 N=1024<\/td><td>1\.2800 ms<\/td><td>±10\.0%<\/td><td>not recorded<\/td>/);
    expect(html).not.toMatch(/<script/);

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1600 } });
      await page.goto(`file://${out}`);
      const plots = await page.$$eval('figure.plot svg', (els) =>
        els.map((e) => ({ w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height, points: e.querySelectorAll('.mark-symbol.role-mark path').length })),
      );
      // one plot per device; a point per entry of that device
      expect(plots.length).toBe(2);
      for (const p of plots) {
        expect(p.w).toBeGreaterThan(300);
        expect(p.h).toBeGreaterThan(100);
      }
      expect(plots.map((p) => p.points)).toEqual([11, 4]);
      expect(await page.$$eval('section.device tr', (trs) => trs.length)).toBe(15 + 3); // a header row per program and device
      const shot = join(tmpdir(), 'tilecraft-db-report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });

  it('refuses --db with something that is not a database, and a run with --db both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-report-'));
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ program: 'x' }));
    const r = autotune('report', '--db', join(dir, 'run.json'));
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/is not a tuning database/);
    expect(autotune('report', join(dir, 'run.json'), '--db', join(dir, 'run.json')).status).toBe(EXIT.usage);
    expect(autotune('report').stderr).toMatch(/nothing to report on/);
    expect(readdirSync(dir)).toEqual(['run.json']);
  });
});

describe('the page of a tuning run', () => {
  it('gives no ratio against a default whose timing is unreliable, and says the winner was not confirmed', async () => {
    const schedule = contraction(8, 'direct');
    const html = await renderReport({
      program: 'matmul', dtype: 'f32', sizes: { M: 64, N: 64, K: 64 }, strategy: 'guided', stoppedBy: 'interrupted', seconds: 3, spaceSize: 100, measured: 2,
      best: { schedule, medianMs: 1, measuredBy: 'screen' }, default: { schedule, medianMs: 20 },
      speedupOverDefault: null, speedup: { ratio: 20, reliable: false, reason: 'the default ±180%' },
      candidates: [{ order: 0, schedule, medianMs: 20 }, { order: 1, schedule, medianMs: 1 }], failures: [],
    });
    expect(html).toContain('1.0000 ms (first measurement only, not confirmed)');
    expect(html).toContain('20.0000 ms (no reliable speed-up: the default ±180%)');
    expect(html).not.toMatch(/best is \d/);
  });
});
