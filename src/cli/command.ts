/** A meshctl subcommand: its words, a one-line summary, and its entry point (exit code). */
export interface Command {
  readonly path: readonly string[];
  readonly summary: string;
  run(args: string[]): Promise<number>;
}
