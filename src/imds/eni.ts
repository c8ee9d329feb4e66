/**
 * Reads one ENI's metadata from IMDS and validates it. Propagation is the hard part: a freshly attached ENI can
 * answer 404 for its own keys, and `device-number` 0 for tens of seconds. Only the top-level `mac` is really
 * device 0, so a 0 for any other MAC is read as "not propagated yet" and retried, never trusted: trusting it is
 * how two ENIs came to share a table in the predecessors.
 */
import { Ec2netError } from '../errors.js';
import { formatCidr4 } from '../model/ipv4.js';
import { formatCidr6 } from '../model/ipv6.js';
import { parseEniMetadata, type EniMetadata } from '../model/metadata.js';
import { parseMac, splitLines } from '../model/validate.js';
import { backoffMs, type ImdsAnswer, type ImdsClient, type ImdsClock } from './client.js';

/** Rounds of re-reading an ENI whose keys have not propagated yet; with jittered backoff this spans 6 to 30 s. */
export const PROPAGATION_ROUNDS = 12;
const PROPAGATION_BASE_MS = 500;

function transient(key: string, reason: string, fields: Record<string, unknown> = {}): Ec2netError {
  return new Ec2netError('Transient', `IMDS did not answer usefully for ${key}: ${reason}`, { key, ...fields });
}

async function required(client: ImdsClient, key: string): Promise<string> {
  const answer = await client.get(key);
  if (answer.kind === 'found') return answer.body;
  throw transient(key, answer.kind === 'notFound' ? 'not found (404)' : answer.reason);
}

function optional(answer: ImdsAnswer, key: string): string | undefined {
  if (answer.kind === 'found') return answer.body;
  if (answer.kind === 'notFound') return undefined;
  throw transient(key, answer.reason);
}

/** The MACs IMDS lists under network/interfaces/macs/, lower case. A 404 here is Transient too: every instance has one. */
export async function listEniMacs(client: ImdsClient): Promise<string[]> {
  const body = await required(client, 'network/interfaces/macs/');
  const macs: string[] = [];
  for (const line of splitLines(body)) {
    const mac = parseMac(line.endsWith('/') ? line.slice(0, -1) : line);
    if (!mac) throw new Ec2netError('InvalidMetadata', 'IMDS value refused: not a MAC directory entry', { key: 'network/interfaces/macs/', entry: JSON.stringify(line.slice(0, 64)) });
    macs.push(mac);
  }
  return macs;
}

export async function topLevelMac(client: ImdsClient): Promise<string> {
  const body = await required(client, 'mac');
  const mac = parseMac(body.trim());
  if (!mac) throw new Ec2netError('InvalidMetadata', 'IMDS value refused: top-level mac is not a MAC address', { key: 'mac' });
  return mac;
}

/** IMDS's answers for what can change while an ENI stays attached (see readAddressAnswers). */
export interface AddressAnswers {
  readonly primaryMac: string;
  readonly localIpv4s: string | undefined;
  readonly ipv4Prefix: string | undefined;
  readonly ipv6s: string | undefined;
  readonly ipv6Prefix: string | undefined;
  /** The answers as one string: equal keys parse to equal metadata. */
  readonly key: string;
}

/**
 * Re-reads what can change while an ENI stays attached: its private IPv4 and IPv6 addresses and delegated
 * prefixes. device-number, network-card, interface-id and the subnet are fixed for the life of an attachment (a
 * new attachment is a new device, which gets a full read), so the periodic refresh asks for four keys, not nine.
 */
