#!/usr/bin/env bash
# `affinity serve` against the service a user would otherwise deploy (FastAPI + uvicorn +
# sentence-transformers + faiss, benches/serve_reference.py), on the Scientific bundle, driven
# by one load generator (wrk, Debian's package) on 127.0.0.1 only, each side with two cores'
# worth of workers, one after the other. Then a 10-minute mixed-route soak of `affinity serve`
# with a reload every 10 s, RSS sampled every 30 s.
#
#   bash benches/serve_vs_fastapi.sh [BUNDLE] [SCIENTIFIC_PREFIX]
#
# Two request sets, both from the test histories: by history (`items`: both sides encode the
# history text) and by user id (`user`: both sides take the bundle's cached user vector).
# BUNDLE defaults to out/bench-bundle/sci-users, fitted here first when missing (the settings
# of benches/bundle_scientific.sh, plus --user-vectors). Installs wrk (apt) and the reference's
# Python packages (pinned, into the bootstrap venv) when missing. Every run is bounded in time
# (DURATION seconds per latency run, SOAK seconds for the soak).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bundle=${1:-$root/out/bench-bundle/sci-users}
prefix=${2:-$root/../shared/datasets/amazon-scientific/Scientific}
duration=${DURATION:-30}
soak=${SOAK:-600}
parts=${PARTS:-latency,soak,reference}
out=${OUT:-$root/out/bench-serve}
A=$root/target/release/affinity
if [ ! -f "$prefix.test.inter" ]; then
  echo "no Scientific data at $prefix (see ../shared/datasets); nothing measured" >&2
  exit 0
fi
mkdir -p "$out"
bash "$root/scripts/bootstrap.sh"
# The server as README builds it for serving: jemalloc as the process's malloc (FEATURES= for
# glibc's, to compare).
features=${FEATURES-jemalloc}
(cd "$root" && cargo build --release --bin affinity --bin affinity-model --features "$features" >/dev/null)
if [ ! -f "$bundle/manifest.json" ]; then
  echo "fitting $bundle (tuned, user vectors cached)"
  t0=$(date +%s.%N)
  "$A" fit -i "$prefix" -f unisrec --max-len 128 --batch-size 128 --history-items 5 \
    --min-support 0.0005 --min-confidence 0.02 --tune --user-vectors -o "$bundle"
  echo "fit with user vectors: $(echo "$(date +%s.%N) - $t0" | bc) s"
fi
bundle=$(realpath "$bundle")
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
py=$venv/bin/python
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
"$py" -c 'import fastapi, uvicorn, httptools, uvloop, sentence_transformers, faiss' 2>/dev/null ||
  "$py" -m pip install --quiet fastapi==0.163.2 'uvicorn[standard]==0.54.0' sentence-transformers==6.2.0 faiss-cpu==1.15.1

