import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The files `npm pack` would put in the tarball (without running the build first). */
function packed(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

describe('the npm package', () => {
  it('ships only what runs: compiled code and declarations, the text examples, the addon sources and its build script', { timeout: 150_000 }, () => {
    const files = packed();
    for (const must of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'scripts/build-addon.mjs', 'native/binding.gyp', 'examples/attention.tc', 'browser/no-dawn.js']) expect(files).toContain(must);
    expect(files.some((f) => f.startsWith('native/src/'))).toBe(true);
    const stray = files.filter(
      (f) =>
        f.endsWith('.map') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        /^(src|test|bench|build|native\/build|native\/node_modules|native\/test)\//.test(f) ||
        (f.startsWith('scripts/') && f !== 'scripts/build-addon.mjs'),
    );
    expect(stray).toEqual([]);
    // built here (dist exists): the entry points are in
    if (files.some((f) => f.startsWith('dist/'))) {
      for (const entry of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/node.js', 'dist/src/cli/autotune.js', 'dist/examples/index.js']) expect(files).toContain(entry);
    }
  });

  // A consumer project with strict settings and skipLibCheck off, without the WebGPU types and
  // without the DOM library: tilecraft's declarations must not need either (they take the host's
  // GPUDevice and GPUBuffer where it declares them). Checked with the TypeScript in devDependencies
  // (5.x); TypeScript 7, whose DOM library declares WebGPU, was checked by hand (see CHANGELOG).
  it('has declarations that type-check in a consumer without WebGPU types or the DOM library', { timeout: 240_000 }, () => {
    const dir = consumer();
    writeFileSync(
      join(dir, 'main.ts'),
      [
        "import { createWebGpuDevice, Executable, dot, program } from 'tilecraft';",
        "import { compile } from 'tilecraft/node';",
        "const p = program('mm', (b) => {",
        "  const [M, N, K] = b.sizes('M', 'N', 'K');",
        "  b.output('C', dot(b.input('A', 'f32', { m: M, k: K }), b.input('B', 'f32', { k: K, n: N }), 'k'));",
        '});',
        'const device = await createWebGpuDevice();',
        'const exe = await Executable.create(device, p, { M: 8, N: 8, K: 8 }, { warmup: true });',
        'console.log(exe.plan.kernels.length, typeof compile);',
        '',
      ].join('\n'),
    );
    const options = { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, lib: ['ES2023'], types: ['node'] };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['main.ts'] }));
    const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 200_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  // What a web app's bundler does with `import ... from 'tilecraft'`: a plain browser bundle, with
  // no externals and no Node built-ins, and without the Dawn package (`webgpu`) that Node uses.
  it('bundles for browsers with no Node built-ins and without Dawn', { timeout: 240_000 }, async () => {
    const dir = consumer();
    writeFileSync(join(dir, 'page.js'), "import { createWebGpuDevice, parseProgram, compile } from 'tilecraft';\nglobalThis.t = { createWebGpuDevice, parseProgram, compile };\n");
    const r = await build({ entryPoints: [join(dir, 'page.js')], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent', absWorkingDir: dir });
    expect(r.errors).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((i) => i.includes('tilecraft/dist/src/index.js'))).toBe(true);
    expect(inputs.filter((i) => i.startsWith('node:') || /node_modules\/webgpu\//.test(i))).toEqual([]);
    expect(inputs).toContain('node_modules/tilecraft/browser/no-dawn.js');
  });
});

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
let installed: string | undefined;

/**
 * A consumer project with tilecraft installed as the tarball would install it, as far as these
 * tests go: its package.json, its browser stubs and freshly compiled code and declarations.
 */
function consumer(): string {
  const dir = join(root, 'node_modules', '.cache', 'consumer');
  if (installed) return installed;
  const pkg = join(dir, 'node_modules', 'tilecraft');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(pkg, 'browser'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  copyFileSync(join(root, 'browser', 'no-dawn.js'), join(pkg, 'browser', 'no-dawn.js'));
  const emit = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--declarationMap', 'false', '--sourceMap', 'false', '--outDir', join(pkg, 'dist')], { encoding: 'utf8', timeout: 200_000 });
  expect(emit.status, emit.stdout + emit.stderr).toBe(0);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  installed = dir;
  return dir;
}
