#!/usr/bin/env node
// Builds tilecraft's optional CUDA addon (native/) with node-gyp, the one bundled with npm.
// The addon needs no CUDA toolkit to build: it opens libcuda and libnvrtc at run time. Where it
// cannot build (no C++ compiler, no Node headers), this prints one warning and exits 0, so that
// `npm ci` never fails because of it: CUDA is then unavailable, and WebGPU works as before.
// Set TILECRAFT_SKIP_ADDON=1 to skip the build.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const built = join(native, 'build', 'Release', 'tilecraft_cuda.node');
const target = join(root, 'build', 'Release', 'tilecraft_cuda.node');
const logFile = join(root, 'build', 'addon-build.log');

function warn(why) {
  console.warn(`tilecraft: the optional CUDA addon was not built (${why}); CUDA devices are unavailable, WebGPU is unaffected. Retry with: node scripts/build-addon.mjs`);
  process.exit(0);
}

/** node-gyp: npm's own during `npm install`, else the one inside the npm next to this node. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = resolve(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of the project; the npm-bundled one is the usual choice
  }
  try {
    const globalPrefix = execFileSync('npm', ['prefix', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    candidates.push(join(globalPrefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // no npm on PATH
  }
  return candidates.find((c) => existsSync(c));
}

/** Node's headers, so node-gyp never tries to download them: npm's nodedir, else the install prefix. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

/**
 * node-gyp writes the makefiles of node-addon-api's targets beside native/build, at the relative
 * path of node-addon-api from native/: outside the build folder (native/node_modules/node-addon-api
 * here, tilecraft/node-addon-api in an installed package). They are build products; remove them.
 */
function removeStrayMakefiles() {
  let api;
  try {
    api = dirname(createRequire(join(root, 'package.json')).resolve('node-addon-api/package.json'));
  } catch {
    return;
  }
  const stray = resolve(native, 'build', relative(native, api));
  if (stray === api || stray.startsWith(join(native, 'build') + sep) || !existsSync(stray)) return;
  for (const f of readdirSync(stray)) if (/\.mk$|Makefile$/.test(f)) rmSync(join(stray, f));
  for (let dir = stray; dir !== root && dir.startsWith(root) && readdirSync(dir).length === 0; dir = dirname(dir)) rmdirSync(dir);
}

if (process.env.TILECRAFT_SKIP_ADDON === '1') {
  console.log('tilecraft: TILECRAFT_SKIP_ADDON=1, not building the CUDA addon');
  process.exit(0);
}
if (process.platform !== 'linux') warn(`the addon supports Linux only, not ${process.platform}`);
if (!existsSync(join(native, 'binding.gyp'))) warn('native/binding.gyp is not part of this installation');
const gyp = findNodeGyp();
if (!gyp) warn('node-gyp was not found');
mkdirSync(dirname(target), { recursive: true });
const result = spawnSync(process.execPath, [gyp, 'rebuild', '--release', ...nodedirArgs()], {
  cwd: native,
  encoding: 'utf8',
  env: process.env,
});
writeFileSync(logFile, `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
removeStrayMakefiles();
if (result.status !== 0 || !existsSync(built)) {
  const lines = `${result.stderr ?? ''}`.split('\n').filter((l) => /error/i.test(l));
  warn(`${lines[0]?.trim() ?? `node-gyp exited with ${result.status}`}; full log in build/addon-build.log`);
}
copyFileSync(built, target);
console.log('tilecraft: built the CUDA addon (build/Release/tilecraft_cuda.node)');
