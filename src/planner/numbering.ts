/**
 * Numbering shared by every backend (DESIGN.md, "Numbering").
 */

const TABLE_BASE = 10000;

/** Routing table id, which is also the priority of the ENI's source rules. */
export function tableId(networkCard: number, deviceNumber: number): number {
  return TABLE_BASE + 100 * networkCard + deviceNumber;
}

/** The ifcfg backend's main-table metrics start at the table ids (v1's numbering: metric 10000 + 100×C + D). */
export const IFCFG_METRIC_BASE = TABLE_BASE;
/** The networkd backend's main-table metrics start here (amazon-ec2-net-utils v2's numbering: 512 + 100×C + D). */
export const NETWORKD_METRIC_BASE = 512;

/**
 * Metric of a secondary ENI's main-table routes: the backend's base, or one above the primary ENI's highest
 * main-table metric when that is higher, plus 100×C + D. The primary's routes then always win.
 */
export function mainMetric(base: number, networkCard: number, deviceNumber: number, primaryRouteMetric?: number): number {
  return Math.max(base, primaryRouteMetric === undefined ? 0 : primaryRouteMetric + 1) + 100 * networkCard + deviceNumber;
}
