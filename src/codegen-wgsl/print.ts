import { type ValueType } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import { type KBuffer, type KExpr, type KStmt, type KType, type Kernel, forEachStmt, kernelParams, kvisit } from '../ir/kernel.js';
import { CStylePrinter } from '../codegen-common/c-style.js';
import { type Code, INFIX, PREC, atom, bufferName, call, code, infix, operand, prefix } from '../codegen-common/code.js';
import { SourceWriter } from '../codegen-common/source-writer.js';
import { checkWgslIndexRange } from './limits.js';

/**
 * Prints a legalized kernel as WGSL. Expects `legalizeForWgsl` to have run: no packed or narrow
 * buffer types, no erf or sigmoid, and f16 only when the device has shader-f16. A kernel whose
 * indices can pass i32 is refused (`checkWgslIndexRange`).
 */
export function printWgsl(k: Kernel): string {
  checkWgslIndexRange(k);
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
  const params = kernelParams(k);
  if (params.length) {
    // the dynamic sizes' run-time values: one uniform struct of i32s after the storage buffers
    // (the runtime pads the buffer to whole 16-byte units, as uniform buffers need)
    w.block('struct TcParams {', () => params.forEach((p) => w.line(`${p}: i32,`)));
    w.line(`@group(0) @binding(${binding}) var<uniform> tc_params: TcParams;`);
  }
  if (uses.inf) w.line('var<private> tc_inf_bits: u32 = 0x7f800000u;');
  for (const helper of uses.floatToInt) FLOAT_TO_INT[helper].forEach((l) => w.line(l));
  if (uses.nan) w.line('var<private> tc_nan_bits: u32 = 0x7fc00000u;');
  w.line();
  const builtins = [
    '@builtin(local_invocation_index) tc_li: u32',
    '@builtin(local_invocation_id) tc_lid: vec3<u32>',
    '@builtin(workgroup_id) tc_wg: vec3<u32>',
    '@builtin(num_workgroups) tc_nwg: vec3<u32>',
  ];
  if (uses.subgroups) builtins.push('@builtin(subgroup_size) tc_sgs: u32', '@builtin(subgroup_invocation_id) tc_sgl: u32');
  w.line(`@compute @workgroup_size(${k.workgroup.join(', ')})`);
  w.block(`fn main(${builtins.join(', ')}) {`, () => {
    // infinities come from runtime values: a constant-expression infinity is a WGSL error
    if (uses.inf) w.line('let tc_inf = bitcast<f32>(tc_inf_bits);');
    if (uses.nan) w.line('let tc_nan = bitcast<f32>(tc_nan_bits);');
    for (const b of k.buffers) {
      if (b.scope === 'private') w.line(`var ${bufferName(b)}: array<${elementType(b)}, ${b.length}>;`);
    }
    const buffers = new Map(k.buffers.map((b) => [b.name, { ...b, width: uses.vectorWidth.get(b.name) ?? 1 }]));
    new WgslPrinter(w, buffers).stmts(k.body);
  });
  return w.toString();
}

