#!/usr/bin/env bash
# The whole test suite: bootstrap on first use, then every crate's tests and doctests, then the
# facade and its CLI built without the language model (no libtorch).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
cargo test --workspace "$@"
cargo test -p affinity --no-default-features "$@"
