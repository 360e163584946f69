#!/usr/bin/env bash
# The explorer page timed in a real browser (benches/explorer_timing.py) on two bundles fitted
# here with the release binary:
#   - Amazon Scientific with the language model (the docs' mining settings);
#   - FIMI retail mined down to at least 100,000 rules, without a model.
#
#   bash benches/explorer_timing.sh [SCIENTIFIC_PREFIX] [RETAIL_DAT]
#
# Nothing else should run meanwhile (2 cores).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/../shared/datasets/amazon-scientific/Scientific}
retail=${2:-$root/../shared/datasets/fimi/retail.dat}
out=${OUT:-$root/out/bench-explorer}
A=$root/target/release/affinity
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
mkdir -p "$out"
bundles=()
if [ -f "$prefix.test.inter" ]; then
  [ -f "$out/scientific/manifest.json" ] || "$A" fit -f unisrec -i "$prefix" -o "$out/scientific" \
    --device cpu --max-len 128 --batch-size 128 --history-items 5 \
    --min-support 0.0005 --min-confidence 0.02 >/dev/null
  bundles+=("Scientific=$out/scientific")
else
  echo "no Scientific data at $prefix; skipped" >&2
fi
if [ -f "$retail" ]; then
  [ -f "$out/retail/manifest.json" ] || "$A" fit -f fimi -i "$retail" -o "$out/retail" --no-model \
    --min-support 0.00012 --min-confidence 0.05 --max-itemsets 10000000 >/dev/null
  bundles+=("retail=$out/retail")
else
  echo "no FIMI retail at $retail; skipped" >&2
fi
[ ${#bundles[@]} -gt 0 ] || { echo "no data; nothing measured" >&2; exit 0; }
lscpu | sed -n 's/^Model name: *//p'
"$venv/bin/python" "$root/benches/explorer_timing.py" --bin "$A" "${bundles[@]}"
