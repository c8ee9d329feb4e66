/**
 * The persistent-name rules (render, parse, first name wins) and the rules files shipped in udev/: a strict check
 * of the rule syntax they use, and an evaluation of them against synthetic event environments. The same rules
 * run under the real udevadm in test/net/udev.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isEc2netError } from '../../src/errors.js';
import {
  PERSISTENT_NET_RULES_FILE,
  parsePersistentNetRules,
  parseRuleLine,
  persistentNetRulesPath,
  renderPersistentNetRules,
  withPersistentName,
  type PersistentName,
  type RuleOp,
  type RuleToken,
} from '../../src/render/udev.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UDEV_DIR = `${REPO}udev/`;
const SYSTEMD_DIR = `${REPO}systemd/`;
const RULES_DIR = '/root/etc/udev/rules.d';

const A: PersistentName = { mac: '02:ec:00:00:00:11', name: 'eth1' };
const B: PersistentName = { mac: '02:ec:00:00:00:12', name: 'eth2' };

function lineFor(e: PersistentName): string {
  return `SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="${e.mac}", ATTR{type}=="1", NAME="${e.name}"`;
}

function refusedAs(kind: string) {
  return (e: unknown) => isEc2netError(e) && e.kind === kind;
}

describe('persistent-name rules: render and parse', () => {
  test('renders one line per MAC, sorted by MAC, under a header comment, at 70-ec2net-persistent-net.rules', () => {
    const spec = renderPersistentNetRules(`${RULES_DIR}/`, [B, A]);
    assert.equal(spec.path, `${RULES_DIR}/${PERSISTENT_NET_RULES_FILE}`);
    assert.equal(spec.path, persistentNetRulesPath(RULES_DIR));
    assert.equal(PERSISTENT_NET_RULES_FILE, '70-ec2net-persistent-net.rules');
    assert.equal(spec.mode, 0o644);
    const lines = spec.content.split('\n');
    assert.equal(lines.at(-1), '', 'ends with a newline');
    const rules = lines.filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(rules, [lineFor(A), lineFor(B)]);
    assert.ok(lines[0]?.startsWith('# '), 'starts with a header comment');
  });

  test('round trip: parse(render(x)) = x sorted, and an absent file has no entries', () => {
    const entries = [B, A, { mac: '0a:00:00:00:00:01', name: 'ens6' }];
    const parsed = parsePersistentNetRules(renderPersistentNetRules(RULES_DIR, entries).content);
    assert.deepEqual(parsed, [...entries].sort((x, y) => x.mac.localeCompare(y.mac)));
    assert.deepEqual(parsePersistentNetRules(undefined), []);
    assert.deepEqual(parsePersistentNetRules(renderPersistentNetRules(RULES_DIR, []).content), []);
  });

  test('MACs are written in lower case, as sysfs prints them and as udev compares them', () => {
    const spec = renderPersistentNetRules(RULES_DIR, [{ mac: '02:EC:00:00:00:AB', name: 'eth3' }]);
    assert.ok(spec.content.includes('ATTR{address}=="02:ec:00:00:00:ab"'));
  });

  test('the parser skips comments and blank lines and accepts udev spacing around pairs', () => {
    const text = `# hand note\n\n  ${lineFor(A).replace(/, /g, ' ,  ')}  \n`;
    assert.deepEqual(parsePersistentNetRules(text), [A]);
  });

  const foreign: Record<string, string> = {
    'another rule': 'SUBSYSTEM=="net", ACTION=="add", RUN+="/bin/sh -c reboot"',
    'an extra pair': `${lineFor(A)}, RUN+="/bin/true"`,
    'a missing pair': lineFor(A).replace('DRIVERS=="?*", ', ''),
    'pairs in another order': lineFor(A).replace('SUBSYSTEM=="net", ACTION=="add"', 'ACTION=="add", SUBSYSTEM=="net"'),
    'NAME:= instead of NAME=': lineFor(A).replace('NAME="', 'NAME:="'),
    'an upper-case MAC (udev would never match it)': lineFor({ mac: '02:EC:00:00:00:11', name: 'eth1' }),
    'a multicast MAC': lineFor({ mac: '03:ec:00:00:00:11', name: 'eth1' }),
    'a name with a slash': lineFor({ mac: A.mac, name: 'eth/1' }),
    'a name with a substitution': lineFor({ mac: A.mac, name: 'eth$env{X}' }),
    'a name that is too long': lineFor({ mac: A.mac, name: 'e'.repeat(16) }),
    'a broken quote': lineFor(A).replace('NAME="eth1"', 'NAME="eth1'),
    'a line continuation': `${lineFor(A)} \\`,
    'a trailing comma': `${lineFor(A)},`,
  };
  for (const [what, line] of Object.entries(foreign)) {
    test(`the parser refuses ${what}, naming the line, rather than dropping it on the next write`, () => {
      assert.throws(
        () => parsePersistentNetRules(`# header\n${lineFor(B)}\n${line}\n`, '/x/70-ec2net-persistent-net.rules'),
        (e: unknown) => isEc2netError(e, 'InvalidArgument') && e.fields['line'] === 3 && e.fields['path'] === '/x/70-ec2net-persistent-net.rules',
      );
    });
  }

  test('the parser refuses a MAC with two names and a name with two MACs', () => {
    assert.throws(() => parsePersistentNetRules(`${lineFor(A)}\n${lineFor({ mac: A.mac, name: 'eth5' })}\n`), refusedAs('InvalidArgument'));
    assert.throws(() => parsePersistentNetRules(`${lineFor(A)}\n${lineFor({ mac: B.mac, name: A.name })}\n`), refusedAs('InvalidArgument'));
  });

  const hostile: PersistentName[] = [
    { mac: '02:ec:00:00:00:11", RUN+="/bin/sh', name: 'eth1' },
    { mac: '02:ec:00:00:00:11\nSUBSYSTEM=="net"', name: 'eth1' },
    { mac: '02:ec:00:00:00', name: 'eth1' },
    { mac: '00:00:00:00:00:00', name: 'eth1' },
    { mac: 'ff:ff:ff:ff:ff:ff', name: 'eth1' },
    { mac: '02:ec:00:00:00:11', name: 'eth1", RUN+="/bin/sh' },
    { mac: '02:ec:00:00:00:11', name: 'eth1\nSUBSYSTEM=="net", RUN+="/bin/sh"' },
    { mac: '02:ec:00:00:00:11', name: '$kernel' },
    { mac: '02:ec:00:00:00:11', name: '%k' },
    { mac: '02:ec:00:00:00:11', name: '' },
    { mac: '02:ec:00:00:00:11', name: '..' },
  ];
  for (const e of hostile) {
    test(`the renderer refuses ${JSON.stringify(e)}`, () => {
      assert.throws(() => renderPersistentNetRules(RULES_DIR, [A, e]), refusedAs('InvalidArgument'));
    });
    test(`withPersistentName refuses ${JSON.stringify(e)}`, () => {
      assert.throws(() => withPersistentName([A], e.mac, e.name), refusedAs('InvalidArgument'));
    });
  }

  test('the renderer refuses a MAC with two names and a name with two MACs', () => {
    assert.throws(() => renderPersistentNetRules(RULES_DIR, [A, { mac: A.mac, name: 'eth5' }]), refusedAs('InvalidArgument'));
    assert.throws(() => renderPersistentNetRules(RULES_DIR, [A, { mac: B.mac, name: A.name }]), refusedAs('InvalidArgument'));
  });
});

describe('withPersistentName: a MAC keeps its first name, a name is never reassigned', () => {
  test('a new MAC with a free name is added', () => {
    assert.deepEqual(withPersistentName([B], A.mac, A.name), { outcome: 'added', entries: [A, B] });
  });

  test('the MAC is compared in lower case', () => {
    assert.deepEqual(withPersistentName([A], '02:EC:00:00:00:11', 'eth1'), { outcome: 'unchanged', entries: [A] });
  });

  test('a MAC that already has this name is unchanged', () => {
    assert.deepEqual(withPersistentName([A, B], A.mac, A.name), { outcome: 'unchanged', entries: [A, B] });
  });

  test('a MAC that comes back under another kernel name keeps its first name', () => {
    assert.deepEqual(withPersistentName([A, B], A.mac, 'eth3'), { outcome: 'mac-has-name', name: 'eth1', entries: [A, B] });
  });

  test('a name that belongs to another MAC is not reassigned', () => {
    assert.deepEqual(withPersistentName([A], B.mac, A.name), { outcome: 'name-taken', owner: A.mac, entries: [A] });
  });

  test('the entries it is given are not modified', () => {
    const entries = [B];
    withPersistentName(entries, A.mac, A.name);
    assert.deepEqual(entries, [B]);
  });
});

// ---- A strict checker for the rule syntax the shipped files use -------------------------------------------

const MATCH: RuleOp[] = ['==', '!='];
/** Keys we use, with the operators that mean something for them and whether they take {attr}. */
const KEYS: Record<string, { ops: RuleOp[]; attr: boolean }> = {
  SUBSYSTEM: { ops: MATCH, attr: false },
  ACTION: { ops: MATCH, attr: false },
  DRIVERS: { ops: MATCH, attr: false },
  KERNEL: { ops: MATCH, attr: false },
  // ATTR{x}= would write to sysfs: not something these files do.
  ATTR: { ops: MATCH, attr: true },
  ENV: { ops: [...MATCH, '=', '+=', ':='], attr: true },
  TAG: { ops: [...MATCH, '=', '+=', '-='], attr: false },
  RUN: { ops: ['=', '+='], attr: false },
  NAME: { ops: [...MATCH, '=', ':='], attr: false },
  GOTO: { ops: ['='], attr: false },
  LABEL: { ops: ['='], attr: false },
};
const ACTIONS = new Set(['add', 'remove', 'change', 'move', 'bind', 'unbind', 'online', 'offline']);
/** Substitutions udev expands in values; anything else after $ or % is a typo that udev would log and keep. */
const SUBSTITUTION = /\$(?:name|kernel|env\{[A-Za-z0-9_]+\})|%k/g;

