/**
 * Whether output to `stream` may carry colours and redraws: a terminal, with NO_COLOR unset
 * (https://no-color.org). Piped or redirected output gets plain text.
 */
export function fancyOutput(stream: { readonly isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** cli-table3 options: its coloured headings and borders only where the output is fancy. */
export function tableStyle(): { style?: { head: string[]; border: string[] } } {
  return fancyOutput() ? {} : { style: { head: [], border: [] } };
}
