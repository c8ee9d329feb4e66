/**
 * Backend detection and networkd's file precedence, over a temporary file tree (EC2NET_ROOT).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectBackend, managedByNetworkManager, networkdShadow, networkFiles } from '../../src/agent/backend.js';
import { pathsFor } from '../../src/config.js';

const LINK = { index: 7, name: 'eth1', mac: '02:aa:00:00:00:02', up: false, altnames: [] };

function tree(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'ec2net-backend-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return { root, paths: pathsFor(root) };
}

describe('backend detection', () => {
  test('networkd where its state file exists, ifcfg otherwise; BACKEND overrides', async () => {
    const withNetworkd = tree({ 'run/systemd/netif/state': 'OPER_STATE=routable\n' });
    const without = tree({});
    assert.equal(await detectBackend(withNetworkd.paths, 'auto'), 'networkd');
    assert.equal(await detectBackend(without.paths, 'auto'), 'ifcfg');
    assert.equal(await detectBackend(withNetworkd.paths, 'ifcfg'), 'ifcfg');
    assert.equal(await detectBackend(without.paths, 'networkd'), 'networkd');
  });

  test('NetworkManager manages a link when it keeps a device file for its ifindex', async () => {
    const { paths } = tree({ 'run/NetworkManager/devices/7': '[device]\n' });
    assert.equal(await managedByNetworkManager(paths, LINK), true);
    assert.equal(await managedByNetworkManager(paths, { ...LINK, index: 8 }), false);
  });
});

describe("networkd's .network files", () => {
  test('/etc masks /run masks /usr/lib for the same name; a /dev/null symlink masks without being read', async () => {
    const { root, paths } = tree({
      'etc/systemd/network/10-a.network': 'etc\n',
      'run/systemd/network/10-a.network': 'run\n',
      'usr/lib/systemd/network/10-a.network': 'lib\n',
      'usr/lib/systemd/network/20-b.network': '[Match]\nName=eth1\n',
      'usr/lib/systemd/network/30-c.link': 'not a .network\n',
    });
    symlinkSync('/dev/null', join(root, 'etc/systemd/network/20-b.network'));
    const files = await networkFiles(paths);
    assert.deepEqual(files, [{ name: '10-a.network', content: 'etc\n' }]);
  });

  test("a matching file that sorts before ec2net's unit shadows it; the agent's own unit does not", async () => {
    const { paths } = tree({
      'etc/systemd/network/10-netplan-eth1.network': '[Match]\nName=eth1\n',
      'run/systemd/network/70-ec2net-eth1.network': `[Match]\nMACAddress=${LINK.mac}\n`,
      'usr/lib/systemd/network/99-default.network': '[Match]\nName=*\n',
    });
    assert.equal(await networkdShadow(paths, LINK), '10-netplan-eth1.network');
    assert.equal(await networkdShadow(paths, { ...LINK, name: 'eth2', mac: '02:aa:00:00:00:03' }), undefined);
  });
});
