/**
 * Reads the admin's flags from an existing ifcfg-IF file.
 */
import { Ec2netError } from '../errors.js';
import { parseKeyValues } from '../model/keyvalues.js';

export interface AdminFlags {
  /** EC2SYNC=no: leave this interface alone entirely. */
  readonly ec2sync: boolean;
  /** MAINROUTETABLE=no: no main-table default route. */
  readonly mainRouteTable: boolean;
  /** EC2PROVISIONPFXIPS=yes: add every address of each delegated IPv4 prefix. */
  readonly provisionPrefixIps: boolean;
  /** The admin's EC2PROVISIONPFXIPS value as written, carried into the rewritten file ('' when unset). */
  readonly provisionPrefixIpsValue: string;
  /** The admin's MAINROUTETABLE value as written ('' when unset). */
  readonly mainRouteTableValue: string;
}

/** Values we carry back into a file that a shell sources: plain words only. */
const SAFE_VALUE = /^[A-Za-z0-9_.:-]*$/;

export const DEFAULT_FLAGS: AdminFlags = {
  ec2sync: true,
  mainRouteTable: true,
  provisionPrefixIps: false,
  provisionPrefixIpsValue: '',
  mainRouteTableValue: '',
};

export function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (v === 'yes' || v === 'true' || v === '1') return true;
  if (v === 'no' || v === 'false' || v === '0') return false;
  return undefined;
}

/** The admin's flags; defaults where the file is absent (text undefined) or a key is unset. */
export function adminFlags(text: string | undefined, path: string): AdminFlags {
  if (text === undefined) return DEFAULT_FLAGS;
  const values = parseKeyValues(text, path);
  const check = (key: string): string => {
    const v = values.get(key) ?? '';
    if (!SAFE_VALUE.test(v)) throw new Ec2netError('InvalidArgument', 'ifcfg flag has a value that is not a plain word', { path, key });
    if (v !== '' && yesNo(v) === undefined) throw new Ec2netError('InvalidArgument', 'ifcfg flag must be yes or no', { path, key });
    return v;
  };
  const ec2sync = check('EC2SYNC');
  const main = check('MAINROUTETABLE');
  const pfx = check('EC2PROVISIONPFXIPS');
  return {
    ec2sync: yesNo(ec2sync) ?? true,
    mainRouteTable: yesNo(main) ?? true,
    provisionPrefixIps: yesNo(pfx) ?? false,
    provisionPrefixIpsValue: pfx,
    mainRouteTableValue: main,
  };
}
