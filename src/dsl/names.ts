import { ProgramError } from '../ir/errors.js';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
/** An axis name the builder made up (`j'`, `j'2`: see ProgramBuilder.fresh); never written by a user. */
const FRESH_AXIS = /^[A-Za-z][A-Za-z0-9_]*'[0-9]*$/;

/**
 * A name that is not a plain identifier. Generated code spells names with only ASCII letters,
 * digits and _, so two names such as `é` and ` ` would print alike; every front end (the DSL, the
 * text language, serialized `.json` programs) checks names here before a program is built.
 */
export class InvalidNameError extends ProgramError {
  override name = 'InvalidNameError';
  constructor(
    message: string,
    /** The name as written. */
    readonly invalidName: string,
    /** What it names: `tensor`, `size`, `axis of X`... */
    readonly what: string,
  ) {
    super(message);
  }
}

/**
 * Names of programs, sizes, tensors and axes: a letter, then letters, digits and _. `where`, when
 * known, says where the name was found (a file, a position in it) and is added to the message.
 * `freshAxis` also accepts the axis names the builder makes up, as a built program holds them.
 */
export function checkName(name: string, what: string, where?: string, freshAxis = false): void {
  if (typeof name !== 'string' || !(NAME.test(name) || (freshAxis && FRESH_AXIS.test(name)))) {
    const shown = typeof name === 'string' ? JSON.stringify(name) : String(name as unknown);
    throw new InvalidNameError(
      `${where ? `${where}: ` : ''}${what} name ${shown} must start with a letter and hold only letters, digits and _`,
      String(name as unknown),
      what,
    );
  }
}
