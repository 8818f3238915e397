import { type KExpr, type KStmt, type KStmtVisitor, type KType, visitStmt } from '../ir/kernel.js';
import { ATOMIC_FN, type Code, operand } from './code.js';
import { type SourceWriter } from './source-writer.js';

type Stmt<Op extends KStmt['op']> = Extract<KStmt, { readonly op: Op }>;

/**
 * The statement shapes WGSL and CUDA C++ share: blocks, `if`/`else`, counted `for` loops,
 * declarations, assignments, stores and atomics. A language supplies its spelling through the
 * abstract hooks and prints what only it has (entry point, buffers, matrix statements) itself.
 */
export abstract class CStylePrinter implements KStmtVisitor<void> {
  constructor(protected readonly w: SourceWriter) {}

  /** The whole value of `e`. */
  protected abstract value(e: KExpr): Code;
  /**
   * Whether statement positions (right-hand sides, conditions, subscripts, call arguments) print
   * an expression without its outer parentheses. C++ does; WGSL keeps them, as it always has.
   */
  protected abstract readonly bareStatements: boolean;
  /** An immutable local as the language declares it, without `;`. */
  protected abstract declareLet(name: string, type: KType, init: string): string;
  /** A mutable local (zeroed without `init`) as the language declares it, without `;`. */
  protected abstract declareVar(name: string, type: KType, init: string | undefined): string;
  /** The loop counter's declaration in a `for` header, without its start value. */
  protected abstract loopVar(name: string): string;
  protected abstract readonly barrierCall: string;
  /** The lvalue of element `index` (already placed) of a buffer. */
  protected abstract element(buffer: string, index: string): string;
  /** How a store to an atomic buffer is written: `fn(&element, value)`. */
  protected abstract readonly atomicStoreFn: string;
  /** A vector store the language writes in one statement, if it can; false leaves it to lane-by-lane stores. */
  protected abstract storeVector(s: Stmt<'store'>): boolean;
  /** Component `lane` of the vector local `name`. */
  protected abstract component(name: string, lane: number): string;
  /** The name of a block-scoped temporary holding a stored vector. */
  protected abstract storeTemp(): string;

  /** Prints statements in order. */
  stmts(body: readonly KStmt[]): void {
    for (const s of body) visitStmt(s, this);
  }

  /** `c` in a statement position. */
  protected place(c: Code): string {
    return this.bareStatements ? c.text : operand(c);
  }

  protected top(e: KExpr): string {
    return this.place(this.value(e));
  }

  /** The index of lane `lane` of a vector access starting at `index`. */
  protected laneIndex(index: Code, lane: number): string {
    return lane ? `${operand(index)} + ${lane}` : this.place(index);
  }

  /** Hook for what precedes a loop (CUDA's unroll pragma). */
  protected beforeLoop(_s: Stmt<'for'>): void {}

  let(s: Stmt<'let'>): void {
    this.w.line(`${this.declareLet(s.name, s.value.type, this.top(s.value))};`);
  }

  var(s: Stmt<'var'>): void {
    this.w.line(`${this.declareVar(s.name, s.type, s.init && this.top(s.init))};`);
  }

  assign(s: Stmt<'assign'>): void {
    this.w.line(`${s.name} = ${this.top(s.value)};`);
  }

  for(s: Stmt<'for'>): void {
    this.beforeLoop(s);
    // the bound stays an operand: `i < (c ? a : b)` must not lose its parentheses
    const head = `${this.loopVar(s.var)} = ${this.top(s.start)}; ${s.var} < ${operand(this.value(s.end))}; ${s.var} += ${this.top(s.step)}`;
    this.w.block(`for (${head}) {`, () => this.stmts(s.body));
  }

  if(s: Stmt<'if'>): void {
    if (s.else.length === 0) {
      this.w.block(`if (${this.top(s.cond)}) {`, () => this.stmts(s.then));
      return;
    }
    this.w.line(`if (${this.top(s.cond)}) {`);
    this.w.indent(() => this.stmts(s.then));
    this.w.line('} else {');
    this.w.indent(() => this.stmts(s.else));
    this.w.line('}');
  }

  barrier(): void {
    this.w.line(`${this.barrierCall};`);
  }

  comment(s: Stmt<'comment'>): void {
    this.w.line(`// ${s.text}`);
  }

  atomic(s: Stmt<'atomic'>): void {
    const call = `${ATOMIC_FN[s.fn]}(&${this.element(s.buffer, this.top(s.index))}, ${this.top(s.value)})`;
    this.w.line(s.result ? `${this.declareLet(s.result, s.value.type, call)};` : `${call};`);
  }

  /**
   * A store; to an atomic buffer an atomic one. A vector the language cannot store at once is
   * computed once into a temporary and stored lane by lane, so lanes that read the elements being
   * written see old values.
   */
  store(s: Stmt<'store'>): void {
    const lanes = s.value.type.lanes;
    const index = this.value(s.index);
    if (lanes === 1) this.put(s.buffer, this.place(index), this.top(s.value));
    else if (!this.storeVector(s)) {
      const t = this.storeTemp();
      this.w.block('{', () => {
        this.w.line(`${this.declareLet(t, s.value.type, this.top(s.value))};`);
        this.storeLanes(s.buffer, index, lanes, t);
      });
    }
  }

  /** Stores each lane of the vector local `from` to consecutive elements from `index`. */
  protected storeLanes(buffer: string, index: Code, lanes: number, from: string): void {
    for (let l = 0; l < lanes; l++) this.put(buffer, this.laneIndex(index, l), this.component(from, l));
  }

  protected put(buffer: string, index: string, v: string): void {
    const target = this.element(buffer, index);
    this.w.line(this.isAtomic(buffer) ? `${this.atomicStoreFn}(&${target}, ${v});` : `${target} = ${v};`);
  }

  protected abstract isAtomic(buffer: string): boolean;

  abstract matrixDecl(s: Stmt<'matrixDecl'>): void;
  abstract matrixFill(s: Stmt<'matrixFill'>): void;
  abstract matrixLoad(s: Stmt<'matrixLoad'>): void;
  abstract matrixMma(s: Stmt<'matrixMma'>): void;
  abstract matrixStore(s: Stmt<'matrixStore'>): void;
}
