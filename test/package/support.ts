/**
 * Shared by the package tests: builds the packages once per test file into a throwaway directory (a few
 * seconds), and runs commands with their output captured.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackages, type BuiltPackage } from '../../scripts/package.js';
import { ARCHES, type Arch } from '../../scripts/package/layout.js';

export const BUILD_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 60_000;

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** The architecture whose package this machine can run. */
export const HOST_ARCH: Arch | undefined = ARCHES.find((a) => a.node === process.arch);

export function scratch(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ec2net-${tag}-`));
}

let built: Promise<BuiltPackage[]> | undefined;

export function packages(): Promise<BuiltPackage[]> {
  built ??= (() => {
    const dir = scratch('package');
    return buildPackages({ outDir: `${dir}/dist`, workDir: `${dir}/work` });
  })();
  return built;
}

export function packageFile(all: readonly BuiltPackage[], format: 'deb' | 'rpm', arch: Arch): string {
  const p = all.find((b) => b.format === format && b.arch === arch);
  if (!p) throw new Error(`no ${format} for ${arch.rpm}`);
  return p.file;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(file: string, args: readonly string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs and insists on exit 0; returns stdout. */
export function ok(file: string, args: readonly string[], opts: SpawnSyncOptions = {}): string {
  const r = run(file, args, opts);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
