import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { showCommand } from '../../src/cli/show.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tilecraft-show-'));
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

it('autotune show reports a corrupt database and leaves it where it is', async () => {
  const file = join(dir, 'tuning.json');
  writeFileSync(file, 'not json');
  const errors: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
  await showCommand({ db: file, json: true });
  expect(readFileSync(file, 'utf8')).toBe('not json');
  expect(readdirSync(dir)).toEqual(['tuning.json']);
  expect(errors.join('\n')).toMatch(/corrupt \(not valid JSON.*left in place/);
});

it('autotune show --db in a missing directory creates nothing', async () => {
  await showCommand({ db: join(dir, 'missing', 'tuning.json'), json: true });
  expect(existsSync(join(dir, 'missing'))).toBe(false);
});
