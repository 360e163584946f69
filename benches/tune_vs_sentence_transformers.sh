#!/usr/bin/env bash
# Fine-tuning speed on the real task, side by side in one run: `affinity train` on the Amazon
# Scientific pairs (history of 5 titles -> next product, 128 tokens, batch 32, one epoch, the
# in-batch objective) against sentence-transformers' own `fit` with
# MultipleNegativesRankingLoss on the very same pairs (exported by the first run), each side
# a fresh process on the same 2 cores, one after the other.
#
#   bash benches/tune_vs_sentence_transformers.sh [PAIRS] [SCIENTIFIC_PREFIX]
#
# PAIRS (default 1920) training pairs, a seeded sample. Our side runs three ways: as
# sentence-transformers does (both towers trained at every step, random batches), with length
# buckets, and with length buckets and a cached target tower (targets encoded once per
# epoch without gradients; that encoding is inside the timed epoch). No validation (the
# figure is training speed; quality: docs/benchmarks.md). Installs the reference's Python
# packages (pinned, into the bootstrap venv) when missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pairs=${1:-1920}
prefix=${2:-$root/../shared/datasets/amazon-scientific/Scientific}
out=${OUT:-$root/out/bench-tune}
A=$root/target/release/affinity
if [ ! -f "$prefix.test.inter" ]; then
  echo "no Scientific data at $prefix (see ../shared/datasets); nothing measured" >&2
  exit 0
fi
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
model=$(sed -n 's/^AFFINITY_MODEL_DIR = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
"$py" -c 'import sentence_transformers, datasets, accelerate' 2>/dev/null ||
  "$py" -m pip install --quiet sentence-transformers==6.2.0 datasets==5.2.0 accelerate==1.16.0
mkdir -p "$out"
common=(-i "$prefix" -f unisrec --model "$model" --max-len 128 --history-items 5 --batch-size 32
  --epochs 1 --lr 5e-5 --max-examples "$pairs" --max-validation 0 --no-progress)

ours() { # name, flags...
  local name=$1; shift
  rm -rf "${out:?}/$name"
  "$A" train "${common[@]}" --out "$out/$name" "$@" > "$out/$name.log" 2>&1
  cp "$out/$name/train_report.json" "$out/$name.json"
}

ours trained --export-pairs "$out/pairs.tsv"
ours buckets --length-buckets
ours cached --length-buckets --target-tower cached
"$py" "$root/benches/tune_vs_sentence_transformers.py" "$out/pairs.tsv" --model "$model" \
  --batch-size 32 --max-len 128 --lr 5e-5 > "$out/reference.log" 2>&1
# Its trainer prints a summary of its own first; the JSON line is the last.
tail -n 1 "$out/reference.log" > "$out/reference.json"
"$py" - "$out" "$pairs" <<'PY2' | tee "$out/summary.txt"
import json, sys
out, pairs = sys.argv[1], int(sys.argv[2])
ref = json.load(open(f"{out}/reference.json"))
print(f"{pairs} pairs, batch 32, 128 tokens, one epoch, 2 cores")
print(f"{'side':<48} {'seconds':>8} {'pairs/s':>8} {'ratio':>6}")
print(f"{'sentence-transformers fit (MNRL)':<48} {ref['seconds']:8.1f} {ref['pairs_per_second']:8.2f} {1:6.2f}")
for name, label in (("trained", "affinity, as sentence-transformers"),
                    ("buckets", "affinity, length buckets"),
                    ("cached", "affinity, buckets + cached target tower")):
    e = json.load(open(f"{out}/{name}.json"))["epochs"][1]
    rate = pairs / e["seconds"]
    print(f"{label:<48} {e['seconds']:8.1f} {rate:8.2f} {rate / ref['pairs_per_second']:6.2f}")
    if e.get("target_seconds", 0) > 0:
        steps = e["seconds"] - e["target_seconds"]
        # Encoding the targets is once per epoch: its share falls as the epoch grows.
        print(f"{'  of which encoding the targets once':<48} {e['target_seconds']:8.1f}")
        print(f"{'  the training steps alone':<48} {steps:8.1f} {pairs / steps:8.2f} {pairs / steps / ref['pairs_per_second']:6.2f}")
PY2
