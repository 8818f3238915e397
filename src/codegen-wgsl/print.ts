import { type ValueType } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import { type KBuffer, type KExpr, type KStmt, type KType, type Kernel, kvisit } from '../ir/kernel.js';
import { SourceWriter, mangle } from '../codegen-common/source-writer.js';

/**
 * Prints a legalized kernel as WGSL. Expects `legalizeForWgsl` to have run: no packed or narrow
 * buffer types, no erf or sigmoid, and f16 only when the device has shader-f16.
 */
export function printWgsl(k: Kernel): string {
  const w = new SourceWriter();
  const uses = scan(k);
  if (uses.f16) w.line('enable f16;');
  if (uses.subgroups) w.line('enable subgroups;');
  if (uses.f16 || uses.subgroups) w.line();
  let binding = 0;
  for (const b of k.buffers) {
    if (b.scope === 'global') {
      const access = b.access === 'read' ? 'read' : 'read_write';
      const width = uses.vectorWidth.get(b.name) ?? 1;
      const element = width > 1 ? `vec${width}<${elementType(b)}>` : elementType(b);
      w.line(`@group(0) @binding(${binding++}) var<storage, ${access}> ${bufferName(b)}: array<${element}>;`);
    } else if (b.scope === 'workgroup') {
      const width = uses.vectorWidth.get(b.name) ?? 1;
      const type = b.length === 1 && b.atomic ? elementType(b) : width > 1 ? `array<vec${width}<${elementType(b)}>, ${Math.ceil(b.length / width)}>` : `array<${elementType(b)}, ${b.length}>`;
      w.line(`var<workgroup> ${bufferName(b)}: ${type};`);
    }
  }
  if (uses.inf) w.line('var<private> tc_inf_bits: u32 = 0x7f800000u;');
  for (const helper of uses.floatToInt) FLOAT_TO_INT[helper].forEach((l) => w.line(l));
  if (uses.nan) w.line('var<private> tc_nan_bits: u32 = 0x7fc00000u;');
  w.line();
  const params = [
    '@builtin(local_invocation_index) tc_li: u32',
    '@builtin(local_invocation_id) tc_lid: vec3<u32>',
    '@builtin(workgroup_id) tc_wg: vec3<u32>',
    '@builtin(num_workgroups) tc_nwg: vec3<u32>',
  ];
  if (uses.subgroups) params.push('@builtin(subgroup_size) tc_sgs: u32', '@builtin(subgroup_invocation_id) tc_sgl: u32');
  w.line(`@compute @workgroup_size(${k.workgroup.join(', ')})`);
  w.block(`fn main(${params.join(', ')}) {`, () => {
    // infinities come from runtime values: a constant-expression infinity is a WGSL error
    if (uses.inf) w.line('let tc_inf = bitcast<f32>(tc_inf_bits);');
    if (uses.nan) w.line('let tc_nan = bitcast<f32>(tc_nan_bits);');
    for (const b of k.buffers) {
      if (b.scope === 'private') w.line(`var ${bufferName(b)}: array<${elementType(b)}, ${b.length}>;`);
    }
    const buffers = new Map(k.buffers.map((b) => [b.name, { ...b, width: uses.vectorWidth.get(b.name) ?? 1 }]));
    stmts(w, k.body, buffers);
  });
  return w.toString();
}

