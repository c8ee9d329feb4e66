/**
 * Whether udev has finished with a network device that just appeared. The kernel names a hotplugged ENI ethN
 * (name_assign_type 1, "enumerated") and udev then renames it (predictable names: ens6) and records it in its
 * database (/run/udev/data/n<ifindex>). A DHCP client started on the old name loses the device when it is renamed,
 * so a device the kernel enumerated is configured once udev has recorded it, as systemd-networkd waits for udev's
 * "initialized" state. A device named by whoever created it (name_assign_type 3, a veth or an admin's link), a
 * system without a running udevd (/run/udev/control absent), or a namespace udev does not serve waits for nothing.
 */
import { existsSync, readFileSync } from 'node:fs';

/** NET_NAME_ENUM (include/uapi/linux/netdevice.h): the kernel chose the name, and udev may change it. */
const NET_NAME_ENUM = '1';
/** How often the udev database is looked at while waiting, and for how long at most. */
const UDEV_LOOK_MS = 10;
export const UDEV_WAIT_MS = 3_000;

export interface UdevDirs {
  readonly sys: string;
  readonly run: string;
}

const SYSTEM: UdevDirs = { sys: '/sys', run: '/run' };

/** Whether udev still has to record the device (false when udev does not handle it at all). */
export function udevPending(index: number, name: string, dirs: UdevDirs = SYSTEM): boolean {
  if (!existsSync(`${dirs.run}/udev/control`)) return false;
  let assigned: string;
  try {
    assigned = readFileSync(`${dirs.sys}/class/net/${name}/name_assign_type`, 'utf8').trim();
  } catch {
    // Gone or renamed already, or a kernel without the attribute: nothing to wait for.
    return false;
  }
  return assigned === NET_NAME_ENUM && !existsSync(`${dirs.run}/udev/data/n${index}`);
}

/**
 * Resolves once udev has recorded the device, or at UDEV_WAIT_MS: 'ready' when there was nothing to wait for,
 * 'recorded' after a wait, 'timeout' at the bound.
 */
export async function awaitUdev(index: number, name: string, sleep: (ms: number) => Promise<void>, dirs: UdevDirs = SYSTEM): Promise<'ready' | 'recorded' | 'timeout'> {
  let waited = 0;
  for (; udevPending(index, name, dirs); waited += UDEV_LOOK_MS) {
    if (waited >= UDEV_WAIT_MS) return 'timeout';
    await sleep(UDEV_LOOK_MS);
  }
  return waited === 0 ? 'ready' : 'recorded';
}
