/**
 * Scenario folders: IMDS answers and the admin's ifcfg file in, the planned kernel state and files out.
 * test/scenarios/NAME/input.json holds the raw IMDS bodies; expected.json the rules, routes and addresses (as the
 * `ip`-style lines describe*() prints); files/ the exact files, rooted at /; expected-error.json the refusal.
 * `ipv6Router` stands for the router the kernel learned from RA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EC2NET_PROTOCOL, pathsFor } from '../src/config.js';
import { Ec2netError } from '../src/errors.js';
import { parseEniMetadata, type RawEni } from '../src/model/metadata.js';
import { describeAddress, describeRoute, describeRule } from '../src/model/state.js';
import { ifcfgRenderer } from '../src/backends/ifcfg.js';
import { networkdRenderer } from '../src/backends/networkd.js';
import { plan } from '../src/planner/plan.js';
import { adminFlags } from '../src/render/ifcfg-flags.js';

const ROOT = fileURLToPath(new URL('../../test/scenarios/', import.meta.url));

interface Input {
  ifname: string;
  ifcfg?: string;
  settings?: { primaryRules?: boolean };
  /** The IPv6 router's link-local address, as the kernel learned it from RA. */
  ipv6Router?: string;
  /** The highest metric of the primary ENI's main-table routes, as the image's network config set them. */
  primaryRouteMetric?: number;
  /**
   * The networkd backend (files/ then holds the unit or drop-in); ifcfg when absent. `shadowedBy`: the file networkd
   * reads first for this interface alone; `catchAll`: a file it reads first that selects other interfaces too.
   */
  backend?: { kind: 'networkd'; shadowedBy?: string; catchAll?: string };
  imds: Omit<RawEni, 'networkCard' | 'ipv4Prefix'> & { networkCard?: string; ipv4Prefix?: string };
}

function walk(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const full = `${dir}/${name}`;
    if (statSync(full).isDirectory()) for (const [k, v] of walk(full, `${prefix}/${name}`)) out.set(k, v);
    else out.set(`${prefix}/${name}`, readFileSync(full, 'utf8'));
  }
  return out;
}

function shadowOf(b: NonNullable<Input['backend']>): { name: string; only: boolean } | undefined {
  if (b.shadowedBy) return { name: b.shadowedBy, only: true };
  return b.catchAll ? { name: b.catchAll, only: false } : undefined;
}

function run(input: Input) {
  const flags = adminFlags(input.ifcfg, `/etc/sysconfig/network-scripts/ifcfg-${input.ifname}`);
  const meta = parseEniMetadata({ networkCard: undefined, ipv4Prefix: undefined, ...input.imds });
  return plan({
    meta,
    ifname: input.ifname,
    flags,
    settings: { protocol: EC2NET_PROTOCOL, primaryRules: input.settings?.primaryRules ?? false },
    renderer: input.backend ? networkdRenderer(pathsFor('/'), shadowOf(input.backend)) : ifcfgRenderer(pathsFor('/')),
    ...(input.ipv6Router ? { ipv6Router: input.ipv6Router } : {}),
    ...(input.primaryRouteMetric !== undefined ? { primaryRouteMetric: input.primaryRouteMetric } : {}),
  });
}

const names = readdirSync(ROOT).sort();
test('there are scenarios to run', () => assert.ok(names.length >= 10, `found ${names.length}`));

for (const name of names) {
  const dir = `${ROOT}${name}`;
  const input = JSON.parse(readFileSync(`${dir}/input.json`, 'utf8')) as Input;
  test(`scenario ${name}`, () => {
    if (existsSync(`${dir}/expected-error.json`)) {
      const want = JSON.parse(readFileSync(`${dir}/expected-error.json`, 'utf8')) as { kind: string; key?: string };
      assert.throws(
        () => run(input),
        (e: unknown) => e instanceof Ec2netError && e.kind === want.kind && (want.key === undefined || e.fields.key === want.key),
      );
      return;
    }
    const want = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as {
      table: number;
      skip?: string;
      rules: string[];
      routes: string[];
      addresses: string[];
    };
    const p = run(input);
    assert.equal(p.table, want.table);
    assert.equal(p.skip, want.skip);
    assert.deepEqual(p.rules.map(describeRule).sort(), [...want.rules].sort());
    assert.deepEqual(p.routes.map(describeRoute).sort(), [...want.routes].sort());
    assert.deepEqual(p.addresses.map(describeAddress).sort(), [...want.addresses].sort());
    const files = new Map(p.files.map((f) => [f.path, f.content]));
    assert.deepEqual(files, walk(`${dir}/files`));
  });
}
