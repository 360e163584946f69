#!/usr/bin/env bash
# The main job: bootstrap on first use, then the end-to-end example on the shipped data.
# Extra arguments go to the example.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec cargo run --release --example groceries -- "$@"
