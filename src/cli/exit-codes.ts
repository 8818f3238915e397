/** Exit codes of the `autotune` command, for scripts. */
export const EXIT = {
  ok: 0,
  /** A device, compile or runtime failure. */
  failure: 1,
  /** Bad command-line usage: unknown example, malformed size. */
  usage: 2,
  /** A kernel's result disagreed with the CPU reference. */
  mismatch: 3,
  /** Interrupted (Ctrl-C); what was measured is kept. */
  interrupted: 130,
} as const;
