/**
 * Numbering shared by every backend (DESIGN.md, "Numbering").
 */

const TABLE_BASE = 10000;

/** Routing table id, which is also the priority of the ENI's source rules. */
export function tableId(networkCard: number, deviceNumber: number): number {
  return TABLE_BASE + 100 * networkCard + deviceNumber;
}

/** The card and device a routing table id stands for; undefined outside ec2net's numbering (cards 0..99). */
export function eniOfTable(table: number): { networkCard: number; deviceNumber: number } | undefined {
  const n = table - TABLE_BASE;
  if (!Number.isInteger(n) || n < 0 || n >= 100 * 100) return undefined;
  return { networkCard: Math.floor(n / 100), deviceNumber: n % 100 };
}

/** The ifcfg backend's main-table metrics start at the table ids (v1's numbering: metric 10000 + 100×C + D). */
export const IFCFG_METRIC_BASE = TABLE_BASE;
/** The networkd backend's main-table metrics start here (amazon-ec2-net-utils v2's numbering: 512 + 100×C + D). */
export const NETWORKD_METRIC_BASE = 512;
/**
 * The NetworkManager backend's start at the same place: NetworkManager gives an ethernet profile metric 100 by
 * default (the primary's on RHEL), so 512 + 100×C + D ranks every secondary behind it.
 */
export const NM_METRIC_BASE = NETWORKD_METRIC_BASE;

/**
 * Metric of a secondary ENI's main-table routes: 100×C + D above the backend's base, or above the primary ENI's
 * highest main-table metric when that is higher. A secondary has 100×C + D ≥ 1 (device 0 on card 0 is the
 * primary), so the primary's routes always win; a primary at the base itself (amazon-ec2-net-utils v2 gives it 512)
 * leaves the backend's numbering as it is.
 */
export function mainMetric(base: number, networkCard: number, deviceNumber: number, primaryRouteMetric?: number): number {
  return Math.max(base, primaryRouteMetric ?? 0) + 100 * networkCard + deviceNumber;
}
