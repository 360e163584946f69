#!/usr/bin/env bash
# Exact top-k: affinity-rank against faiss IndexFlatIP and PyTorch, side by side in one run:
# builds the release binaries, installs faiss-cpu into the bootstrap venv when missing, and
# prints the markdown table of docs/benchmarks.md.
#
#   bash benches/rank_vs_faiss.sh [--items 100000 --dim 384 --queries 10000 --k 10]
#
# Do not run it while anything else is busy on the machine: the figures are throughputs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
"$py" -c 'import faiss' 2>/dev/null || "$py" -m pip install --quiet faiss-cpu==1.15.1
cd "$root"
exec "$py" benches/rank_vs_faiss.py "$@"
