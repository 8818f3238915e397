/**
 * Fuzzing of the two ways a program comes in from outside: the text language (parseFile /
 * parseProgram) and the `.json` program format (deserializeProgram). Valid programs (the
 * examples/*.tc files, and the serialized form of every example and of every parsed .tc program)
 * are mutated at random: characters and tokens inserted, deleted, replaced, spans cut, lines
 * swapped, and (for JSON) values inside the document replaced, removed or moved.
 *
 * Every input must end in success or a TilecraftError subclass, never anything else (TypeError,
 * RangeError, a stack overflow), within TIME_LIMIT_MS. A program that comes through is then
 * printed, serialized again, bound at small sizes and evaluated by the reference: those must
 * succeed or throw a TilecraftError too (a program the reader accepts must be one the rest of the
 * compiler can take).
 *
 * TILECRAFT_PROPERTY_FUZZ sets the number of inputs per format (default: a quick run),
 * TILECRAFT_PROPERTY_SEED the seed. A failure prints its seed, its input number and the input.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { parseFile } from '../../src/dsl/text/parse.js';
import { bindProgram, shapeOf } from '../../src/ir/bind.js';
import { TilecraftError } from '../../src/ir/errors.js';
import { type HostTensor, randomHost, rng } from '../../src/ir/host.js';
import { printProgram } from '../../src/ir/print.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';
import type { Program } from '../../src/ir/tensor.js';
import { evaluate } from '../../src/reference/evaluate.js';

const RUNS = Number(process.env.TILECRAFT_PROPERTY_FUZZ ?? 1500);
const SEED = Number(process.env.TILECRAFT_PROPERTY_SEED ?? 7340001);
const TIME_LIMIT_MS = 1000;
// Both readers are strict: a .json program's structure is checked against its schema
// (src/ir/program-schema.ts) before anything reads it, so a missing or wrong-typed field is a
// ProgramError naming it, like every other bad input.
/** Programs that come through are evaluated only when their tensors are this small. */
const MAX_ELEMENTS = 4096;

const TC_FILES = EXAMPLES.map((e) => fileURLToPath(new URL(`../../examples/${e.name}.tc`, import.meta.url)));
const TEXTS: string[] = [];
for (const f of TC_FILES) {
  try {
    TEXTS.push(readFileSync(f, 'utf8'));
  } catch {
    // an example written only in TypeScript
  }
}
const JSONS: string[] = [
  ...EXAMPLES.flatMap((e) => e.dtypes.map((d) => serializeProgram(e.build(d)))),
  ...TEXTS.flatMap((t) => parseFile(t, 'example.tc').map(serializeProgram)),
];

const TEXT_TOKENS = [
  '(', ')', '[', ']', '{', '}', ',', ':', '=', '==', '->', '-', '+', '*', '/', '%', '<', '>=', '!=', ';', '#', '\n', ' ', '\t',
  'X', 'j', 'k', 'N', 'D', 'M', 'K', 'G', '0', '-1', '1.5', '1e-9', '1e400', '99999999999', 'inf', 'nan', 'f16', 'bf16', 'i32', 'u32', 'i8', 'u4', 'i4', 'bool',
  'sum[j]', 'max[k]', 'mean[', 'exp(', 'where(', 'softmax[j](', 'layernorm[j](', 'index(j, D)', 'let ', 'output ', 'input ', 'program ', 'fold ',
  '[j = 1:2]', '[j = 0]', '[j -> (a: 2, b: -1)]', '[(a, b) -> j]', '[j, i]', '[q: 3]', 'eps = ', 'constructor', '__proto__', 'toString',
  '<T = f32>', 'T(', 'f32(D)', '\u00e9', '\u0000', '"', "'", '\\', '/*', '//',
];

const JSON_TOKENS = [
  '{', '}', '[', ']', ',', ':', '"', 'null', 'true', 'false', '0', '-1', '1e308', '-0', '0.5', '2147483648', '"op"', '"int"', '"sym"', '"var"',
  '"name"', '"size"', '"value"', '"f32"', '"u4"', '"reduce"', '"sum"', '"add"', '{"$number":"NaN"}', '{"$number":"Infinity"}', '"__proto__"', '"constructor"', '""',
];