function scan(k: Kernel) {
  let f16 = k.buffers.some((b) => b.dtype === 'f16');
  let subgroups = false;
  let inf = false;
  let nan = false;
  const floatToInt = new Set<FloatToIntHelper>();
  // A global buffer read or written only with vectors of one width is declared as an array of
  // those vectors; scalar accesses then pick a component. Mixed widths fall back to scalars.
  const widths = new Map<string, Set<number>>();
  const noteWidth = (buffer: string, lanes: number) => {
    if (!widths.has(buffer)) widths.set(buffer, new Set());
    widths.get(buffer)!.add(lanes);
  };
  forEachStmt(k.body, (s) => {
    if (s.op === 'var' && s.type.scalar === 'f16') f16 = true;
    if (s.op === 'store') noteWidth(s.buffer, s.value.type.lanes);
  });
  kvisit(k.body, (e) => {
    if (e.op === 'load') noteWidth(e.buffer, e.type.lanes);
    const helper = e.op === 'cast' ? floatToIntHelper(e) : undefined;
    if (helper) floatToInt.add(helper);
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

function literal(value: number, t: KType): Code {
  const text = scalarLiteral(value, t.scalar);
  return t.lanes === 1 ? text : call(typeName(t), text);
}

function scalarLiteral(value: number, s: ValueType): Code {
  switch (s) {
    case 'bool':
      return atom(value ? 'true' : 'false');
    case 'i32':
      return value === -2147483648 ? code('-2147483647i - 1i', PREC.additive) : atom(`${value}i`);
    case 'u32':
      return atom(`${value >>> 0}u`);
    case 'f32':
    case 'f16': {
      if (Number.isNaN(value)) return atom(s === 'f32' ? 'tc_nan' : 'f16(tc_nan)');
      if (Number.isFinite(value)) return atom(`${Object.is(value, -0) ? '-0.0' : String(value)}${s === 'f32' ? 'f' : 'h'}`);
      const inf = atom(s === 'f32' ? 'tc_inf' : 'f16(tc_inf)');
      return value > 0 ? inf : prefix('-', inf);
    }
    default:
      throw new TilecraftError(`internal: ${s} literal in WGSL`);
  }
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

const SUBGROUP_FN = { sum: 'subgroupAdd', max: 'subgroupMax', min: 'subgroupMin' } as const;

function expr(e: KExpr, buffers: ReadonlyMap<string, PrintBuffer>): Code {
  const x = (c: KExpr) => expr(c, buffers);
  switch (e.op) {
    case 'const':
      return literal(e.value, e.type);
    case 'ref':
      return atom(e.name);
    case 'builtin':
      return atom(`i32(${BUILTIN[e.name]})`);
    case 'param':
      return atom(`tc_params.${e.name}`);
    case 'load':
      return load(buffers.get(e.buffer)!, operand(x(e.index)), e.type);
    case 'unary':
      return unary(e.fn, x(e.x), e.type);
    case 'binary': {
      const op = INFIX[e.fn];
      // WGSL shifts take a u32 amount
      if (e.fn === 'shl' || e.fn === 'shr') return infix(op!, x(e.a), call('u32', x(e.b)));
      return op ? infix(op, x(e.a), x(e.b)) : call(e.fn, x(e.a), x(e.b));
    }
    case 'select':
      return call('select', x(e.b), x(e.a), x(e.cond));
    case 'cast': {
      const helper = floatToIntHelper(e);
      if (helper) return call(helper, e.x.type.scalar === 'f32' ? x(e.x) : call('f32', x(e.x)));
      return call(typeName(e.type), x(e.x));
    }
    case 'bitcast':
      return call(`bitcast<${typeName(e.type)}>`, x(e.x));
    case 'subgroup':
      return call(SUBGROUP_FN[e.fn], x(e.x));
    case 'shuffle':
      return call('subgroupShuffle', x(e.x), call('u32', x(e.lane)));
    case 'extract':
      return atom(`${operand(x(e.x))}[${e.lane}]`);
    case 'vector':
      return call(typeName(e.type), ...e.parts.map(x));
    default:
      return assertNever(e, 'kernel expr');
  }
}

/** A load of `t` from element `i` of `b`: a vector the buffer is not declared as is gathered element by element. */
function load(b: PrintBuffer, i: string, t: KType): Code {
  if (t.lanes === 1) return atom(b.atomic ? `atomicLoad(&${elementAt(b, i)})` : elementAt(b, i));
  const vec = vectorAt(b, i, t.lanes);
  if (vec) return atom(vec);
  const lanes = Array.from({ length: t.lanes }, (_, l) => elementAt(b, l ? `${i} + ${l}` : i));
  return atom(`${typeName(t)}(${lanes.join(', ')})`);
}

function unary(fn: Extract<KExpr, { op: 'unary' }>['fn'], a: Code, t: KType): Code {
  switch (fn) {
    case 'neg':
      return prefix('-', a);
    case 'not':
      return prefix('!', a);
    case 'bitnot':
      return prefix('~', a);
    case 'rsqrt':
      return call('inverseSqrt', a);
    case 'f16_from_bits':
      return atom(`unpack2x16float(${operand(a)}).x`);
    case 'f16_to_bits':
      return code(`pack2x16float(vec2<f32>(${operand(a)}, 0.0f)) & 0xffffu`, PREC.bitand);
    case 'recip':
      return infix(INFIX.div!, literal(1, t), a);
    case 'abs':
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'tanh':
    case 'floor':
    case 'ceil':
    case 'sin':
    case 'cos':
      return call(fn, a);
    case 'erf':
    case 'sigmoid':
      throw new TilecraftError(`internal: ${fn} reached the WGSL printer; legalization should have expanded it`);
    default:
      return assertNever(fn, 'unary fn');
  }
}

type Stmt<Op extends KStmt['op']> = Extract<KStmt, { readonly op: Op }>;

/** WGSL's statement rules: typed `var`s, untyped `let`s, explicit atomic loads and stores, vector-typed buffers. */
class WgslPrinter extends CStylePrinter {
  protected readonly bareStatements = false;
  protected readonly barrierCall = 'workgroupBarrier()';
  protected readonly atomicStoreFn = 'atomicStore';

  constructor(
    w: SourceWriter,
    private readonly buffers: ReadonlyMap<string, PrintBuffer>,
  ) {
    super(w);
  }

  protected value(e: KExpr): Code {
    return expr(e, this.buffers);
  }

  protected declareLet(name: string, _type: KType, init: string): string {
    return `let ${name} = ${init}`;
  }

  protected declareVar(name: string, type: KType, init: string | undefined): string {
    return `var ${name}: ${typeName(type)}${init !== undefined ? ` = ${init}` : ''}`;
  }

  protected loopVar(name: string): string {
    return `var ${name}: i32`;
  }

  protected element(buffer: string, index: string): string {
    return elementAt(this.buffers.get(buffer)!, index);
  }

  protected isAtomic(buffer: string): boolean {
    return this.buffers.get(buffer)!.atomic === true;
  }

  protected storeVector(s: Stmt<'store'>): boolean {
    const vec = vectorAt(this.buffers.get(s.buffer)!, this.top(s.index), s.value.type.lanes);
    if (vec) this.w.line(`${vec} = ${this.top(s.value)};`);
    return vec !== undefined;
  }

  protected component(name: string, lane: number): string {
    return `${name}[${lane}]`;
  }

  protected storeTemp(): string {
    return 'tc_v';
  }

  // cooperative matrices are CUDA-only (tensor cores)
  readonly matrixDecl = noMatrices;
  readonly matrixFill = noMatrices;
  readonly matrixLoad = noMatrices;
  readonly matrixMma = noMatrices;
  readonly matrixStore = noMatrices;
}

function noMatrices(): never {
  throw new TilecraftError(`internal: cooperative matrix operations reached the WGSL printer; they are CUDA-only (tensorCores)`);
}
