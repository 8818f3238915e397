import { readFile } from 'node:fs/promises';
import type { Program } from '../../ir/tensor.js';
import { type ParseOptions, parseProgram } from './parse.js';

/** Reads and parses a `.tc` file (Node only: the parser itself is in the main entry, which loads in browsers). */
export async function parseProgramFile(path: string, name?: string, options: ParseOptions = {}): Promise<Program> {
  return parseProgram(await readFile(path, 'utf8'), path, name, options);
}
