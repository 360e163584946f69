#!/usr/bin/env bash
# The whole test suite: bootstrap on first use (which also builds and installs the Python
# wheel), then every crate's tests and doctests (affinity-rank's also at narrower instruction
# sets), then the recommender and the command line built without the language model (no
# libtorch), then the wheel's Python tests (the Spark ones skip where Java is absent). The
# explorer's browser test runs right after the workspace's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
cargo test --workspace "$@"
# affinity-rank's kernels again at each narrower instruction set (the tests above ran the
# widest this CPU has), so every precision and kernel is checked on an AVX-512 machine too.
for isa in avx2 portable; do
  AFFINITY_RANK_ISA=$isa cargo test -p affinity-rank --lib --test brute_force --test oracle "$@"
done
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' .cargo/config.toml)
# The explorer page in a real browser (Debian's chromium, driven by playwright), against the
# `affinity` binary the tests above built, before the runs below rebuild it without the model.
PYTHONDONTWRITEBYTECODE=1 AFFINITY_BIN="$root/target/debug/affinity" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/browser
cargo test -p affinity-recommend --no-default-features "$@"
cargo test -p affinity --no-default-features --features cli "$@"
# No .pytest_cache or __pycache__ left in the clone.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/affinity-py/tests
