#!/usr/bin/env bash
# The cost curve of mining as transactions grow (10^5, 10^6, 10^7): affinity mine in one
# process, affinity_spark on Spark local[2] and Spark MLlib's FPGrowth; wall time and peak
# memory of each, a markdown table in out/spark_scale.md. Run it on an idle machine only.
#
#   bash benches/spark_scale.sh [--sizes 100000,1000000,10000000] [--support 0.001] [--timeout S]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
command -v java >/dev/null || { echo "spark_scale: needs Java 17 or 21 on PATH" >&2; exit 1; }
export PYSPARK_PYTHON=$py PYSPARK_DRIVER_PYTHON=$py
exec "$py" "$root/benches/spark_scale.py" "$@"
