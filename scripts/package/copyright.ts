/**
 * The copyright file (Debian's machine-readable format), generated from the npm packages esbuild put into the
 * bundle plus the ones compiled into the netlink addon: each one's copyright lines and license text, as its own
 * license file words them. Apache-2.0 texts are referenced in Debian's common-licenses, as Debian wants, or
 * carried in full where that directory does not exist (rpm), from a bundled package's license file or from
 * ec2net's own LICENSE.
 */
import { readdir, readFile } from 'node:fs/promises';
import { ADDON_DIR, BUNDLE, REPO } from './layout.js';
import { NAME } from './meta.js';

/** node-addon-api is compiled into netlink's addon (header-only), so it ships too. */
export const ADDON_PACKAGES = ['netlink', 'node-addon-api'];

const APACHE_REFERENCE = 'On Debian systems, the full text of the Apache License, Version 2.0 can be found in /usr/share/common-licenses/Apache-2.0.';

interface PackageJson {
  readonly version?: string;
  readonly license?: string;
  readonly author?: string | { name?: string; email?: string };
}

function authorOf(p: PackageJson): string | undefined {
  if (typeof p.author === 'string') return p.author;
  if (p.author?.name) return p.author.email ? `${p.author.name} <${p.author.email}>` : p.author.name;
  return undefined;
}

/** A field value spread over continuation lines; blank lines become " .". */
function field(name: string, first: string, body = ''): string {
  const rest = body
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd()}`));
  while (rest[0] === ' .') rest.shift();
  while (rest[rest.length - 1] === ' .') rest.pop();
  return [`${name}: ${first}`, ...rest].join('\n');
}

async function licenseText(dir: string): Promise<string | undefined> {
  const names = await readdir(dir);
  const file = names.find((n) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(n));
  return file ? readFile(`${dir}/${file}`, 'utf8') : undefined;
}

export interface Copyright {
  readonly text: string;
  /** SPDX expression of everything in the package, for the rpm License: tag. */
  readonly spdx: string;
}

export async function renderCopyright(ownLicense: string, bundled: readonly string[], apache: 'reference' | 'full'): Promise<Copyright> {
  const licenses = new Set([ownLicense]);
  const paragraphs = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      `Upstream-Name: ${NAME}`,
      field(
        'Comment',
        `${BUNDLE} is ${NAME} bundled with esbuild together with the npm packages`,
        `listed below, each under its own license. ${ADDON_DIR}/ holds the native addon of the netlink package,\nbuilt from its src/binding.cc with node-addon-api.`,
      ),
    ].join('\n'),
    ['Files: *', `Copyright: the ${NAME} authors`, `License: ${ownLicense}`].join('\n'),
  ];
  const names = [...new Set([...bundled, ...ADDON_PACKAGES])].sort();
  let apacheFull: string | undefined;
  for (const name of names) {
    const dir = `${REPO}node_modules/${name}`;
    const pkg = JSON.parse(await readFile(`${dir}/package.json`, 'utf8')) as PackageJson;
    const license = pkg.license;
    if (!license) throw new Error(`${name} declares no license`);
    const text = await licenseText(dir);
    if (!text) throw new Error(`${name} ships no license file`);
    licenses.add(license);
    const holders = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^copyright\b/i.test(l) && !/copyright (notice|owner|holder)/i.test(l))
      .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ''));
    if (holders.length === 0) holders.push(authorOf(pkg) ?? `the ${name} authors`);
    let body: string;
    if (license === 'Apache-2.0') {
      apacheFull ??= text;
      body = '';
    } else {
      // The license text without its copyright lines, which the Copyright field carries.
      body = text
        .split('\n')
        .filter((l) => !/^\s*copyright\b/i.test(l.trim()) || /copyright (notice|owner|holder)/i.test(l))
        .filter((l, i) => i > 0 || !/^\s*(the )?(MIT|ISC)( license)?(\s*\(MIT\))?\s*$/i.test(l))
        .join('\n');
    }
    paragraphs.push([`Files: node_modules/${name}/*`, field('Copyright', holders[0] as string, holders.slice(1).join('\n')), field('License', license, body)].join('\n'));
  }
  if (licenses.has('Apache-2.0')) {
    // ec2net's own LICENSE is the Apache-2.0 text, when no bundled package carries it.
    if (apache === 'full' && !apacheFull && ownLicense === 'Apache-2.0') apacheFull = await readFile(`${REPO}LICENSE`, 'utf8');
    if (apache === 'full' && !apacheFull) throw new Error('no Apache-2.0 license text among the bundled packages');
    paragraphs.push(field('License', 'Apache-2.0', apache === 'reference' ? APACHE_REFERENCE : apacheFull));
  }
  return { text: `${paragraphs.join('\n\n')}\n`, spdx: [...licenses].sort().join(' AND ') };
}
