import { ProgramError } from '../ir/errors.js';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Names of programs, sizes, tensors and axes: a letter, then letters, digits and _. */
export function checkName(name: string, what: string): void {
  if (!NAME.test(name)) {
    throw new ProgramError(`${what} name ${JSON.stringify(name)} must start with a letter and hold only letters, digits and _`);
  }
}