export async function readAddressAnswers(client: ImdsClient, previous: EniMetadata, primaryMac: string): Promise<AddressAnswers> {
  const base = `network/interfaces/macs/${previous.mac}/`;
  // An IPv6-only ENI has no local-ipv4s (404); for any other a 404 is IMDS failing, not the addresses going.
  const [localIpv4s, prefixes, ipv6s, prefixes6] = await Promise.all([
    previous.localIpv4s.length === 0 ? client.get(`${base}local-ipv4s`).then((a) => optional(a, `${base}local-ipv4s`)) : required(client, `${base}local-ipv4s`),
    client.get(`${base}ipv4-prefix`),
    client.get(`${base}ipv6s`),
    client.get(`${base}ipv6-prefix`),
  ]);
  const ipv4Prefix = optional(prefixes, `${base}ipv4-prefix`);
  const ipv6sText = optional(ipv6s, `${base}ipv6s`);
  const ipv6Prefix = optional(prefixes6, `${base}ipv6-prefix`);
  const key = JSON.stringify([primaryMac, localIpv4s ?? null, ipv4Prefix ?? null, ipv6sText ?? null, ipv6Prefix ?? null]);
  return { primaryMac, localIpv4s, ipv4Prefix, ipv6s: ipv6sText, ipv6Prefix, key };
}

/** The ENI's metadata with its addresses as re-read; the fixed keys are the previous reading's. Pure. */
export function withAddresses(previous: EniMetadata, answers: AddressAnswers): EniMetadata {
  return parseEniMetadata({
    mac: previous.mac,
    topLevelMac: answers.primaryMac,
    deviceNumber: String(previous.deviceNumber),
    networkCard: String(previous.networkCard),
    interfaceId: previous.eniId,
    localIpv4s: answers.localIpv4s,
    subnetIpv4CidrBlock: previous.subnet ? formatCidr4(previous.subnet) : undefined,
    ipv4Prefix: answers.ipv4Prefix,
    ipv6s: answers.ipv6s,
    ipv6Prefix: answers.ipv6Prefix,
    subnetIpv6CidrBlocks: previous.subnetIpv6.map(formatCidr6).join('\n'),
  });
}

type Round = { done: EniMetadata } | { retry: Ec2netError };

const ENI_KEYS = [
  'device-number',
  'network-card',
  'interface-id',
  'local-ipv4s',
  'subnet-ipv4-cidr-block',
  'ipv4-prefix',
  'ipv6s',
  'ipv6-prefix',
  'subnet-ipv6-cidr-blocks',
] as const;
type EniKey = (typeof ENI_KEYS)[number];

/**
 * Whether the instance has several network cards, from the primary ENI's `network-card` answer. Only multi-card
 * types answer `network-card`, and they answer it for the primary ENI too; the predecessors read a freshly
 * attached ENI's missing or empty answer as card 0, and gave it the table of the card-0 ENI with the same device
 * number.
 */
function isMultiCard(primaryCard: ImdsAnswer, primaryMac: string): boolean {
  return optional(primaryCard, primaryCardKey(primaryMac)) !== undefined;
}

function primaryCardKey(primaryMac: string): string {
  return `network/interfaces/macs/${primaryMac}/network-card`;
}

function primaryCardOf(client: ImdsClient, primaryMac: string): Promise<ImdsAnswer> {
  return client.get(primaryCardKey(primaryMac));
}

/** The ENI's keys, in ENI_KEYS order. Never rejects: every answer, a failed one too, is an ImdsAnswer. */
function readKeys(client: ImdsClient, mac: string): Promise<ImdsAnswer[]> {
  const base = `network/interfaces/macs/${mac}/`;
  return Promise.all(ENI_KEYS.map((k) => client.get(base + k)));
}

/**
 * One reading of the ENI's keys. `primaryCard` answers whether the instance is multi-card; it is only waited for
 * when this ENI's own `network-card` is missing.
 */