function scan(k: Kernel) {
  let f16 = k.buffers.some((b) => b.dtype === 'f16');
  let subgroups = false;
  let inf = false;
  let nan = false;
  const floatToInt = new Set<FloatToIntHelper>();
  const walkTypes = (body: readonly KStmt[]) => {
    for (const s of body) {
      if (s.op === 'var' && s.type.scalar === 'f16') f16 = true;
      if (s.op === 'for') walkTypes(s.body);
      if (s.op === 'if') {
        walkTypes(s.then);
        walkTypes(s.else);
      }
    }
  };
  walkTypes(k.body);
  // A global buffer read or written only with vectors of one width is declared as an array of
  // those vectors; scalar accesses then pick a component. Mixed widths fall back to scalars.
  const widths = new Map<string, Set<number>>();
  const noteWidth = (buffer: string, lanes: number) => {
    if (!widths.has(buffer)) widths.set(buffer, new Set());
    widths.get(buffer)!.add(lanes);
  };
  const walkStores = (body: readonly KStmt[]) => {
    for (const s of body) {
      if (s.op === 'store') noteWidth(s.buffer, s.value.type.lanes);
      if (s.op === 'for') walkStores(s.body);
      if (s.op === 'if') {
        walkStores(s.then);
        walkStores(s.else);
      }
    }
  };
  walkStores(k.body);
  kvisit(k.body, (e) => {
    if (e.op === 'load') noteWidth(e.buffer, e.type.lanes);
    if (e.type.scalar === 'f16') f16 = true;
    if (e.op === 'subgroup' || e.op === 'shuffle' || (e.op === 'builtin' && e.name.startsWith('subgroup'))) subgroups = true;
    if (e.op === 'const' && (e.type.scalar === 'f32' || e.type.scalar === 'f16')) {
      if (Number.isNaN(e.value)) nan = true;
      else if (!Number.isFinite(e.value)) inf = true;
    }
  });
  const vectorWidth = new Map<string, number>();
  for (const b of k.buffers) {
    const vec = [...(widths.get(b.name) ?? [])].filter((n) => n > 1);
    if (b.scope !== 'private' && !b.atomic && vec.length === 1 && b.length % vec[0]! === 0) vectorWidth.set(b.name, vec[0]!);
  }
  kvisit(k.body, (e) => {
    const helper = e.op === 'cast' ? floatToIntHelper(e) : undefined;
    if (helper) floatToInt.add(helper);
  });
  return { f16, subgroups, inf, nan, vectorWidth, floatToInt: [...floatToInt].sort() };
}

type PrintBuffer = KBuffer & { readonly width: number };

/** `buf[i]` for an element, given how the buffer is declared. */
function elementAt(b: PrintBuffer, i: string): string {
  if (b.length === 1 && b.atomic && b.scope === 'workgroup') return bufferName(b);
  // indices are never negative, so a shift and a mask divide: cheaper than signed / and %
  const shift = Math.log2(b.width);
  return b.width > 1 ? `${bufferName(b)}[(${i}) >> ${shift}u][(${i}) & ${b.width - 1}i]` : `${bufferName(b)}[${i}]`;
}

/** The vector of `lanes` elements from `i` (a multiple of `lanes`), or undefined if the buffer is not declared that way. */
function vectorAt(b: PrintBuffer, i: string, lanes: number): string | undefined {
  return b.width === lanes ? `${bufferName(b)}[(${i}) >> ${Math.log2(lanes)}u]` : undefined;
}

/**
 * Kernel IR casts from float to int saturate to the integer type's bounds and send NaN to 0. WGSL
 * instead clamps to the nearest float inside the range (2147483520 for i32, 4294967040 for u32)
 * and leaves NaN to the implementation, so those casts go through these helpers. NaN is tested
 * on the bits: implementations may fold `x != x` to false.
 */
const FLOAT_TO_INT = {
  tc_f32_to_i32: [
    'fn tc_f32_to_i32(x: f32) -> i32 {',
    '  let is_nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;',
    '  return select(select(i32(x), 2147483647i, x >= 2147483648.0f), 0i, is_nan);',
    '}',
  ],
  tc_f32_to_u32: [
    'fn tc_f32_to_u32(x: f32) -> u32 {',
    '  let is_nan = (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;',
    '  return select(select(u32(x), 4294967295u, x >= 4294967296.0f), 0u, is_nan);',
    '}',
  ],
} as const;

type FloatToIntHelper = keyof typeof FLOAT_TO_INT;

function floatToIntHelper(e: Extract<KExpr, { op: 'cast' }>): FloatToIntHelper | undefined {
  if (e.type.lanes !== 1 || (e.x.type.scalar !== 'f32' && e.x.type.scalar !== 'f16')) return undefined;
  return e.type.scalar === 'i32' ? 'tc_f32_to_i32' : e.type.scalar === 'u32' ? 'tc_f32_to_u32' : undefined;
}

const bufferName = (b: KBuffer) => mangle(b.scope === 'global' ? 't_' : b.scope === 'workgroup' ? 's_' : 'p_', b.name);

function scalarName(t: ValueType): string {
  switch (t) {
    case 'f32':
    case 'f16':
    case 'i32':
    case 'u32':
    case 'bool':
      return t;
    default:
      throw new TilecraftError(`internal: ${t} reached the WGSL printer; legalization should have rewritten it`);
  }
}

