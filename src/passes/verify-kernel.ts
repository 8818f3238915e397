import { TilecraftError, assertNever } from '../ir/errors.js';
import { type KBuffer, type KExpr, type KStmt, type KType, type Kernel, type MatrixStmt, COMPARISONS, I32, kchildren, sameType } from '../ir/kernel.js';

type Scope = ReadonlyMap<string, KType>;
type Stmt<Op extends KStmt['op']> = Extract<KStmt, { op: Op }>;
type Expr<Op extends KExpr['op']> = Extract<KExpr, { op: Op }>;
type MatrixDecl = Stmt<'matrixDecl'>;

/**
 * Checks a kernel before any printer sees it: buffers declared, locals defined before use and not
 * twice, operand and store types agreeing. A failure here is a compiler bug, reported with the
 * kernel and the offending statement rather than as a shader compile error later.
 */
export function verifyKernel(k: Kernel): void {
  const v = new KernelVerifier(k);
  v.checkSignature();
  v.checkBody(k.body, new Map());
}

class KernelVerifier {
  private readonly buffers: ReadonlyMap<string, KBuffer>;
  private readonly params: ReadonlySet<string>;
  // Spans the whole kernel, unlike a block's scope: a local's name may be defined only once anywhere
  // in the kernel, even in sibling blocks (loop variables are exempt).
  private readonly defined = new Map<string, KType>();
  private readonly fragments = new Map<string, MatrixDecl>();

  constructor(private readonly k: Kernel) {
    this.buffers = new Map(k.buffers.map((b) => [b.name, b]));
    this.params = new Set(k.params ?? []);
  }

  private fail(msg: string): never {
    throw new TilecraftError(`internal: kernel ${this.k.name}: ${msg}`);
  }