const pickFrom = <X>(r: () => number, xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;

/** One random textual mutation: truncate, delete, insert a token, replace a word, swap lines, cut a span, duplicate a span. */
function mutateText(src: string, r: () => number, tokens: readonly string[]): string {
  const at = () => Math.floor(r() * (src.length + 1));
  switch (Math.floor(r() * 8)) {
    case 0:
      return src.slice(0, at());
    case 1: {
      const i = at();
      return src.slice(0, i) + src.slice(i + 1 + Math.floor(r() * 6));
    }
    case 2:
    case 3: {
      const i = at();
      return src.slice(0, i) + pickFrom(r, tokens) + src.slice(i);
    }
    case 4: {
      const words = [...src.matchAll(/[A-Za-z_0-9.]+/g)];
      if (!words.length) return src;
      const w = pickFrom(r, words);
      return src.slice(0, w.index) + pickFrom(r, tokens) + src.slice(w.index + w[0].length);
    }
    case 5: {
      const lines = src.split('\n');
      const i = Math.floor(r() * lines.length);
      const j = Math.floor(r() * lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join('\n');
    }
    case 6: {
      const i = at();
      const j = at();
      return src.slice(0, Math.min(i, j)) + src.slice(Math.max(i, j));
    }
    default: {
      const i = at();
      const j = Math.min(src.length, i + Math.floor(r() * 40));
      const k = at();
      return src.slice(0, k) + src.slice(i, j) + src.slice(k);
    }
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A random leaf or small object, of the kinds the program format holds. */
function randomValue(r: () => number, donor: Json[]): Json {
  switch (Math.floor(r() * 8)) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pickFrom(r, [0, -1, 1, 2, 3, 0.5, -0.0, 1e308, 2 ** 31, 2 ** 53 + 1, -7]);
    case 3:
      return pickFrom(r, ['', 'f32', 'u4', 'i32', 'bool', 'int', 'sym', 'var', 'reduce', 'sum', 'add', 'x', '__proto__', 'constructor', 'N', 'k']);
    case 4:
      return [];
    case 5:
      return {};
    default:
      // a subtree from elsewhere in the document: well-formed, in the wrong place
      return structuredClone(pickFrom(r, donor));
  }
}

/** Every container (object or array) and every value of a document, for picking mutation sites. */
function nodes(doc: Json): { parent: Json[] | { [k: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [k: string]: Json }; key: string | number }[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v, key: k });
        walk(x);
      }
    }
  };
  walk(doc);
  return out;
}

/** One structural mutation of a JSON document: replace, delete or duplicate a value, or swap two. */
function mutateJson(text: string, r: () => number): string {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    return mutateText(text, r, JSON_TOKENS);
  }
  const sites = nodes(doc);
  if (!sites.length) return text;
  const values = sites.map((s) => (s.parent as Record<string | number, Json>)[s.key]!);
  const site = pickFrom(r, sites);
  const parent = site.parent as Record<string | number, Json>;
  switch (Math.floor(r() * 5)) {
    case 0:
    case 1:
      parent[site.key] = randomValue(r, values);
      break;
    case 2:
      if (Array.isArray(site.parent)) site.parent.splice(site.key as number, 1);
      else delete parent[site.key];
      break;
    case 3:
      if (Array.isArray(site.parent)) site.parent.splice(site.key as number, 0, structuredClone(site.parent[site.key as number]!));
      else parent[`${site.key}`] = structuredClone(parent[site.key]!);
      break;
    default: {
      const other = pickFrom(r, sites);
      const o = other.parent as Record<string | number, Json>;
      const a = parent[site.key]!;
      parent[site.key] = structuredClone(o[other.key]!);
      o[other.key] = structuredClone(a);
    }
  }
  return JSON.stringify(doc);
}

const untyped = (e: unknown) => !(e instanceof TilecraftError);

