/**
 * Numbering shared by every backend (DESIGN.md, "Numbering").
 */

const TABLE_BASE = 10000;
const NETWORKD_METRIC_BASE = 512;

/** Routing table id, which is also the priority of the ENI's source rules. */
export function tableId(networkCard: number, deviceNumber: number): number {
  return TABLE_BASE + 100 * networkCard + deviceNumber;
}

/** Metric of a secondary ENI's main-table default route in the ifcfg backend (the v1 behaviour: the table id). */
export function ifcfgMainMetric(networkCard: number, deviceNumber: number): number {
  return tableId(networkCard, deviceNumber);
}

/** Metric of a secondary ENI's main-table default route in the networkd backend. */
export function networkdMainMetric(networkCard: number, deviceNumber: number): number {
  return NETWORKD_METRIC_BASE + 100 * networkCard + deviceNumber;
}