# Request bodies from real histories: each test user's sequence (names as in the bundle).
"$py" - "$prefix" "$bundle" "$out" <<'PY'
import json, sys
prefix, bundle, out = sys.argv[1:]
def index(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8")]
    return {int(i): name for name, i in rows if i.isdigit()}
users, items = index(prefix + ".user2index"), index(prefix + ".item2index")
known = set(json.load(open(bundle + "/users.json"))["users"])
catalog = json.load(open(bundle + "/catalog.json"))
title = {n: (t.get("title") or n) for n, t in zip(catalog["items"], catalog["text"])}
recommend, by_user, mixed = [], [], []
for n, line in enumerate(list(open(prefix + ".test.inter", encoding="utf-8"))[1:]):
    u, history, _ = line.rstrip("\n").split("\t")
    names = [items[int(i)] for i in history.split()]
    body = json.dumps({"items": names, "k": 10})
    recommend.append(("POST", "/v1/recommend", body))
    user = users[int(u)]
    assert user in known, user
    user_body = json.dumps({"user": user, "k": 10})
    by_user.append(("POST", "/v1/recommend", user_body))
    # The mixed run, per 20 requests: 1 by history and 1 search (both encode), 4 cold-start
    # users, 5 known users, 5 similar items, 4 item pages.
    r = n % 20
    if r == 0:
        mixed.append(("POST", "/v1/recommend", body))
    elif r == 10:
        query = " ".join(title[names[-1]].split()[:6])
        mixed.append(("POST", "/v1/search", json.dumps({"query": query, "k": 10})))
    elif r % 4 == 0:
        mixed.append(("POST", "/v1/recommend", json.dumps({"user": "new-" + user, "k": 10})))
    elif r % 4 == 1:
        mixed.append(("POST", "/v1/recommend", user_body))
    elif r % 4 == 2:
        mixed.append(("GET", "/v1/similar/" + names[-1] + "?k=10", ""))
    else:
        mixed.append(("GET", "/v1/items/" + names[-1], ""))
for name, rows in (("history", recommend), ("user", by_user), ("mixed", mixed)):
    with open(f"{out}/{name}.tsv", "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    # wrk runs this per thread: the requests are read once, then cycled.
    open(f"{out}/{name}.lua", "w").write(f"""
local rows = {{}}
for line in io.lines("{out}/{name}.tsv") do
  local method, path, body = line:match("([^\t]*)\t([^\t]*)\t(.*)")
  rows[#rows + 1] = {{method, path, body}}
end
local n = 0
request = function()
  n = n + 1
  local r = rows[(n % #rows) + 1]
  if r[1] == "GET" then return wrk.format("GET", r[2]) end
  return wrk.format(r[1], r[2], {{["Content-Type"] = "application/json"}}, r[3])
end
""")
print(f"{len(recommend)} bodies by history, {len(by_user)} by user, {len(mixed)} mixed requests")
PY

# wrk's summary as one line: requests/s, p50, p99, requests, non-2xx, socket errors.
summary() {
  awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /requests in/ {n=$1}
       /Non-2xx/ {bad=$NF} /Socket errors/ {err=$0}
       END {printf "%s req/s, p50 %s, p99 %s, %s requests, non-2xx %s, %s\n", rps, p50, p99, n, (bad==""?0:bad), (err==""?"no socket errors":err)}' "$1"
}
wait_ready() { # url
  for _ in $(seq 1 600); do curl -sf "$1/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "no answer from $1" >&2; return 1
}
run_side() { # name url
  for set in history user; do
    wrk -t1 -c4 -d5s -s "$out/$set.lua" "$2" >/dev/null # warm-up
    wrk -t1 -c1 -d"${duration}s" --latency -s "$out/$set.lua" "$2" > "$out/$1-$set-c1.txt"
    wrk -t1 -c32 -d"${duration}s" --latency --timeout 30s -s "$out/$set.lua" "$2" > "$out/$1-$set-c32.txt"
    echo "$1 by $set c=1:  $(summary "$out/$1-$set-c1.txt")"
    echo "$1 by $set c=32: $(summary "$out/$1-$set-c32.txt")"
  done
}

token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
echo "$token" > "$out/token"
"$A" serve -b "$bundle" --addr 127.0.0.1:0 --workers 2 --admin-token-file "$out/token" \
  > "$out/affinity.out" 2> "$out/affinity.err" &
ours=$!
trap 'kill $ours 2>/dev/null || true; [ -z "${theirs:-}" ] || kill $theirs 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$out/affinity.out" && break; sleep 0.2; done
url=$(sed -n 's/listening on //p' "$out/affinity.out")
wait_ready "$url"
case $parts in *latency*) run_side affinity "$url" ;; esac

# The mixed soak with a reload every 10 s, affinity only. RSS is read at a quiet moment (no
# reload for 3 s, so a replaced bundle has been freed) after a warm-up of WARMUP seconds
# (default 120) in the same regime, and again at the end. The allocator's caches fill over the
# first minutes of traffic (every thread's, every batch size's): measured under this traffic
# without reloads, RSS rose 3.8 % from 30 s to 60 s, then 2.1 % over the next four minutes.
warmup=${WARMUP:-120}
rss_of() { awk '/^(VmRSS|RssAnon):/ {printf "%s %s kB ", $1, $2}' "/proc/$1/status"; }
reloads() {
  while sleep 10; do
    curl -s -o /dev/null -w "%{http_code}\n" -XPOST -H "Authorization: Bearer $token" "$url/v1/admin/reload"
  done >> "$out/reloads.txt"
}
if [[ $parts == *soak* ]]; then
  : > "$out/reloads.txt"
  reloads & reloader=$!
  wrk -t1 -c8 -d"${warmup}s" -s "$out/mixed.lua" "$url" >/dev/null
  kill $reloader; sleep 3
  rss_warm=$(awk '/VmRSS/ {print $2}' "/proc/$ours/status")
  echo "after the ${warmup} s warm-up: $(rss_of $ours)"
  reloads & reloader=$!
  (while sleep 30; do echo "$(date +%s) $(awk '/VmRSS/ {print $2}' "/proc/$ours/status")"; done \
    > "$out/rss.txt") & sampler=$!
  wrk -t1 -c8 -d"${soak}s" --latency --timeout 30s -s "$out/mixed.lua" "$url" > "$out/affinity-soak.txt"
  kill $reloader $sampler; sleep 3
  rss_end=$(awk '/VmRSS/ {print $2}' "/proc/$ours/status")
  echo "after the soak: $(rss_of $ours)"
  echo "affinity soak, mixed routes, c=8, ${soak}s: $(summary "$out/affinity-soak.txt")"
  echo "reloads: $(grep -c '^200$' "$out/reloads.txt") answered 200, $(grep -vc '^200$' "$out/reloads.txt") otherwise"
  echo "RSS every 30 s (kB): $(awk '{printf "%s ", $2}' "$out/rss.txt")"
  echo "RSS after warm-up ${rss_warm} kB, after the soak ${rss_end} kB ($(echo "scale=2; 100 * ($rss_end - $rss_warm) / $rss_warm" | bc) %)"
  curl -s "$url/metrics" | grep -E '^affinity_requests_total' > "$out/metrics.txt" || true
fi
kill -TERM $ours; wait $ours || true

[[ $parts == *reference* ]] || exit 0
port=$((20000 + RANDOM % 20000))
(cd "$root/benches" && AFFINITY_BUNDLE="$bundle" exec "$venv/bin/uvicorn" serve_reference:app \
  --host 127.0.0.1 --port "$port" --workers 2 --log-level warning > "$out/reference.log" 2>&1) &
theirs=$!
wait_ready "http://127.0.0.1:$port"
run_side reference "http://127.0.0.1:$port"
kill $theirs; wait $theirs 2>/dev/null || true
