import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The README's TypeScript examples, in order, as one module: every ```ts block (a block marked
 * ```ts fragment is a piece of a larger program and is left out), their imports from 'tilecraft'
 * merged into one and pointed at the sources.
 */
function readmeModule(): string {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const names = new Set<string>();
  const bodies = blocks.map((b) =>
    b.replace(/^import \{([^}]*)\} from 'tilecraft';\n/gm, (_, list: string) => {
      for (const n of list.split(',')) if (n.trim()) names.add(n.trim());
      return '';
    }),
  );
  return `import { ${[...names].sort().join(', ')} } from '../../../src/index.js';\n\n${bodies.join('\n')}\nexport {};\n`;
}

describe('the README', () => {
  const dir = join(root, 'node_modules', '.cache', 'readme');
  const file = join(dir, 'readme-examples.mts');

  it('has TypeScript examples that type-check as written', { timeout: 120_000 }, () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, readmeModule());
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '../../..' }, include: [], files: ['readme-examples.mts'] }));
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 110_000 });
    expect(r.stdout + r.stderr, readmeModule()).toBe('');
    expect(r.status).toBe(0);
  });

  it('has TypeScript examples that run as written on the software GPU', { timeout: 180_000 }, () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, readmeModule());
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/xdg' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('[ 1, 8, 512, 64 ]');
    expect(r.stdout).toContain('[ 8, 64 ]');
  });
});
