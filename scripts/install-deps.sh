#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian 12 machine (scripts/apt-packages.txt, npm ci),
# then builds the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it installs packages, and the tests create network namespaces)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
xargs apt-get install -y --no-install-recommends < scripts/apt-packages.txt
npm ci --no-audit --no-fund
npm run build
