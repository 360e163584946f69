#!/usr/bin/env bash
# The whole test suite: bootstrap on first use, then every crate's tests and doctests.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec cargo test --workspace "$@"
