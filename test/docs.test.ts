import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseFile, parseProgram } from '../src/dsl/text/parse.js';
import { bindProgram } from '../src/ir/bind.js';
import { lower } from '../src/passes/pipeline.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs');

describe('docs', () => {
  for (const page of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(docs, page), 'utf8');
    const blocks = [...text.matchAll(/^```tc\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    if (blocks.length === 0) continue;
    it(`${page}: every tc block parses, builds and lowers (${blocks.length} blocks)`, () => {
      for (const b of blocks) {
        for (const p of parseFile(b, page)) {
          // every size 8 (dynamic ones at their bound): the program binds and lowers
          const sizes = Object.fromEntries(p.sizes.map((s) => [s, 8]));
          expect(() => bindProgram(p, sizes)).not.toThrow();
          expect(lower(p, sizes).kernels.length).toBeGreaterThan(0);
        }
      }
    });
  }

  it('the API reference builds from the TSDoc comments with no warning (npm run docs:api writes it to build/api)', { timeout: 180_000 }, () => {
    const root = join(docs, '..');
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], { cwd: root, encoding: 'utf8', timeout: 170_000 });
    expect(r.stdout + r.stderr).not.toMatch(/warning|error/i);
    expect(r.status).toBe(0);
  });

  it('text-language.md shows the errors the parser gives', () => {
    const text = readFileSync(join(docs, 'text-language.md'), 'utf8');
    const bad = [
      'program p(N) {\n  input X: f32[i: N]\n  output Y = expp(X)\n}\n',
      'program p(N) {\n  input X: f32[i: N]\n  output Y = sum[j](X)\n}\n',
      'program p(N) {\n  input X: f32[i: N\n  output Y = X\n}\n',
    ];
    for (const source of bad) {
      let message = '';
      try {
        parseProgram(source, 'p.tc');
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      expect(text).toContain(message);
    }
  });
});
