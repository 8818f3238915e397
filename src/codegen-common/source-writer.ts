/** Indentation-aware line writer shared by the printers. */
export class SourceWriter {
  private readonly lines: string[] = [];
  private depth = 0;

  constructor(private readonly indentUnit = '  ') {}

  line(text = ''): void {
    this.lines.push(text === '' ? '' : this.indentUnit.repeat(this.depth) + text);
  }

  /** Writes `open`, the body one level deeper, then `close`. */
  block(open: string, body: () => void, close = '}'): void {
    this.line(open);
    this.depth++;
    body();
    this.depth--;
    this.line(close);
  }

  /** Writes the body one level deeper, without delimiters. */
  indent(body: () => void): void {
    this.depth++;
    body();
    this.depth--;
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** Identifiers the printers emit are built from kernel-IR names, which may collide with keywords. */
export function mangle(prefix: string, name: string): string {
  return `${prefix}${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}
