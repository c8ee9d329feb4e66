/** A file the agent wants on disk. Renderers return these; only the file port writes. */
export interface FileSpec {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}