async function readOnce(mac: string, primaryMac: string, answers: readonly ImdsAnswer[], primaryCard: () => Promise<ImdsAnswer>): Promise<Round> {
  const base = `network/interfaces/macs/${mac}/`;
  const byKey = new Map(ENI_KEYS.map((k, i) => [k, answers[i] as ImdsAnswer]));
  const get = (k: EniKey) => optional(byKey.get(k) as ImdsAnswer, base + k);
  for (const k of ['device-number', 'interface-id'] as const) {
    if (get(k) === undefined) return { retry: transient(base + k, 'not found (404): the ENI has not propagated yet', { mac }) };
  }
  const localIpv4s = get('local-ipv4s');
  const subnet4 = get('subnet-ipv4-cidr-block');
  // An IPv6-only network interface has no local-ipv4s and no subnet-ipv4-cidr-block (both 404, AWS's
  // instance-metadata categories): told from an ENI still propagating by its IPv6 keys, which it has.
  const ipv6Only = localIpv4s === undefined && subnet4 === undefined && get('ipv6s') !== undefined && get('subnet-ipv6-cidr-blocks') !== undefined;
  if (localIpv4s === undefined && !ipv6Only) {
    return { retry: transient(base + 'local-ipv4s', 'not found (404), and no IPv6 addresses either: the ENI has not propagated yet', { mac }) };
  }
  const card = get('network-card');
  if (card === '' || (card === undefined && mac !== primaryMac && isMultiCard(await primaryCard(), primaryMac))) {
    return { retry: transient(base + 'network-card', 'empty or not found on a multi-card instance: not propagated yet', { mac }) };
  }
  // Only an IPv6-only subnet's ENI (no IPv4, or one 169.254.x.x address) has no IPv4 subnet block; otherwise it is
  // propagation.
  if (subnet4 === undefined && localIpv4s !== undefined && !/^169\.254\.[0-9.]+\n?$/.test(localIpv4s)) {
    return { retry: transient(base + 'subnet-ipv4-cidr-block', 'not found (404): the ENI has not propagated yet', { mac }) };
  }
  const meta = parseEniMetadata({
    mac,
    topLevelMac: primaryMac,
    deviceNumber: get('device-number') as string,
    networkCard: card,
    interfaceId: get('interface-id') as string,
    localIpv4s,
    subnetIpv4CidrBlock: subnet4,
    ipv4Prefix: get('ipv4-prefix'),
    ipv6s: get('ipv6s'),
    ipv6Prefix: get('ipv6-prefix'),
    subnetIpv6CidrBlocks: get('subnet-ipv6-cidr-blocks'),
  });
  if (meta.deviceNumber === 0 && meta.networkCard === 0 && !meta.isPrimary) {
    return { retry: transient(base + 'device-number', 'answered 0 for a MAC that is not the primary: not propagated yet', { mac }) };
  }
  return { done: meta };
}

/**
 * The validated metadata of the ENI with this MAC. Throws NotAnEni when IMDS does not list the MAC (the interface
 * is not an ENI), Transient when IMDS cannot be read or the ENI does not settle within PROPAGATION_ROUNDS, and
 * InvalidMetadata when a value is malformed.
 *
 * The first reading of the ENI's keys goes out with the MAC list and the top-level mac once IMDS has issued a
 * token, and the primary ENI's `network-card` as soon as the primary is known: a command waits for the token and
 * then two rounds of requests, not four. Nothing read is used before the MAC list has shown the MAC is an ENI of
 * this instance.
 */
export async function readEni(client: ImdsClient, clock: ImdsClock, mac: string): Promise<EniMetadata> {
  const macsAnswer = listEniMacs(client);
  const primaryAnswer = topLevelMac(client);
  // The ENI's keys go out beside these two once IMDS has issued a token: while it does not answer at all, nine
  // more requests retrying beside them would only hold every one of them up.
  const firstKeys = client.hasToken().then(
    (ok) => (ok ? readKeys(client, mac) : undefined),
    () => undefined,
  );
  const [macs, primaryMac] = await Promise.all([macsAnswer, primaryAnswer]);
  const firstPrimaryCard = mac === primaryMac ? undefined : primaryCardOf(client, primaryMac);
  if (!macs.includes(mac)) throw new Ec2netError('NotAnEni', 'IMDS does not list this MAC: not an ENI of this instance', { mac });
  let last: Ec2netError | undefined;
  for (let round = 0; round < PROPAGATION_ROUNDS; round++) {
    if (round > 0) await clock.sleep(PROPAGATION_BASE_MS + backoffMs(round, clock.random()));
    const answers = (round === 0 ? await firstKeys : undefined) ?? (await readKeys(client, mac));
    const primaryCard = round === 0 && firstPrimaryCard ? () => firstPrimaryCard : () => primaryCardOf(client, primaryMac);
    const r = await readOnce(mac, primaryMac, answers, primaryCard);
    if ('done' in r) return r.done;
    last = r.retry;
  }
  throw last ?? transient(mac, 'no answer');
}