function elementType(b: KBuffer): string {
  const s = scalarName(b.dtype);
  return b.atomic ? `atomic<${s}>` : s;
}

export function typeName(t: KType): string {
  return t.lanes === 1 ? scalarName(t.scalar) : `vec${t.lanes}<${scalarName(t.scalar)}>`;
}

function literal(value: number, t: KType): string {
  const s = t.scalar;
  let text: string;
  switch (s) {
    case 'bool':
      text = value ? 'true' : 'false';
      break;
    case 'i32':
      text = value === -2147483648 ? '(-2147483647i - 1i)' : `${value}i`;
      break;
    case 'u32':
      text = `${value >>> 0}u`;
      break;
    case 'f32':
    case 'f16': {
      const suffix = s === 'f32' ? 'f' : 'h';
      if (Number.isNaN(value)) text = s === 'f32' ? 'tc_nan' : 'f16(tc_nan)';
      else if (!Number.isFinite(value)) {
        const inf = s === 'f32' ? 'tc_inf' : 'f16(tc_inf)';
        text = value > 0 ? inf : `(-${inf})`;
      } else text = `${Object.is(value, -0) ? '-0.0' : String(value)}${suffix}`;
      break;
    }
    default:
      throw new TilecraftError(`internal: ${s} literal in WGSL`);
  }
  return t.lanes === 1 ? text : `${typeName(t)}(${text})`;
}

const BUILTIN: Record<Extract<KExpr, { op: 'builtin' }>['name'], string> = {
  local_index: 'tc_li',
  local_id_x: 'tc_lid.x',
  local_id_y: 'tc_lid.y',
  local_id_z: 'tc_lid.z',
  group_id_x: 'tc_wg.x',
  group_id_y: 'tc_wg.y',
  group_id_z: 'tc_wg.z',
  num_groups_x: 'tc_nwg.x',
  num_groups_y: 'tc_nwg.y',
  num_groups_z: 'tc_nwg.z',
  subgroup_size: 'tc_sgs',
  subgroup_lane: 'tc_sgl',
};

const INFIX: Partial<Record<string, string>> = {
  add: '+', sub: '-', mul: '*', div: '/', mod: '%', and: '&', or: '|', xor: '^', shl: '<<', shr: '>>',
  lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=', land: '&&', lor: '||',
};

function expr(e: KExpr, buffers: ReadonlyMap<string, PrintBuffer>): string {
  const x = (c: KExpr) => expr(c, buffers);
  switch (e.op) {
    case 'const':
      return literal(e.value, e.type);
    case 'ref':
      return e.name;
    case 'builtin':
      return `i32(${BUILTIN[e.name]})`;
    case 'load': {
      const b = buffers.get(e.buffer)!;
      const i = x(e.index);
      if (e.type.lanes === 1) return b.atomic ? `atomicLoad(&${elementAt(b, i)})` : elementAt(b, i);
      return (
        vectorAt(b, i, e.type.lanes) ??
        `${typeName(e.type)}(${Array.from({ length: e.type.lanes }, (_, l) => elementAt(b, l ? `${i} + ${l}` : i)).join(', ')})`
      );
    }
    case 'unary':
      return unary(e.fn, x(e.x), e.type);
    case 'binary': {
      const op = INFIX[e.fn];
      if (e.fn === 'shl' || e.fn === 'shr') return `(${x(e.a)} ${op} u32(${x(e.b)}))`;
      if (op) return `(${x(e.a)} ${op} ${x(e.b)})`;
      return `${e.fn}(${x(e.a)}, ${x(e.b)})`;
    }
    case 'select':
      return `select(${x(e.b)}, ${x(e.a)}, ${x(e.cond)})`;
    case 'cast': {
      const helper = floatToIntHelper(e);
      if (helper) return `${helper}(${e.x.type.scalar === 'f32' ? x(e.x) : `f32(${x(e.x)})`})`;
      return `${typeName(e.type)}(${x(e.x)})`;
    }
    case 'bitcast':
      return `bitcast<${typeName(e.type)}>(${x(e.x)})`;
    case 'subgroup':
      return `subgroup${e.fn === 'sum' ? 'Add' : e.fn === 'max' ? 'Max' : 'Min'}(${x(e.x)})`;
    case 'shuffle':
      return `subgroupShuffle(${x(e.x)}, u32(${x(e.lane)}))`;
    case 'extract':
      return `${x(e.x)}[${e.lane}]`;
    case 'vector':
      return `${typeName(e.type)}(${e.parts.map(x).join(', ')})`;
    default:
      return assertNever(e, 'kernel expr');
  }
}

