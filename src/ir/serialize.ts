import { checkName } from '../dsl/names.js';
import { ProgramError } from './errors.js';
import type { Program } from './tensor.js';
import { verifyProgram } from './verify.js';
import { MAX_DOCUMENT_DEPTH, PROGRAM_SCHEMA, documentDepth } from './program-schema.js';

/**
 * Programs are plain immutable data, so they travel as JSON (to a tuning worker process, into a
 * file). JSON has no infinities or NaN, which masks and reductions use: those numbers travel as
 * `{ "$number": "Infinity" }`.
 */
export function serializeProgram(p: Program): string {
  return JSON.stringify({ format: 'tilecraft-program', version: 1, program: p }, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v,
  );
}

/**
 * Reads a serialized program. Its names go through the same check as the DSL's and the text
 * language's (a name that is not a plain identifier is an InvalidNameError saying where in the
 * document it is); `file`, when given, is named in the errors.
 */
export function deserializeProgram(text: string, file?: string): Program {
  const inFile = (m: string) => (file ? `${file}: ${m}` : m);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ProgramError(inFile(`not a serialized tilecraft program: ${(e as Error).message}`));
  }
  // depth first, without recursion: everything after walks the document recursively
  if (documentDepth(doc) > MAX_DOCUMENT_DEPTH) {
    throw new ProgramError(inFile(`the program nests deeper than ${MAX_DOCUMENT_DEPTH} levels`));
  }
  doc = restoreNumbers(doc);
  const d = doc as { format?: unknown; version?: unknown; program?: Program };
  if (d?.format !== 'tilecraft-program' || d.version !== 1 || !d.program) {
    throw new ProgramError(inFile('not a serialized tilecraft program (format tilecraft-program, version 1)'));
  }
  // the document's shape first: a malformed node is named here, not met as a TypeError in a pass
  const shape = PROGRAM_SCHEMA.safeParse(d.program);
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    throw new ProgramError(inFile(`at program.${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')}: ${issue.message}`));
  }
  checkProgramNames(d.program, file);
  verifyProgram(d.program);
  return d.program;
}

/** `{ "$number": "Infinity" }` (and -Infinity, NaN) back to numbers, anywhere in a parsed document. */
function restoreNumbers(v: unknown): unknown {
  const special = (x: unknown) => {
    if (!x || typeof x !== 'object' || !('$number' in x)) return undefined;
    const s = (x as { $number: unknown }).$number;
    return s === 'Infinity' || s === '-Infinity' || s === 'NaN' ? Number(s) : undefined;
  };
  const top = special(v);
  if (top !== undefined) return top;
  const stack: unknown[] = [v];
  while (stack.length) {
    const o = stack.pop();
    if (!o || typeof o !== 'object') continue;
    const rec = o as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const n = special(rec[k]);
      if (n !== undefined) rec[k] = n;
      else stack.push(rec[k]);
    }
  }
  return v;
}

/** What a `name` field names, from the object holding it and the key that object is under. */
function nameKind(o: Record<string, unknown>, key: string): string {
  if (o.op === 'sym') return 'size';
  if (o.op === 'var') return 'axis';
  if (o.op === 'local' || key === 'locals') return 'local';
  if (key === 'state') return 'state field';
  if ('size' in o) return 'axis';
  return 'tensor';
}

/**
 * Checks every name of a program that did not come through a builder (a `.json` file): the
 * program's, its sizes, tensors, axes, fold state fields and locals, and every reference to them.
 * Errors say where in the document the name is (`program.inputs[0].axes[1].name`).
 */
export function checkProgramNames(p: Program, file?: string): void {
  const at = (path: string) => `${file ? `${file}: ` : ''}at ${path}`;
  const doc = p as unknown as Record<string, unknown>;
  checkName(doc.name as string, 'program', at('program.name'));
  const list = (key: string, what: string) => {
    const v = doc[key];
    if (Array.isArray(v)) v.forEach((n, i) => checkName(n as string, what, at(`program.${key}[${i}]`)));
  };
  list('sizes', 'size');
  list('outputs', 'output');
  if (doc.dynamic && typeof doc.dynamic === 'object') {
    for (const k of Object.keys(doc.dynamic)) checkName(k, 'size', at(`program.dynamic[${JSON.stringify(k)}]`));
  }
  const walk = (v: unknown, path: string, key: string): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, key));
      return;
    }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if ('name' in o) {
      const kind = nameKind(o, key);
      checkName(o.name as string, kind, at(`${path}.name`), kind === 'axis');
    }
    if (o.op === 'load') checkName(o.tensor as string, 'tensor', at(`${path}.tensor`));
    if (o.op === 'state') checkName(o.field as string, 'state field', at(`${path}.field`));
    for (const [k, x] of Object.entries(o)) if (k !== 'name') walk(x, `${path}.${k}`, k);
  };
  walk(doc.inputs, 'program.inputs', 'inputs');
  walk(doc.stmts, 'program.stmts', 'stmts');
  walk(doc.constraints, 'program.constraints', 'constraints');
}
