#!/usr/bin/env bash
# affinity_spark.FPGrowth vs Spark MLlib's FPGrowth on local[2]: parity (Groceries, retail.dat,
# T10I4D100K.dat; same itemsets, counts and rules row for row) and speed (retail.dat @ 0.01 %,
# T10I4D100K @ 0.1 %), one markdown table each, also written to out/spark_vs_mllib.md.
#
#   bash benches/spark_vs_mllib.sh [--part parity|speed|all] [--repeats N] [--data DIR]
#
# The bootstrap venv holds pyspark and the affinity-rs wheel (scripts/bootstrap.sh installs
# both). The speed part is skipped while a Rust build runs (wall times would be meaningless),
# unless FORCE=1. Bounded: the whole run stops after SPARK_BENCH_TIMEOUT seconds (default 3600).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
command -v java >/dev/null || { echo "spark_vs_mllib: needs Java 17 or 21 on PATH" >&2; exit 1; }
"$py" -c 'import pyspark, affinity, affinity_spark' || {
  echo "spark_vs_mllib: pyspark, affinity or affinity_spark missing from $venv" >&2; exit 1; }
args=("$@")
if [ "${FORCE:-0}" != 1 ] && pgrep -x rustc >/dev/null; then
  case " $* " in
    *" --part parity "*) ;;
    *) echo "spark_vs_mllib: rustc is running; only the parity part runs (FORCE=1 to time anyway)" >&2
       args=(--part parity "${@}") ;;
  esac
fi
export PYSPARK_PYTHON=$py PYSPARK_DRIVER_PYTHON=$py
exec timeout "${SPARK_BENCH_TIMEOUT:-3600}" "$py" "$root/benches/spark_vs_mllib.py" "${args[@]}"
