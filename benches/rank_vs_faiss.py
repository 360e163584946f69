"""Exact top-k throughput: faiss IndexFlatIP and PyTorch matmul+topk against
`affinity bench rank`, side by side in one run, each in a fresh process.

    python benches/rank_vs_faiss.py [--items 100000 --dim 384 --queries 10000 --k 10]

Needs faiss-cpu, torch and numpy in the interpreter; the Rust binary is target/release/affinity.
"""

import argparse
import json
import subprocess
import sys
import time


def child(lib, items, dim, queries, k, single):
    import numpy as np

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (items, dim)).astype("float32")
    q = rng.uniform(-1, 1, (queries, dim)).astype("float32")
    if lib == "faiss":
        import faiss

        index = faiss.IndexFlatIP(dim)
        index.add(x)
        t = time.perf_counter()
        index.search(q, k)
        batch = queries / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(single):
            index.search(q[i : i + 1], k)
        one = single / (time.perf_counter() - t)
    else:
        import torch

        tx, tq = torch.from_numpy(x), torch.from_numpy(q)
        t = time.perf_counter()
        for s in range(0, queries, 1024):
            torch.topk(tq[s : s + 1024] @ tx.T, k, dim=1)
        batch = queries / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(single):
            torch.topk(tx @ tq[i], k)
        one = single / (time.perf_counter() - t)
    print(json.dumps({"batch_qps": batch, "single_qps": one}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--single", type=int, default=200)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.items, a.dim, a.queries, a.k, a.single)
        return
    common = ["--items", str(a.items), "--dim", str(a.dim), "--queries", str(a.queries), "--k", str(a.k),
              "--single", str(a.single)]
    rows = {}
    for lib in ["faiss", "torch"]:
        out = subprocess.run([sys.executable, __file__, "--child", lib] + common, check=True, capture_output=True,
                             text=True).stdout
        rows[lib] = json.loads(out.strip().splitlines()[-1])
    out = subprocess.run(["target/release/affinity", "bench", "rank", "--json"] + common, check=True,
                         capture_output=True, text=True).stdout
    rows["affinity"] = json.loads(out.strip().splitlines()[-1])
    print(f"exact top-{a.k} over {a.items:,} x {a.dim} f32, {a.queries:,} queries")
    print("| | batch queries/s | ratio to faiss | one at a time queries/s | ratio to faiss |")
    print("|---|---|---|---|---|")
    for name, label in [("faiss", "faiss IndexFlatIP"), ("torch", "PyTorch matmul+topk"), ("affinity", "affinity-rank")]:
        r = rows[name]
        print(f"| {label} | {r['batch_qps']:,.0f} | {r['batch_qps'] / rows['faiss']['batch_qps']:.2f}x | "
              f"{r['single_qps']:,.0f} | {r['single_qps'] / rows['faiss']['single_qps']:.2f}x |")


if __name__ == "__main__":
    main()