/** What a program that came through must also survive: printing, serializing, binding at small sizes, the reference. */
function downstream(p: Program, r: () => number): void {
  printProgram(p);
  deserializeProgram(serializeProgram(p));
  const size = pickFrom(r, [1, 2, 4]);
  const sizes = Object.fromEntries(p.sizes.map((s) => [s, size]));
  const bound = bindProgram(p, sizes);
  const shapes = bound.inputs.map(shapeOf);
  if (shapes.some((s) => s.reduce((a, b) => a * b, 1) > MAX_ELEMENTS)) return;
  const inputs: Record<string, HostTensor> = {};
  bound.inputs.forEach((t, i) => (inputs[t.name] = randomHost(t.dtype, shapes[i]!, i + 1)));
  evaluate(p, sizes, inputs);
}

interface Outcome {
  ok: number;
  errors: Map<string, number>;
  slowest: number;
  failures: string[];
}

function fuzz(kind: 'text' | 'json', seed: number, runs: number): Outcome {
  const r = rng(seed);
  const out: Outcome = { ok: 0, errors: new Map(), slowest: 0, failures: [] };
  const corpus = kind === 'text' ? TEXTS : JSONS;
  for (let n = 0; n < runs && out.failures.length < 10; n++) {
    let input = pickFrom(r, corpus);
    const rounds = 1 + Math.floor(r() * 3);
    for (let m = 0; m < rounds; m++) {
      input = kind === 'text' ? mutateText(input, r, TEXT_TOKENS) : r() < 0.6 ? mutateJson(input, r) : mutateText(input, r, JSON_TOKENS);
    }
    const where = `seed ${seed}, ${kind} input ${n}`;
    const start = performance.now();
    let stage = kind === 'text' ? 'parseFile' : 'deserializeProgram';
    try {
      const programs = kind === 'text' ? parseFile(input, 'fuzz.tc') : [deserializeProgram(input, 'fuzz.json')];
      stage = 'downstream (print, serialize, bind, evaluate)';
      for (const p of programs) {
        try {
          downstream(p, r);
        } catch (e) {
          if (untyped(e)) throw e;
        }
      }
      out.ok++;
    } catch (e) {
      if (untyped(e)) {
        out.failures.push(`${where}: ${stage} threw a non-Tilecraft error:\n${String((e as Error)?.stack ?? e).split('\n').slice(0, 6).join('\n')}\ninput:\n${input}`);
      } else {
        const cause = (e as Error).cause;
        const name = `${(e as Error).name}${(e as { kind?: string }).kind ? `/${(e as { kind?: string }).kind}` : ''}${cause instanceof Error ? `(${cause.name})` : ''}`;
        out.errors.set(name, (out.errors.get(name) ?? 0) + 1);
      }
    }
    const ms = performance.now() - start;
    out.slowest = Math.max(out.slowest, ms);
    if (ms > TIME_LIMIT_MS) out.failures.push(`${where}: took ${ms.toFixed(0)} ms (limit ${TIME_LIMIT_MS} ms) in ${stage}; input:\n${input}`);
  }
  return out;
}

describe('fuzzing the text language and the .json program format', () => {
  for (const kind of ['text', 'json'] as const) {
    it(`${RUNS} mutated ${kind === 'text' ? '.tc' : '.json'} programs from seed ${SEED}: success or a TilecraftError`, () => {
      const start = performance.now();
      const o = fuzz(kind, SEED + (kind === 'json' ? 1 : 0), RUNS);
      const s = (performance.now() - start) / 1000;
      console.log(
        `fuzz ${kind}: ${RUNS} inputs in ${s.toFixed(1)} s (${((RUNS / s) * 60).toFixed(0)} inputs/min), ${o.ok} accepted, ` +
          `errors ${[...o.errors].map(([k, v]) => `${k} ${v}`).join(', ')}, slowest ${o.slowest.toFixed(0)} ms, ${o.failures.length} failures`,
      );
      expect(o.failures, o.failures.join('\n\n')).toEqual([]);
      // the mutations reach past the first check and some survive
      expect(o.ok).toBeGreaterThan(0);
      expect(o.errors.size).toBeGreaterThan(1);
    }, 3_600_000);
  }
});
