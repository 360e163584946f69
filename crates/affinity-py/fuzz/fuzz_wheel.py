"""Random calls of the wheel's entry points, each batch in a child interpreter, for a set time.

    python crates/affinity-py/fuzz/fuzz_wheel.py [SECONDS] [SEED]

Every call draws its arguments from ranges that cover the edges the hostile review of issue 36
found (huge k, ids near 2**31, counts that disagree, weights near 2**63, nulls, empty input,
wrong types) and many ordinary ones. A call may return or raise one of the errors the wheel
documents (ValueError, TypeError, MemoryError and its CapExceeded, OverflowError); anything
else is a finding, and so is a child that dies (an abort or a segfault) or hangs. The child
runs under a 4 GiB address-space limit, so an allocation the wheel does not guard shows as a
dead child rather than a machine out of memory. Prints the calls made and the findings, with
the seed and call number that reproduce each; exits 1 if there was any.
"""

import os
import random
import resource
import subprocess
import sys
import time

CHILD = r'''
import random, sys
import numpy as np, pyarrow as pa
import affinity

seed, first, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ALLOWED = (ValueError, TypeError, MemoryError, OverflowError)
EDGE_INTS = [0, 1, 2, 3, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -2**63, 10**12]

def an_int(r):
    return r.choice(EDGE_INTS) if r.random() < 0.2 else r.randint(0, 40)

def an_item(r):
    roll = r.random()
    if roll < 0.05:
        return None
    if roll < 0.5:
        return r.randint(0, 12)
    if roll < 0.55:
        return r.choice([2**31 - 1, 2**31, -1, 2**62])
    return r.choice("abcdefghij") + ("" if r.random() < 0.9 else " ")

def baskets(r, ints_only=False):
    out = []
    for _ in range(r.randint(0, 12)):
        if r.random() < 0.05:
            out.append(None)
            continue
        basket = [an_item(r) for _ in range(r.randint(0, 8))]
        if ints_only:
            basket = [b if isinstance(b, int) or b is None else 1 for b in basket]
        out.append(basket)
    return out

def maybe_arrow(r, rows):
    if r.random() < 0.5:
        return rows
    try:
        return pa.array(rows)
    except Exception:
        return rows

def call(r):
    which = r.choice(["mine", "rules", "top_k", "pfp", "group", "shard"])
    if which == "mine":
        kwargs = {}
        if r.random() < 0.5:
            kwargs["min_count"] = an_int(r)
        else:
            kwargs["min_support"] = r.choice([0.0, 0.1, 0.5, 1.0, 1.5, -0.1, 1e-9, "0.07"])
        if r.random() < 0.3:
            kwargs["max_len"] = an_int(r)
        if r.random() < 0.3:
            kwargs["max_itemsets"] = r.choice([1, 5, 1000, None, 0])
        kwargs["target"] = r.choice(["frequent", "closed", "maximal", "other"])
        affinity.mine(maybe_arrow(r, baskets(r)), **kwargs)
    elif which == "rules":
        n = r.randint(0, 6)
        table = pa.table({
            "items": pa.array([[r.choice("abcd") for _ in range(r.randint(1, 3))] for _ in range(n)]),
            "freq": pa.array([r.choice([1, 2, 3, 5, 0, -2, 2**62]) for _ in range(n)], type=pa.int64()),
        })
        affinity.rules(table, an_int(r), min_confidence=r.choice([0.0, 0.5, 1.0, 2.0, -1.0]))
    elif which == "top_k":
        n, d, q = r.randint(0, 30), r.randint(1, 8), r.randint(0, 5)
        vectors = np.random.default_rng(r.randint(0, 99)).normal(size=(n, d)).astype(np.float32)
        if r.random() < 0.1 and n:
            vectors[0, 0] = np.nan
        queries = np.random.default_rng(r.randint(0, 99)).normal(size=(q, d)).astype(np.float32)
        kwargs = {"metric": r.choice(["cosine", "inner_product", "l2"])}
        if r.random() < 0.4:
            kwargs["exclude"] = [[an_int(r) for _ in range(r.randint(0, 3))] for _ in range(q)]
        if r.random() < 0.4:
            kwargs["history"] = [[an_int(r) for _ in range(r.randint(0, 3))] for _ in range(q)]
            kwargs["mode"] = r.choice(["mixed", "discover", "buy-again", "sideways"])
        affinity.top_k(vectors, queries, an_int(r), **kwargs)
    elif which == "pfp":
        prefixes = baskets(r, ints_only=True)
        weights = None
        if r.random() < 0.3:
            weights = [r.choice([1, 2, 0, -1, 2**62]) for _ in prefixes]
        groups = r.choice([1, 2, 3, 0, -1, 2**31])
        affinity.pfp_mine(prefixes, r.randint(0, 3), groups, an_int(r), weights=weights)
    elif which == "group":
        g = affinity.PfpGroup(r.randint(0, 2), r.choice([1, 2, 3, 0]))
        for _ in range(r.randint(1, 3)):
            try:
                g.add(baskets(r, ints_only=True))
            except ALLOWED:
                pass
            if r.random() < 0.5:
                g.mine(an_int(r))
    else:
        affinity.pfp_shard(baskets(r), [r.choice("abcdefghij") for _ in range(r.randint(0, 6))],
                           r.choice([1, 2, 3, 0, -1]))

for i in range(first, first + count):
    r = random.Random(seed * 1_000_003 + i)
    try:
        call(r)
    except ALLOWED:
        pass
    except Exception as e:
        print(f"FINDING seed {seed} call {i}: {type(e).__name__}: {e}", flush=True)
print("DONE", flush=True)
'''


def limit_memory():
    four_gib = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (four_gib, four_gib))


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    batch = 200
    deadline = time.monotonic() + seconds
    first, findings = 0, []
    while time.monotonic() < deadline:
        try:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(seed), str(first), str(batch)],
                capture_output=True, text=True, timeout=120, preexec_fn=limit_memory,
            )
            out = done.stdout + done.stderr
            findings += [l for l in out.splitlines() if l.startswith("FINDING")]
            if done.returncode != 0 or "DONE" not in done.stdout:
                findings.append(f"FINDING seed {seed} calls {first}..{first + batch}: child "
                                f"exited {done.returncode}: {out.strip()[-500:]}")
        except subprocess.TimeoutExpired:
            findings.append(f"FINDING seed {seed} calls {first}..{first + batch}: hung")
        first += batch
    print(f"{first} calls in {seconds:.0f} s (seed {seed}); {len(findings)} findings")
    for f in findings:
        print(f)
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
