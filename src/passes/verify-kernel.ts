import { TilecraftError, assertNever } from '../ir/errors.js';
import { type KExpr, type KStmt, type KType, type Kernel, COMPARISONS, I32, kchildren, sameType } from '../ir/kernel.js';

/**
 * Checks a kernel before any printer sees it: buffers declared, locals defined before use and not
 * twice, operand and store types agreeing. A failure here is a compiler bug, reported with the
 * kernel and the offending statement rather than as a shader compile error later.
 */
export function verifyKernel(k: Kernel): void {
  const fail = (msg: string): never => {
    throw new TilecraftError(`internal: kernel ${k.name}: ${msg}`);
  };
  const buffers = new Map(k.buffers.map((b) => [b.name, b]));
  if (buffers.size !== k.buffers.length) fail('two buffers share a name');
  if (k.workgroup.some((n) => n < 1) || k.grid.some((n) => n < 1)) fail(`bad launch shape ${k.workgroup} x ${k.grid}`);
  const params = new Set(k.params ?? []);
  if (params.size !== (k.params ?? []).length) fail(`a param is listed twice (${k.params!.join(', ')})`);
  for (const p of params) if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(p)) fail(`param name ${JSON.stringify(p)} is not a size name`);
  const defined = new Map<string, KType>();
  const fragments = new Map<string, Extract<KStmt, { op: 'matrixDecl' }>>();
  const fragment = (name: string, role?: 'a' | 'b' | 'acc') => {
    const f = fragments.get(name);
    if (!f) fail(`matrix ${name} is used before it is declared`);
    else if (role && f.role !== role) fail(`matrix ${name} is an ${f.role} tile, used as ${role}`);
    return f;
  };

  const checkExpr = (e: KExpr, scope: ReadonlyMap<string, KType>): void => {
    switch (e.op) {
      case 'ref': {
        const t = scope.get(e.name);
        if (!t) fail(`${e.name} is used before it is defined`);
        else if (!sameType(t, e.type)) fail(`${e.name} is ${fmt(t)} but used as ${fmt(e.type)}`);
        break;
      }
      case 'load': {
        const b = buffers.get(e.buffer);
        if (!b) fail(`load from undeclared buffer ${e.buffer}`);
        if (e.index.type.scalar !== 'i32') fail(`index into ${e.buffer} is ${fmt(e.index.type)}, not i32`);
        break;
      }
      case 'binary': {
        const shifts = e.fn === 'shl' || e.fn === 'shr';
        if (!shifts && !sameType(e.a.type, e.b.type)) fail(`${e.fn} of ${fmt(e.a.type)} and ${fmt(e.b.type)}`);
        if ((e.fn === 'land' || e.fn === 'lor') && e.a.type.scalar !== 'bool') fail(`${e.fn} of ${fmt(e.a.type)}`);
        if (COMPARISONS.has(e.fn) && e.type.scalar !== 'bool') fail(`comparison ${e.fn} typed ${fmt(e.type)}`);
        break;
      }
      case 'param':
        if (!params.has(e.name)) fail(`param ${e.name} is read but not listed in the kernel's params (${[...params].join(', ') || 'none'})`);
        if (!sameType(e.type, I32)) fail(`param ${e.name} is ${fmt(e.type)}, not i32`);
        break;
      case 'shuffle':
        if (e.lane.type.scalar !== 'i32' || e.lane.type.lanes !== 1) fail(`shuffle lane is ${fmt(e.lane.type)}, not i32`);
        if (!sameType(e.x.type, e.type) || e.type.lanes !== 1) fail(`shuffle of ${fmt(e.x.type)} typed ${fmt(e.type)}`);
        break;
      case 'select':
        if (e.cond.type.scalar !== 'bool') fail(`select condition is ${fmt(e.cond.type)}`);
        if (!sameType(e.a.type, e.b.type)) fail(`select between ${fmt(e.a.type)} and ${fmt(e.b.type)}`);
        break;
      default:
        break;
    }
    for (const c of kchildren(e)) checkExpr(c, scope);
  };

  const checkBody = (body: readonly KStmt[], outer: ReadonlyMap<string, KType>): void => {
    const scope = new Map(outer);
    const define = (name: string, t: KType) => {
      if (scope.has(name) || defined.has(name)) fail(`${name} is defined twice`);
      scope.set(name, t);
      defined.set(name, t);
    };
    for (const s of body) {
      switch (s.op) {
        case 'let':
          checkExpr(s.value, scope);
          define(s.name, s.value.type);
          break;
        case 'var':
          if (s.init) {
            checkExpr(s.init, scope);
            if (!sameType(s.init.type, s.type)) fail(`var ${s.name}: ${fmt(s.type)} initialized with ${fmt(s.init.type)}`);
          }
          define(s.name, s.type);
          break;
        case 'assign': {
          checkExpr(s.value, scope);
          const t = scope.get(s.name);
          if (!t) fail(`assignment to undefined ${s.name}`);
          else if (!sameType(t, s.value.type)) fail(`assignment of ${fmt(s.value.type)} to ${s.name}: ${fmt(t)}`);
          break;
        }
        case 'store':
        case 'atomic': {
          checkExpr(s.index, scope);
          checkExpr(s.value, scope);
          const b = buffers.get(s.buffer);
          if (!b) fail(`${s.op} to undeclared buffer ${s.buffer}`);
          else if (s.value.type.scalar !== b.dtype) fail(`${s.op} of ${fmt(s.value.type)} into ${s.buffer}: ${b.dtype}`);
          if (b && b.scope === 'global' && b.access === 'read') fail(`store into read-only buffer ${s.buffer}`);
          if (s.op === 'atomic') {
            if (!b?.atomic) fail(`atomic on ${s.buffer}, which is not marked atomic`);
            if (s.result) define(s.result, s.value.type);
          }
          break;
        }
        case 'for': {
          checkExpr(s.start, scope);
          checkExpr(s.end, scope);
          checkExpr(s.step, scope);
          checkBody(s.body, new Map([...scope, [s.var, s.start.type]]));
          break;
        }
        case 'if':
          checkExpr(s.cond, scope);
          if (s.cond.type.scalar !== 'bool') fail(`if condition is ${fmt(s.cond.type)}`);
          checkBody(s.then, scope);
          checkBody(s.else, scope);
          break;
        case 'barrier':
        case 'comment':
          break;
        case 'matrixDecl':
          if (fragments.has(s.name) || scope.has(s.name)) fail(`${s.name} is defined twice`);
          fragments.set(s.name, s);
          break;
        case 'matrixFill':
          fragment(s.name, 'acc');
          break;
        case 'matrixLoad': {
          const f = fragment(s.name);
          checkExpr(s.offset, scope);
          const b = buffers.get(s.buffer);
          if (!b) fail(`matrix load from undeclared buffer ${s.buffer}`);
          else if (f && f.role !== 'acc' && b.dtype !== f.dtype) fail(`matrix ${s.name} (${f.dtype}) loaded from ${s.buffer}: ${b.dtype}`);
          if (f && f.layout !== s.layout) fail(`matrix ${s.name} is ${f.layout}-major but loaded ${s.layout}-major`);
          break;
        }
        case 'matrixMma':
          fragment(s.acc, 'acc');
          fragment(s.a, 'a');
          fragment(s.b, 'b');
          break;
        case 'matrixStore': {
          fragment(s.name, 'acc');
          checkExpr(s.offset, scope);
          const b = buffers.get(s.buffer);
          if (!b) fail(`matrix store to undeclared buffer ${s.buffer}`);
          else if (b.dtype !== 'f32') fail(`matrix ${s.name} stored into ${s.buffer}: ${b.dtype}, not f32`);
          break;
        }
        default:
          assertNever(s, 'kernel stmt');
      }
    }
  };
  checkBody(k.body, new Map());
}

const fmt = (t: KType) => (t.lanes === 1 ? t.scalar : `${t.scalar}x${t.lanes}`);
