import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { autotune } from './autotune-process.js';

describe('autotune --db', () => {
  it('naming a directory is a usage error naming the path, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-db-dir-'));
    const r = autotune('show', '--db', dir);
    expect(r.status, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toContain(dir);
    expect(r.stderr).toMatch(/is a directory/);
    expect(r.stderr).not.toMatch(/EISDIR|\n\s+at /);
  });

  it('a tune whose database cannot be written says so before tuning (under /proc, where creating the directory once hung)', () => {
    const started = Date.now();
    const r = autotune('tune', 'softmax', '--shape', 'N=8,D=8', '--db', '/proc/tilecraft-no/tuning.json', '--budget', '2,10s');
    expect(r.status, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/\/proc\/tilecraft-no\/tuning.json: its directory \/proc\/tilecraft-no cannot be written/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).not.toMatch(/^tuning /m);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