function unary(fn: Extract<KExpr, { op: 'unary' }>['fn'], a: string, t: KType): string {
  switch (fn) {
    case 'neg':
      return `(-${a})`;
    case 'not':
      return `(!${a})`;
    case 'bitnot':
      return `(~${a})`;
    case 'rsqrt':
      return `inverseSqrt(${a})`;
    case 'f16_from_bits':
      return `unpack2x16float(${a}).x`;
    case 'f16_to_bits':
      return `(pack2x16float(vec2<f32>(${a}, 0.0f)) & 0xffffu)`;
    case 'recip':
      return `(${literal(1, t)} / ${a})`;
    case 'abs':
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'tanh':
    case 'floor':
    case 'ceil':
    case 'sin':
    case 'cos':
      return `${fn}(${a})`;
    case 'erf':
    case 'sigmoid':
      throw new TilecraftError(`internal: ${fn} reached the WGSL printer; legalization should have expanded it`);
    default:
      return assertNever(fn, 'unary fn');
  }
}

function stmts(w: SourceWriter, body: readonly KStmt[], buffers: ReadonlyMap<string, PrintBuffer>): void {
  const x = (e: KExpr) => expr(e, buffers);
  for (const s of body) {
    switch (s.op) {
      case 'let':
        w.line(`let ${s.name} = ${x(s.value)};`);
        break;
      case 'var':
        w.line(`var ${s.name}: ${typeName(s.type)}${s.init ? ` = ${x(s.init)}` : ''};`);
        break;
      case 'assign':
        w.line(`${s.name} = ${x(s.value)};`);
        break;
      case 'store': {
        const b = buffers.get(s.buffer)!;
        const i = x(s.index);
        const lanes = s.value.type.lanes;
        if (lanes > 1) {
          const vec = vectorAt(b, i, lanes);
          if (vec) w.line(`${vec} = ${x(s.value)};`);
          else {
            w.block('{', () => {
              w.line(`let tc_v = ${x(s.value)};`);
              for (let l = 0; l < lanes; l++) w.line(`${elementAt(b, l ? `${i} + ${l}` : i)} = tc_v[${l}];`);
            });
          }
          break;
        }
        const target = elementAt(b, i);
        w.line(b.atomic ? `atomicStore(&${target}, ${x(s.value)});` : `${target} = ${x(s.value)};`);
        break;
      }
      case 'atomic': {
        const b = buffers.get(s.buffer)!;
        const target = `${bufferName(b)}${b.length === 1 && b.scope === 'workgroup' ? '' : `[${x(s.index)}]`}`;
        const fn = { and: 'atomicAnd', or: 'atomicOr', add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin' }[s.fn];
        w.line(`${s.result ? `let ${s.result} = ` : ''}${fn}(&${target}, ${x(s.value)});`);
        break;
      }
      case 'for':
        w.block(`for (var ${s.var}: i32 = ${x(s.start)}; ${s.var} < ${x(s.end)}; ${s.var} += ${x(s.step)}) {`, () =>
          stmts(w, s.body, buffers),
        );
        break;
      case 'if':
        if (s.else.length === 0) w.block(`if (${x(s.cond)}) {`, () => stmts(w, s.then, buffers));
        else {
          w.line(`if (${x(s.cond)}) {`);
          w.indent(() => stmts(w, s.then, buffers));
          w.line('} else {');
          w.indent(() => stmts(w, s.else, buffers));
          w.line('}');
        }
        break;
      case 'barrier':
        w.line('workgroupBarrier();');
        break;
      case 'comment':
        w.line(`// ${s.text}`);
        break;
      case 'matrixDecl':
      case 'matrixFill':
      case 'matrixLoad':
      case 'matrixMma':
      case 'matrixStore':
        throw new TilecraftError(`internal: cooperative matrix operations reached the WGSL printer; they are CUDA-only (tensorCores)`);
      default:
        assertNever(s, 'kernel stmt');
    }
  }
}
