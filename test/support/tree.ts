/** A temporary file tree for EC2NET_ROOT: the given files (path relative to the root → content) and nothing else. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathsFor, type Paths } from '../../src/config.js';

export function fileTree(files: Record<string, string>): { root: string; paths: Paths } {
  const root = mkdtempSync(join(tmpdir(), 'ec2net-tree-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return { root, paths: pathsFor(root) };
}
