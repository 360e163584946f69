#!/usr/bin/env bash
# affinity mine (the `affinity` binary, as whole processes) vs pyfim 6.28 on the FIMI sets,
# side by side in one run, and `affinity --version`: builds the release binaries, installs pyfim
# into the bootstrap venv when missing, and prints the markdown table of docs/benchmarks.md.
#
#   bash benches/mine_vs_pyfim.sh [DATASETS_DIR]   (default ../shared/datasets/fimi)
#
# Do not run it while anything else is busy on the machine: the figures are wall times.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
"$py" -c 'import fim' 2>/dev/null || "$py" -m pip install --quiet pyfim==6.28
exec "$py" "$root/benches/mine_vs_pyfim.py" "$@"
