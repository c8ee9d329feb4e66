#!/usr/bin/env bash
# Makes, once, the stock Debian 12 root file system that test/package/booted.test.ts boots with systemd as PID 1
# (systemd-nspawn) and installs the built .deb into: debootstrap from Debian's packages, with the mirror this
# machine's apt is set up to use. What the package depends on is installed here, since the test itself runs
# with no network (the .deb is installed offline). The tree is cached between runs under EC2NET_ROOTFS_CACHE
# (/var/cache/ec2net-test) and made again only when the package list below changes; the test never writes to it
# (it boots an overlay of it).
set -euo pipefail

SUITE=bookworm
# A stock system's nodejs (Debian's own, 18.19 or later) and what the package Depends on, the boot's own
# services (systemd, dbus), and the tools the test runs inside (procps: pgrep; ca-certificates: Debian's node
# warns at every start without it).
PACKAGES=systemd,systemd-sysv,dbus,nodejs,iproute2,isc-dhcp-client,procps,ca-certificates,udev
CACHE=${EC2NET_ROOTFS_CACHE:-/var/cache/ec2net-test}
DEST="$CACHE/debian12-rootfs"
STAMP="$SUITE $PACKAGES"

if [ "$(id -u)" -ne 0 ]; then
    echo "debian-rootfs.sh: run as root" >&2
    exit 1
fi
if [ -f "$DEST/.ec2net-rootfs" ] && [ "$(cat "$DEST/.ec2net-rootfs")" = "$STAMP" ]; then
    echo "debian-rootfs.sh: $DEST is up to date"
    exit 0
fi

# The Debian mirror apt uses on this machine, from its deb822 sources or a sources.list line.
mirror=$(awk '/^URIs:/ {uri=$2} /^Suites:/ && uri != "" { for (i = 2; i <= NF; i++) if ($i == "'"$SUITE"'") { print uri; exit } }' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
    echo "debian-rootfs.sh: no apt source for $SUITE on this machine" >&2
    exit 1
fi

mkdir -p "$CACHE"
work="$DEST.new.$$"
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work" "$mirror"
# A booted container, not an image build: no policy-rc.d, a machine id made at first boot, a name of its own.
rm -f "$work/usr/sbin/policy-rc.d"
: > "$work/etc/machine-id"
echo ec2net-test > "$work/etc/hostname"
echo "$STAMP" > "$work/.ec2net-rootfs"
rm -rf "$DEST"
mv "$work" "$DEST"
trap - EXIT
echo "debian-rootfs.sh: made $DEST"
