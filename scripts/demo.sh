#!/usr/bin/env bash
# The demo on a fresh machine: a simulated VPC in network namespaces, three ENIs, ec2ifup, every address reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec node build/scripts/sandbox.js node build/scripts/demo.js "$@"