  /** Buffers, launch shape and params: everything the body is checked against. */
  checkSignature(): void {
    const k = this.k;
    if (this.buffers.size !== k.buffers.length) this.fail('two buffers share a name');
    if (k.workgroup.some((n) => n < 1) || k.grid.some((n) => n < 1)) this.fail(`bad launch shape ${k.workgroup} x ${k.grid}`);
    if (this.params.size !== (k.params ?? []).length) this.fail(`a param is listed twice (${k.params!.join(', ')})`);
    for (const p of this.params) if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(p)) this.fail(`param name ${JSON.stringify(p)} is not a size name`);
  }

  // Each block copies its outer scope so its locals go out of scope when it ends.
  checkBody(body: readonly KStmt[], outer: Scope): void {
    const scope = new Map(outer);
    for (const s of body) this.checkStmt(s, scope);
  }

  private define(scope: Map<string, KType>, name: string, t: KType): void {
    if (scope.has(name) || this.defined.has(name)) this.fail(`${name} is defined twice`);
    scope.set(name, t);
    this.defined.set(name, t);
  }

  private checkStmt(s: KStmt, scope: Map<string, KType>): void {
    switch (s.op) {
      case 'let':
        this.checkExpr(s.value, scope);
        this.define(scope, s.name, s.value.type);
        break;
      case 'var':
        this.checkVar(s, scope);
        break;
      case 'assign':
        this.checkAssign(s, scope);
        break;
      case 'store':
      case 'atomic':
        this.checkStore(s, scope);
        break;
      case 'for':
        this.checkExpr(s.start, scope);
        this.checkExpr(s.end, scope);
        this.checkExpr(s.step, scope);
        this.checkBody(s.body, new Map([...scope, [s.var, s.start.type]]));
        break;
      case 'if':
        this.checkExpr(s.cond, scope);
        if (s.cond.type.scalar !== 'bool') this.fail(`if condition is ${fmt(s.cond.type)}`);
        this.checkBody(s.then, scope);
        this.checkBody(s.else, scope);
        break;
      case 'barrier':
      case 'comment':
        break;
      case 'matrixDecl':
      case 'matrixFill':
      case 'matrixLoad':
      case 'matrixMma':
      case 'matrixStore':
        this.checkMatrixStmt(s, scope);
        break;
      default:
        assertNever(s, 'kernel stmt');
    }
  }

  private checkVar(s: Stmt<'var'>, scope: Map<string, KType>): void {
    if (s.init) {
      this.checkExpr(s.init, scope);
      if (!sameType(s.init.type, s.type)) this.fail(`var ${s.name}: ${fmt(s.type)} initialized with ${fmt(s.init.type)}`);
    }
    this.define(scope, s.name, s.type);
  }

  private checkAssign(s: Stmt<'assign'>, scope: Scope): void {
    this.checkExpr(s.value, scope);
    const t = scope.get(s.name);
    if (!t) this.fail(`assignment to undefined ${s.name}`);
    else if (!sameType(t, s.value.type)) this.fail(`assignment of ${fmt(s.value.type)} to ${s.name}: ${fmt(t)}`);
  }

  private checkStore(s: Stmt<'store' | 'atomic'>, scope: Map<string, KType>): void {
    this.checkExpr(s.index, scope);
    this.checkExpr(s.value, scope);
    const b = this.buffers.get(s.buffer);
    if (!b) this.fail(`${s.op} to undeclared buffer ${s.buffer}`);
    else if (s.value.type.scalar !== b.dtype) this.fail(`${s.op} of ${fmt(s.value.type)} into ${s.buffer}: ${b.dtype}`);
    if (b.scope === 'global' && b.access === 'read') this.fail(`store into read-only buffer ${s.buffer}`);
    if (s.op === 'atomic') {
      if (!b.atomic) this.fail(`atomic on ${s.buffer}, which is not marked atomic`);
      if (s.result) this.define(scope, s.result, s.value.type);
    }
  }

  private checkMatrixStmt(s: MatrixStmt, scope: Scope): void {
    switch (s.op) {
      case 'matrixDecl':
        if (this.fragments.has(s.name) || scope.has(s.name)) this.fail(`${s.name} is defined twice`);
        this.fragments.set(s.name, s);
        break;
      case 'matrixFill':
        this.fragment(s.name, 'acc');
        break;
      case 'matrixLoad':
        this.checkMatrixLoad(s, scope);
        break;
      case 'matrixMma':
        this.fragment(s.acc, 'acc');
        this.fragment(s.a, 'a');
        this.fragment(s.b, 'b');
        break;
      case 'matrixStore':
        this.checkMatrixStore(s, scope);
        break;
      default:
        assertNever(s, 'kernel stmt');
    }
  }

  private fragment(name: string, role?: MatrixDecl['role']): MatrixDecl {
    const f = this.fragments.get(name);
    if (!f) this.fail(`matrix ${name} is used before it is declared`);
    if (role && f.role !== role) this.fail(`matrix ${name} is an ${f.role} tile, used as ${role}`);
    return f;
  }

  private checkMatrixLoad(s: Stmt<'matrixLoad'>, scope: Scope): void {
    const f = this.fragment(s.name);
    this.checkExpr(s.offset, scope);
    const b = this.buffers.get(s.buffer);
    if (!b) this.fail(`matrix load from undeclared buffer ${s.buffer}`);
    else if (f.role !== 'acc' && b.dtype !== f.dtype) this.fail(`matrix ${s.name} (${f.dtype}) loaded from ${s.buffer}: ${b.dtype}`);
    if (f.layout !== s.layout) this.fail(`matrix ${s.name} is ${f.layout}-major but loaded ${s.layout}-major`);
  }

  private checkMatrixStore(s: Stmt<'matrixStore'>, scope: Scope): void {
    this.fragment(s.name, 'acc');
    this.checkExpr(s.offset, scope);
    const b = this.buffers.get(s.buffer);
    if (!b) this.fail(`matrix store to undeclared buffer ${s.buffer}`);
    else if (b.dtype !== 'f32') this.fail(`matrix ${s.name} stored into ${s.buffer}: ${b.dtype}, not f32`);
  }

  private checkExpr(e: KExpr, scope: Scope): void {
    switch (e.op) {
      case 'ref':
        this.checkRef(e, scope);
        break;
      case 'load':
        if (!this.buffers.has(e.buffer)) this.fail(`load from undeclared buffer ${e.buffer}`);
        if (e.index.type.scalar !== 'i32') this.fail(`index into ${e.buffer} is ${fmt(e.index.type)}, not i32`);
        break;
      case 'binary':
        this.checkBinary(e);
        break;
      case 'param':
        this.checkParam(e);
        break;
      case 'shuffle':
        if (e.lane.type.scalar !== 'i32' || e.lane.type.lanes !== 1) this.fail(`shuffle lane is ${fmt(e.lane.type)}, not i32`);
        if (!sameType(e.x.type, e.type) || e.type.lanes !== 1) this.fail(`shuffle of ${fmt(e.x.type)} typed ${fmt(e.type)}`);
        break;
      case 'select':
        if (e.cond.type.scalar !== 'bool') this.fail(`select condition is ${fmt(e.cond.type)}`);
        if (!sameType(e.a.type, e.b.type)) this.fail(`select between ${fmt(e.a.type)} and ${fmt(e.b.type)}`);
        break;
      default:
        break;
    }
    for (const c of kchildren(e)) this.checkExpr(c, scope);
  }

  private checkRef(e: Expr<'ref'>, scope: Scope): void {
    const t = scope.get(e.name);
    if (!t) this.fail(`${e.name} is used before it is defined`);
    else if (!sameType(t, e.type)) this.fail(`${e.name} is ${fmt(t)} but used as ${fmt(e.type)}`);
  }

  private checkBinary(e: Expr<'binary'>): void {
    // WGSL takes a shift amount as u32 whatever the shifted type, so only shifts may mix operand types.
    const shifts = e.fn === 'shl' || e.fn === 'shr';
    if (!shifts && !sameType(e.a.type, e.b.type)) this.fail(`${e.fn} of ${fmt(e.a.type)} and ${fmt(e.b.type)}`);
    if ((e.fn === 'land' || e.fn === 'lor') && e.a.type.scalar !== 'bool') this.fail(`${e.fn} of ${fmt(e.a.type)}`);
    if (COMPARISONS.has(e.fn) && e.type.scalar !== 'bool') this.fail(`comparison ${e.fn} typed ${fmt(e.type)}`);
  }

  private checkParam(e: Expr<'param'>): void {
    if (!this.params.has(e.name)) {
      this.fail(`param ${e.name} is read but not listed in the kernel's params (${[...this.params].join(', ') || 'none'})`);
    }
    if (!sameType(e.type, I32)) this.fail(`param ${e.name} is ${fmt(e.type)}, not i32`);
  }
}

const fmt = (t: KType) => (t.lanes === 1 ? t.scalar : `${t.scalar}x${t.lanes}`);
