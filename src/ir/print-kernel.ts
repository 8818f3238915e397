import { assertNever } from './errors.js';
import { type KExpr, type KStmt, type KType, type Kernel } from './kernel.js';

const SYM: Partial<Record<string, string>> = {
  add: '+', sub: '-', mul: '*', div: '/', mod: '%', and: '&', or: '|', xor: '^', shl: '<<', shr: '>>',
  lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=', land: '&&', lor: '||',
};

const typeName = (t: KType) => (t.lanes === 1 ? t.scalar : `${t.scalar}x${t.lanes}`);

/** Readable, backend-neutral text of a kernel, for tests, `--explain` and debugging. */
export function printKernel(k: Kernel): string {
  const out: string[] = [];
  out.push(`kernel ${k.name} grid(${k.grid.join(', ')}) workgroup(${k.workgroup.join(', ')})`);
  if (k.params?.length) out.push(`  params ${k.params.join(', ')}`);
  for (const b of k.buffers) {
    out.push(`  ${b.scope} ${b.name}: ${b.dtype}[${b.length}]${b.access ? ` ${b.access}` : ''}${b.atomic ? ' atomic' : ''}`);
  }
  const stmts = (body: readonly KStmt[], ind: string) => body.forEach((s) => stmt(s, ind));
  const stmt = (s: KStmt, ind: string): void => {
    switch (s.op) {
      case 'let':
        out.push(`${ind}let ${s.name} = ${expr(s.value)}`);
        return;
      case 'var':
        out.push(`${ind}var ${s.name}: ${typeName(s.type)}${s.init ? ` = ${expr(s.init)}` : ''}`);
        return;
      case 'assign':
        out.push(`${ind}${s.name} = ${expr(s.value)}`);
        return;
      case 'store':
        out.push(`${ind}${s.buffer}[${expr(s.index)}] = ${expr(s.value)}`);
        return;
      case 'atomic':
        out.push(`${ind}${s.result ? `let ${s.result} = ` : ''}atomic_${s.fn}(${s.buffer}[${expr(s.index)}], ${expr(s.value)})`);
        return;
      case 'for':
        out.push(`${ind}for ${s.var} in ${expr(s.start)} ..< ${expr(s.end)} step ${expr(s.step)}${s.unroll ? ' unroll' : ''} {`);
        stmts(s.body, ind + '  ');
        out.push(`${ind}}`);
        return;
      case 'if':
        out.push(`${ind}if ${expr(s.cond)} {`);
        stmts(s.then, ind + '  ');
        if (s.else.length) {
          out.push(`${ind}} else {`);
          stmts(s.else, ind + '  ');
        }
        out.push(`${ind}}`);
        return;
      case 'barrier':
        out.push(`${ind}barrier`);
        return;
      case 'comment':
        out.push(`${ind}// ${s.text}`);
        return;
      case 'matrixDecl':
        out.push(`${ind}matrix ${s.name}: ${s.role} 16x16 ${s.dtype}`);
        return;
      case 'matrixFill':
        out.push(`${ind}${s.name} = fill(${s.value})`);
        return;
      case 'matrixLoad':
        out.push(`${ind}${s.name} = load_${s.layout}(${s.buffer}[${expr(s.offset)}], stride ${s.stride})`);
        return;
      case 'matrixMma':
        out.push(`${ind}${s.acc} += ${s.a} * ${s.b}`);
        return;
      case 'matrixStore':
        out.push(`${ind}store(${s.buffer}[${expr(s.offset)}], stride ${s.stride}) = ${s.name}`);
        return;
      default:
        assertNever(s, 'kernel stmt');
    }
  };
  const expr = (e: KExpr): string => {
    switch (e.op) {
      case 'const':
        return e.type.scalar === 'i32' ? String(e.value) : `${e.value}:${typeName(e.type)}`;
      case 'ref':
        return e.name;
      case 'builtin':
        return `@${e.name}`;
      case 'param':
        return `$${e.name}`;
      case 'load':
        return `${e.buffer}[${expr(e.index)}]${e.type.lanes > 1 ? `x${e.type.lanes}` : ''}`;
      case 'unary':
        return `${e.fn}(${expr(e.x)})`;
      case 'binary': {
        const s = SYM[e.fn];
        return s ? `(${expr(e.a)} ${s} ${expr(e.b)})` : `${e.fn}(${expr(e.a)}, ${expr(e.b)})`;
      }
      case 'select':
        return `select(${expr(e.cond)}, ${expr(e.a)}, ${expr(e.b)})`;
      case 'cast':
        return `${typeName(e.type)}(${expr(e.x)})`;
      case 'bitcast':
        return `bitcast<${typeName(e.type)}>(${expr(e.x)})`;
      case 'subgroup':
        return `subgroup_${e.fn}(${expr(e.x)})`;
      case 'shuffle':
        return `subgroup_shuffle(${expr(e.x)}, ${expr(e.lane)})`;
      case 'extract':
        return `${expr(e.x)}.${e.lane}`;
      case 'vector':
        return `${typeName(e.type)}(${e.parts.map(expr).join(', ')})`;
      default:
        return assertNever(e, 'kernel expr');
    }
  };
  stmts(k.body, '  ');
  return out.join('\n');
}
