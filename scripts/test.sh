#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every tier in a network sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
node build/scripts/run-tests.js "$@"
