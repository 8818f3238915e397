import { bindProgram } from '../../../src/ir/bind.js';
import { hoistReductions } from '../../../src/passes/hoist-reductions.js';
import { type Program, type Stmt } from '../../../src/ir/tensor.js';

/** The statements of a program after hoisting and binding: what the tile builders start from. */
export function boundStmts(p: Program, sizes: Record<string, number>): Stmt[] {
  return [...bindProgram(hoistReductions(p), sizes).stmts];
}
