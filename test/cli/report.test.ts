import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
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
