#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmark (tcpdump) need on a fresh Debian 12 machine (scripts/apt-packages.txt with apt-get,
# a debootstrapped Debian 12 root file system for the booted-package test, npm ci), then builds the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it installs packages, and the tests create network namespaces)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The tests only need udev's and systemd's tools (udevadm test, systemd-analyze verify). A first install of udev
# would otherwise start udevd and trigger every device of this machine: refuse service starts while installing.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
fi
trap '[ -n "$guard" ] && rm -f "$guard"' EXIT
apt-get update
xargs apt-get install -y --no-install-recommends < scripts/apt-packages.txt
# The stock Debian 12 system the booted-package test installs the .deb into (cached; needs the registry once).
bash scripts/debian-rootfs.sh
npm ci --no-audit --no-fund
npm run build
