import { TilecraftError } from '../../ir/errors.js';

/** A point in a source file: 1-based line and column (columns count UTF-16 code units). */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * An error in a text-language program, at a line and column of its file. `syntax` errors come from
 * the parser; `semantic` ones from building the program (unknown names, mismatched axis sizes,
 * mixed dtypes), and then `cause` holds the ShapeError, DTypeError or ProgramError the builder threw.
 *
 * The message reads `file:line:column: reason` followed by the offending line and a caret under
 * the construct at fault, like a compiler's.
 */
export class TextDslError extends TilecraftError {
  override name = 'TextDslError';
  /** The message without the location and excerpt. */
  readonly reason: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The source line with a gutter and a caret line under it. */
  readonly excerpt: string;
  readonly kind: 'syntax' | 'semantic';

  constructor(
    reason: string,
    where: { file: string; source: string; start: number; end?: number },
    kind: 'syntax' | 'semantic',
    cause?: TilecraftError,
  ) {
    const { line, column } = positionOf(where.source, where.start);
    const excerpt = caretExcerpt(where.source, where.start, where.end ?? where.start + 1);
    super(`${where.file}:${line}:${column}: ${reason}\n${excerpt}`, cause ? { cause } : undefined);
    this.reason = reason;
    this.file = where.file;
    this.line = line;
    this.column = column;
    this.excerpt = excerpt;
    this.kind = kind;
  }
}

/** Line and column of a character offset. */
export function positionOf(source: string, offset: number): SourcePosition {
  const at = Math.max(0, Math.min(offset, source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: at - lineStart + 1 };
}

/**
 * The line holding `start`, and under it carets from `start` to `end` (clipped to that line, at
 * least one). Tabs are kept in the caret line so the caret lines up in any terminal.
 *
 *      4 |   m = max[q](X)
 *        |           ^
 */
export function caretExcerpt(source: string, start: number, end: number): string {
  const at = Math.max(0, Math.min(start, source.length));
  const lineStart = source.lastIndexOf('\n', at - 1) + 1;
  let lineEnd = source.indexOf('\n', at);
  if (lineEnd < 0) lineEnd = source.length;
  const text = source.slice(lineStart, lineEnd).replace(/\r$/, '');
  const { line } = positionOf(source, at);
  const gutter = String(line);
  const pad = text.slice(0, at - lineStart).replace(/[^\t]/g, ' ');
  const width = Math.max(1, Math.min(end, lineStart + text.length) - at);
  return `${gutter} | ${text}\n${' '.repeat(gutter.length)} | ${pad}${'^'.repeat(width)}`;
}
