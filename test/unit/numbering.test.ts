/**
 * Numbering (DESIGN.md, "Numbering") and the primary ENI's route metric that a secondary's main-table routes must
 * rank behind (issue 14 item 1): systemd.network(5) gives DHCPv4 routes metric 1024 unless RouteMetric= is set
 * (Amazon Linux 2023), netplan writes RouteMetric=100 (Ubuntu), dhclient-script and ifupdown leave 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelFactsOf, primaryRouteMetricOf } from '../../src/planner/facts.js';
import { IFCFG_METRIC_BASE, NETWORKD_METRIC_BASE, mainMetric, tableId } from '../../src/planner/numbering.js';
import { parseEniMetadata } from '../../src/model/metadata.js';
import type { Route } from '../../src/model/state.js';

test('tables and the backends’ own metrics: 10000 + 100×C + D, 512 + 100×C + D', () => {
  assert.equal(tableId(1, 3), 10103);
  assert.equal(mainMetric(IFCFG_METRIC_BASE, 1, 3), 10103);
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 0, 2), 514);
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 0, 2, 100), 514, "netplan's 100 is already behind 512");
});

test('the primary’s routes above the base put every secondary behind them, in the same order', () => {
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 0, 1, 1024), 1025);
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 0, 2, 1024), 1026);
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 1, 0, 1024), 1124);
  // v2 gives the primary 512 itself: the secondaries keep 513, 514, … behind it.
  assert.equal(mainMetric(NETWORKD_METRIC_BASE, 0, 1, 512), 513);
  assert.equal(mainMetric(IFCFG_METRIC_BASE, 0, 1, 20_000), 20_001);
});

const route = (over: Partial<Route>): Route => ({ family: 4, table: 254, dst: '0.0.0.0/0', dev: 'eth0', gateway: '10.0.1.1', metric: 0, scope: 'universe', protocol: 16, ...over });
const LINKS = [
  { index: 2, name: 'eth0', mac: '02:00:00:00:00:01', up: true, altnames: [] },
  { index: 3, name: 'eth1', mac: '02:00:00:00:00:02', up: true, altnames: [] },
];

test("the primary's highest main-table metric: its IPv4 routes and IPv6 default, not other interfaces' or tables'", () => {
  const routes = [
    route({ metric: 1024 }),
    route({ dst: '10.0.1.0/24', gateway: undefined, scope: 'link', metric: 1024, protocol: 2 }),
    route({ dev: 'eth1', metric: 5000 }),
    route({ table: 10001, metric: 9000 }),
    route({ family: 6, dst: '2001:db8:1::/64', gateway: undefined, metric: 7000 }),
    route({ family: 6, dst: '::/0', gateway: 'fe80::1', metric: 1100, protocol: 9 }),
  ];
  assert.equal(primaryRouteMetricOf(routes, LINKS, '02:00:00:00:00:01'), 1100);
  assert.equal(primaryRouteMetricOf([], LINKS, '02:00:00:00:00:01'), undefined);
  assert.equal(primaryRouteMetricOf(routes, LINKS, '02:00:00:00:00:09'), undefined, 'no link with the primary MAC');
});

test('kernel facts of the primary ENI itself carry no primary metric', () => {
  const meta = (mac: string) =>
    parseEniMetadata({ mac, topLevelMac: '02:00:00:00:00:01', deviceNumber: mac.endsWith('1') ? '0' : '1', networkCard: undefined, interfaceId: 'eni-0123456789abcdef0', localIpv4s: '10.0.1.10', subnetIpv4CidrBlock: '10.0.1.0/24', ipv4Prefix: undefined });
  const snap = { routes: [route({ metric: 1024 })], links: LINKS };
  assert.equal(kernelFactsOf(snap, meta('02:00:00:00:00:02'), 'eth1', 236).primaryRouteMetric, 1024);
  assert.equal(kernelFactsOf(snap, meta('02:00:00:00:00:01'), 'eth0', 236).primaryRouteMetric, undefined);
});
