/**
 * Bundles the agent into one CommonJS file with esbuild: every dependency inside, except node's built-ins and the
 * netlink native addon, a file of its own that the bundle finds relative to itself (one per architecture, see
 * layout.ts).
 *
 * CommonJS rather than an ES module, and whitespace and syntax minified, because a command's start is mostly
 * loading (README, "Performance"): in an ES module bundle esbuild hoists every built-in import to the top, so
 * each command loaded every built-in any dependency might use; in CommonJS those `require`s stay inside the lazy
 * initialiser of the module that needs them, and node links no ES module facade per built-in. Identifiers keep their names, so stack traces stay readable.
 *
 * netlink's dist/raw.js loads its addon with `require('node-gyp-build')(__dirname + '/..')`, a path inside its
 * own npm package, which is gone in a bundle (and __dirname does not exist in an ES module). The plugin below
 * points that one call at the packaged addon directory; node-gyp-build itself is bundled and still picks
 * prebuilds/linux-ARCH/ for the running machine, so a package built for the wrong architecture says so.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { REPO } from './layout.js';
import { MIN_NODE } from './meta.js';

/** The tsc output of entry.ts: the bundle is made from exactly the JavaScript the tests run. */
const ENTRY = fileURLToPath(new URL('./entry.js', import.meta.url));
/** The tsc output of start.cts. */
const START = fileURLToPath(new URL('./start.cjs', import.meta.url));
/**
 * Goes before the bundle. `import.meta.url` (the bundle defines it, for the modules that locate files next to
 * themselves) is the bundle's own URL; `addonDir` is the addon's directory relative to the bundle's.
 */
function banner(addonDir: string): string {
  if (!/^[A-Za-z0-9./_-]+\/$/.test(addonDir)) throw new Error(`${addonDir}: not a relative directory URL`);
  return [
    '#!/usr/bin/node',
    // Replaced by the hash of the bundle once it is built: start.cjs keys its code cache by it (start.cts).
    `// ec2net bundle ${ID_PLACEHOLDER}`,
    // Strict, as the ES module bundle and the checkout are (every module of an ES module is strict code).
    "'use strict';",
    "const __ec2netBundleUrl = require('node:url').pathToFileURL(__filename).href;",
    `const __ec2netAddonDir = require('node:url').fileURLToPath(new URL('${addonDir}', __ec2netBundleUrl));`,
  ].join('\n');
}

const ID_PLACEHOLDER = '0'.repeat(32);

/** The one line of netlink 0.3.0's dist/raw.js that loads the addon, and what the bundle does instead. */
const ADDON_LOAD = "require('node-gyp-build')(__dirname + '/..')";
const BUNDLED_ADDON_LOAD = "require('node-gyp-build')(__ec2netAddonDir)";

function netlinkAddon(used: { count: number }): Plugin {
  return {
    name: 'ec2net-netlink-addon',
    setup(b) {
      b.onLoad({ filter: /[/\\]node_modules[/\\]netlink[/\\]dist[/\\]raw\.js$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (text.split(ADDON_LOAD).length !== 2) {
          throw new Error(`${args.path} no longer loads its addon with ${ADDON_LOAD}: check the pinned netlink version`);
        }
        used.count++;
        return { contents: text.replace(ADDON_LOAD, BUNDLED_ADDON_LOAD), loader: 'js' };
      });
    },
  };
}

export interface BundleResult {
  /** npm packages whose code is inside the bundle, by name (for the copyright file). */
  readonly packages: string[];
  /** The bundle's id: the first 32 hex digits of the SHA-256 of its text with the id line zeroed. */
  readonly id: string;
  /** start.cjs, written beside the bundle: what the commands run (scripts/package/start.cts). */
  readonly start: string;
}

function packageOf(input: string): string | undefined {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m?.[1];
}

/**
 * Bundles the agent into `outfile`, and writes start.cjs beside it; `addonDir` is where the addon's prebuilds/
 * directory is, relative to the bundle. `outfile` must be named ec2net.cjs: start.cjs runs the file of that name.
 */
export async function bundle(outfile: string, addonDir: string): Promise<BundleResult> {
  if (basename(outfile) !== 'ec2net.cjs') throw new Error(`${outfile}: start.cjs runs ec2net.cjs beside it`);
  const used = { count: 0 };
  const result = await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${MIN_NODE}`,
    define: { 'import.meta.url': '__ec2netBundleUrl' },
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: banner(addonDir) },
    plugins: [netlinkAddon(used)],
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: REPO,
  });
  if (used.count !== 1) {
    throw new Error(`netlink loads its addon in ${used.count} places, expected 1 (dist/raw.js): check the pinned netlink version`);
  }
  const builtins = new Set(builtinModules);
  for (const output of Object.values(result.metafile.outputs)) {
    for (const imp of output.imports) {
      const name = imp.path.replace(/^node:/, '');
      if (!builtins.has(name) && !builtins.has(name.split('/')[0] ?? '')) {
        throw new Error(`the bundle imports ${imp.path} at run time; only node built-ins may stay outside it`);
      }
    }
  }
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const p = packageOf(input);
    if (p) packages.add(p);
  }
  const text = await readFile(outfile, 'utf8');
  if (!text.includes(`\n// ec2net bundle ${ID_PLACEHOLDER}\n`)) throw new Error(`${outfile}: the id line is not where start.cjs looks for it`);
  const id = createHash('sha256').update(text).digest('hex').slice(0, 32);
  await writeFile(outfile, text.replace(ID_PLACEHOLDER, id));
  const start = join(dirname(outfile), 'start.cjs');
  // tsc's output of start.cts, without its source map reference (the map is not shipped).
  const startText = (await readFile(START, 'utf8')).replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  await writeFile(start, startText, { mode: 0o755 });
  return { packages: [...packages].sort(), id, start };
}