interface Rule {
  readonly line: number;
  readonly tokens: RuleToken[];
}

/** Parses a rules file into its rule lines, or throws naming every line that breaks the subset. */
function checkRules(text: string, file: string): Rule[] {
  const rules: Rule[] = [];
  const problems: string[] = [];
  const labels: { name: string; line: number }[] = [];
  const gotos: { name: string; line: number }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const parsed = parseRuleLine(raw);
    if ('error' in parsed) {
      problems.push(`${file}:${line}: ${parsed.error}`);
      return;
    }
    for (const t of parsed.tokens) {
      const spec = KEYS[t.key];
      const where = `${file}:${line}: ${t.key}`;
      if (spec === undefined) problems.push(`${where}: unknown key`);
      else if (!spec.ops.includes(t.op)) problems.push(`${where}: operator ${t.op} not allowed`);
      else if (spec.attr !== (t.attr !== undefined)) problems.push(`${where}: {attr} ${spec.attr ? 'missing' : 'not allowed'}`);
      if (t.key === 'ACTION' && !t.value.split('|').every((a) => ACTIONS.has(a))) problems.push(`${where}: unknown action ${t.value}`);
      if (/[$%]/.test(t.value.replace(SUBSTITUTION, ''))) problems.push(`${where}: unknown substitution in ${t.value}`);
      if (t.key === 'LABEL') labels.push({ name: t.value, line });
      if (t.key === 'GOTO') gotos.push({ name: t.value, line });
    }
    if (parsed.tokens.some((t) => t.key === 'LABEL') && parsed.tokens.length > 1) problems.push(`${file}:${line}: LABEL shares its line`);
    rules.push({ line, tokens: parsed.tokens });
  });
  for (const g of gotos) {
    // udev jumps forward only, to a LABEL of the same file.
    if (!labels.some((l) => l.name === g.name && l.line > g.line)) problems.push(`${file}:${g.line}: GOTO ${g.name} has no LABEL after it`);
  }
  if (new Set(labels.map((l) => l.name)).size !== labels.length) problems.push(`${file}: duplicate LABEL`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return rules;
}

