"""Exact top-k throughput: faiss IndexFlatIP and PyTorch matmul+topk against
`affinity bench rank`, side by side in one run, each in a fresh process.

    python benches/rank_vs_faiss.py [--items 100000 --dim 384 --queries 10000 --k 10]

Needs faiss-cpu, torch and numpy in the interpreter. The bootstrap's venv has torch and numpy
but not faiss: install it there first (`$AFFINITY_VENV/bin/python -m pip install faiss-cpu`) and
run the script with that python. The Rust binary is target/release/affinity
(`cargo build --release --bin affinity`).

affinity-rank is run twice: as built (batch search through the `gemm` crate) and with
`AFFINITY_RANK_GEMM=matrixmultiply`, the matrix product batch search used before, so the
change is a ratio measured in the same run. The table's heading names the CPU and its widest
SIMD (from /proc/cpuinfo) and the faiss build (AVX2, AVX512, ...), which pick the kernels.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def cpu():
    """The CPU's model name and its widest x86 SIMD, as lscpu reports them."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {simd}, {os.cpu_count()} logical CPUs"


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
        build = faiss.get_compile_options().split()[-1]
        print(json.dumps({"batch_qps": batch, "single_qps": one, "version": faiss.__version__, "build": build}))
        return
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
    for name, product in [("affinity", "gemm"), ("before", "matrixmultiply")]:
        env = dict(os.environ, AFFINITY_RANK_GEMM=product)
        out = subprocess.run(["target/release/affinity", "bench", "rank", "--json"] + common, check=True,
                             capture_output=True, text=True, env=env).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    faiss_build = f"faiss-cpu {rows['faiss']['version']} ({rows['faiss']['build']})"
    print(f"exact top-{a.k} over {a.items:,} x {a.dim} f32, {a.queries:,} queries; {cpu()}; {faiss_build}")
    print("| | batch queries/s | ratio to faiss | one at a time queries/s | ratio to faiss |")
    print("|---|---|---|---|---|")
    for name, label in [("faiss", "faiss IndexFlatIP"), ("torch", "PyTorch matmul+topk"),
                        ("before", "affinity-rank, matrixmultiply (before)"), ("affinity", "affinity-rank, gemm")]:
        r = rows[name]
        print(f"| {label} | {r['batch_qps']:,.0f} | {r['batch_qps'] / rows['faiss']['batch_qps']:.2f}x | "
              f"{r['single_qps']:,.0f} | {r['single_qps'] / rows['faiss']['single_qps']:.2f}x |")


if __name__ == "__main__":
    main()
