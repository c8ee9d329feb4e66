/** A file the agent wants on disk. Renderers return these; only the file port writes. */
export interface FileSpec {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** A file of lines, each ending in a newline. */
export function linesOf(ls: readonly string[]): string {
  return ls.map((l) => `${l}\n`).join('');
}