// ---- An evaluator of that subset against a synthetic event ----------------------------------------------

interface SyntheticEvent {
  action: string;
  subsystem: string;
  kernel: string;
  /** Properties: those the kernel sends, ID_NET_DRIVER as 80-net-setup-link.rules sets it, and on remove the db. */
  env: Record<string, string>;
  /** Drivers of the device and its parents in sysfs; empty on remove (the device is gone from sysfs). */
  drivers: string[];
  attrs: Record<string, string>;
}

interface Outcome {
  name: string;
  env: Record<string, string>;
  tags: string[];
  run: string[];
}

/** udev patterns: *, ?, [...] and |-separated alternatives, matched against the whole value. */
function globMatch(pattern: string, value: string): boolean {
  return pattern.split('|').some((alt) => {
    const re = alt.replace(/[.+^${}()\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp(`^${re}$`).test(value);
  });
}

function evaluate(files: { name: string; rules: Rule[] }[], ev: SyntheticEvent): Outcome {
  const out: Outcome = { name: ev.kernel, env: { ...ev.env }, tags: [], run: [] };
  const expand = (v: string): string =>
    v.replace(SUBSTITUTION, (s) => (s === '$name' ? out.name : s === '$kernel' || s === '%k' ? ev.kernel : (out.env[s.slice(5, -1)] ?? '')));
  const sysfsGone = ev.action === 'remove';
  const matches = (t: RuleToken): boolean => {
    const test = (v: string | undefined): boolean => v !== undefined && globMatch(t.value, v);
    let hit: boolean;
    switch (t.key) {
      case 'SUBSYSTEM': hit = test(ev.subsystem); break;
      case 'ACTION': hit = test(ev.action); break;
      case 'KERNEL': hit = test(ev.kernel); break;
      case 'NAME': hit = test(out.name); break;
      case 'ENV': hit = test(out.env[t.attr ?? ''] ?? ''); break;
      case 'TAG': hit = out.tags.some(test); break;
      // A parent walk or an attribute read needs the device in sysfs; on remove neither can match.
      case 'DRIVERS': hit = !sysfsGone && ev.drivers.some(test); break;
      case 'ATTR': hit = !sysfsGone && test(ev.attrs[t.attr ?? '']); break;
      default: throw new Error(`evaluate: ${t.key} cannot be matched`);
    }
    return t.op === '==' ? hit : !hit;
  };
  for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    let skipTo: string | undefined;
    for (const rule of file.rules) {
      if (skipTo !== undefined) {
        if (rule.tokens.some((t) => t.key === 'LABEL' && t.value === skipTo)) skipTo = undefined;
        continue;
      }
      const conditions = rule.tokens.filter((t) => t.op === '==' || t.op === '!=');
      if (!conditions.every(matches)) continue;
      for (const t of rule.tokens.filter((x) => x.op !== '==' && x.op !== '!=')) {
        const value = expand(t.value);
        if (t.key === 'GOTO') skipTo = t.value;
        else if (t.key === 'ENV') out.env[t.attr ?? ''] = t.op === '+=' && out.env[t.attr ?? ''] ? `${out.env[t.attr ?? '']} ${value}` : value;
        else if (t.key === 'TAG') out.tags = t.op === '-=' ? out.tags.filter((x) => x !== value) : [...out.tags, value];
        else if (t.key === 'RUN') out.run = t.op === '+=' ? [...out.run, value] : [value];
        else if (t.key === 'NAME') out.name = value;
      }
    }
  }
  return out;
}

// ---- The shipped files ----------------------------------------------------------------------------------

const shipped = readdirSync(UDEV_DIR).filter((f) => f.endsWith('.rules')).sort();
const HOTPLUG = '90-ec2net.rules';
const CLEANUP_RUN = '/usr/bin/systemctl --no-block start ec2net-cleanup.service';

function loadShipped(): { name: string; rules: Rule[] }[] {
  return shipped.map((name) => ({ name, rules: checkRules(readFileSync(`${UDEV_DIR}${name}`, 'utf8'), name) }));
}

function ev(over: Partial<SyntheticEvent> & { driver?: string }): SyntheticEvent {
  const { driver, ...rest } = over;
  const action = rest.action ?? 'add';
  return {
    action,
    subsystem: 'net',
    kernel: 'eth1',
    env: driver === undefined ? {} : { ID_NET_DRIVER: driver },
    drivers: action === 'remove' || driver === undefined ? [] : [driver],
    attrs: action === 'remove' ? {} : { address: '02:ec:00:00:00:11', type: '1' },
    ...rest,
  };
}

describe('udev/ rules files', () => {
  test('udev/ holds the hotplug rules, and only .rules files', () => {
    assert.ok(shipped.includes(HOTPLUG));
    assert.deepEqual(readdirSync(UDEV_DIR).filter((f) => !f.endsWith('.rules')), []);
  });

  for (const name of shipped) {
    test(`${name} passes the strict syntax check`, () => {
      assert.ok(checkRules(readFileSync(`${UDEV_DIR}${name}`, 'utf8'), name).length > 0);
    });
  }

  test('the rendered persistent-name file passes the strict syntax check', () => {
    assert.equal(checkRules(renderPersistentNetRules(RULES_DIR, [A, B]).content, PERSISTENT_NET_RULES_FILE).length, 2);
  });

  const broken: Record<string, string> = {
    'an unknown key': 'SUBSYSTEMS=="net", GOTO="x"\nLABEL="x"',
    'a match operator on an assignment key': 'RUN=="/bin/true"',
    'an assignment to ATTR (a sysfs write)': 'ATTR{mtu}="9001"',
    'ENV without {attr}': 'ENV=="x"',
    'an unknown action': 'ACTION=="ad", GOTO="x"\nLABEL="x"',
    'a GOTO without its LABEL': 'GOTO="nowhere"',
    'a GOTO to a LABEL before it': 'LABEL="x"\nGOTO="x"',
    'an unknown substitution': 'ENV{SYSTEMD_WANTS}+="ec2net-ifup@$nmae.service"',
    'a missing comma': 'ACTION=="add" RUN+="/bin/true"',
    'single quotes': "ACTION=='add'",
  };
  for (const [what, text] of Object.entries(broken)) {
    test(`the checker refuses ${what}`, () => {
      assert.throws(() => checkRules(text, 'x.rules'));
    });
  }

  test(`${HOTPLUG} sorts after systemd's 80-net-setup-link.rules, which sets ID_NET_DRIVER`, () => {
    assert.ok(HOTPLUG > '80-net-setup-link.rules');
    assert.ok(PERSISTENT_NET_RULES_FILE < HOTPLUG, 'the rename happens before the unit name is made from $name');
  });

  test('every unit the rules start exists in systemd/', () => {
    const text = readFileSync(`${UDEV_DIR}${HOTPLUG}`, 'utf8');
    assert.ok(text.includes('ec2net-ifup@$name.service'));
    assert.ok(existsSync(`${SYSTEMD_DIR}ec2net-ifup@.service`));
    assert.ok(text.includes(CLEANUP_RUN));
    assert.ok(existsSync(`${SYSTEMD_DIR}ec2net-cleanup.service`));
  });

  test('the hotplug rules read nothing from sysfs, which is gone on remove: they match only ACTION, SUBSYSTEM, ENV', () => {
    const rules = loadShipped().find((f) => f.name === HOTPLUG)?.rules ?? [];
    const removeRules = rules.filter((r) => r.tokens.some((t) => t.key === 'RUN'));
    assert.equal(removeRules.length, 1);
    for (const r of rules.filter((x) => !x.tokens.some((t) => t.key === 'LABEL'))) {
      const keys = r.tokens.filter((t) => t.op === '==' || t.op === '!=').map((t) => t.key);
      assert.deepEqual(keys.filter((k) => !['ACTION', 'SUBSYSTEM', 'ENV'].includes(k)), [], `line ${r.line}`);
    }
  });
});

describe('udev/ rules against synthetic events', () => {
  const files = loadShipped();
  const IFUP = (name: string) => `ec2net-ifup@${name}.service`;

  for (const driver of ['ena', 'ixgbevf', 'vif']) {
    test(`add of an ENI (driver ${driver}): tagged for systemd, wants ec2net-ifup@eth1.service, runs nothing`, () => {
      const out = evaluate(files, ev({ driver }));
      assert.equal(out.env['SYSTEMD_WANTS'], IFUP('eth1'));
      assert.deepEqual(out.tags, ['systemd']);
      assert.deepEqual(out.run, [], 'nothing blocks udev');
    });
    test(`remove of an ENI (driver ${driver}, from the udev database): starts the cleanup without blocking`, () => {
      const out = evaluate(files, ev({ action: 'remove', driver }));
      assert.deepEqual(out.run, [CLEANUP_RUN]);
      assert.equal(out.env['SYSTEMD_WANTS'], undefined);
    });
  }

  const virtual = ['veth', 'bridge', 'tun', '802.1Q VLAN Support', 'bonding', 'macvlan', 'vxlan', 'dummy'];
  for (const driver of [...virtual, undefined]) {
    test(`a ${driver ?? 'driverless'} device triggers nothing on add or remove`, () => {
      for (const action of ['add', 'remove']) {
        const out = evaluate(files, ev({ action, driver, kernel: 'docker0' }));
        assert.deepEqual({ run: out.run, tags: out.tags, wants: out.env['SYSTEMD_WANTS'] }, { run: [], tags: [], wants: undefined }, action);
      }
    });
  }

  for (const action of ['change', 'move', 'bind', 'unbind', 'online', 'offline']) {
    test(`ACTION=${action} on an ENI triggers nothing`, () => {
      const out = evaluate(files, ev({ action, driver: 'ena' }));
      assert.deepEqual({ run: out.run, tags: out.tags }, { run: [], tags: [] });
    });
  }

  test('a non-net device with an ENI driver triggers nothing', () => {
    const out = evaluate(files, ev({ subsystem: 'pci', driver: 'ena' }));
    assert.deepEqual({ run: out.run, tags: out.tags }, { run: [], tags: [] });
  });

  test('with a persistent name, the ENI is renamed and the unit is wanted under the persistent name', () => {
    const withNames = [...files, { name: PERSISTENT_NET_RULES_FILE, rules: checkRules(renderPersistentNetRules(RULES_DIR, [A]).content, 'p') }];
    const out = evaluate(withNames, ev({ driver: 'ena', kernel: 'eth3' }));
    assert.equal(out.name, 'eth1');
    assert.equal(out.env['SYSTEMD_WANTS'], IFUP('eth1'));
  });

  test('a VLAN on the ENI, carrying its MAC but no driver, keeps its own name', () => {
    const withNames = [...files, { name: PERSISTENT_NET_RULES_FILE, rules: checkRules(renderPersistentNetRules(RULES_DIR, [A]).content, 'p') }];
    const vlan = evaluate(withNames, ev({ driver: '802.1Q VLAN Support', kernel: 'eth1.100', drivers: [] }));
    assert.equal(vlan.name, 'eth1.100');
    assert.equal(vlan.env['SYSTEMD_WANTS'], undefined);
  });

  test('another MAC keeps its kernel name', () => {
    const withNames = [...files, { name: PERSISTENT_NET_RULES_FILE, rules: checkRules(renderPersistentNetRules(RULES_DIR, [A]).content, 'p') }];
    const out = evaluate(withNames, ev({ driver: 'ena', kernel: 'eth4', attrs: { address: B.mac, type: '1' } }));
    assert.equal(out.name, 'eth4');
    assert.equal(out.env['SYSTEMD_WANTS'], IFUP('eth4'));
  });
});
