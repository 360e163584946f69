"""Exact top-k throughput: faiss IndexFlatIP and PyTorch matmul+topk against
`affinity bench rank`, side by side in one run, each in a fresh process.

    python benches/rank_vs_faiss.py [--items 100000 --dim 384 --queries 10000 --k 10] [--isa avx2]

Needs faiss-cpu, torch and numpy in the interpreter; the Rust binary is target/release/affinity
(`bash benches/rank_vs_faiss.sh` installs and builds them).

faiss-cpu's wheel ships OpenBLAS 0.3.15, which picks its kernels from the CPU model and falls back
to generic SSE3 ones ("Prescott") on CPUs newer than it knows (an Intel Xeon of family 6 model 207
is one). faiss is therefore run twice, with OpenBLAS's own choice and with OPENBLAS_CORETYPE set
from the CPU's flags (SkylakeX with avx512f, else Haswell with avx2), and the faster is the
baseline every ratio is taken against.

`--isa avx2` runs every side as an AVX2-only CPU would, on a CPU that has more: faiss at its
AVX2 level (FAISS_SIMD_LEVEL) with OpenBLAS's Haswell kernels, PyTorch at ATEN_CPU_CAPABILITY=avx2 with
MKL capped at AVX2, affinity with AFFINITY_RANK_ISA=avx2. A stand-in for an AVX2 machine, not
one: caches, memory and clocks stay this machine's.
"""

import argparse
import json
import os
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
        try:  # faiss 1.13+ built with dynamic dispatch: the SIMD level it runs at
            names = {getattr(faiss, n): n[len("SIMDLevel_"):] for n in dir(faiss) if n.startswith("SIMDLevel_")}
            build = "SIMD " + names.get(faiss.cvar.SIMDConfig_level, "?")
        except AttributeError:
            build = faiss.get_compile_options()
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
        build = torch.backends.cpu.get_cpu_capability()
    print(json.dumps({"batch_qps": batch, "single_qps": one, "build": build}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--single", type=int, default=200)
    ap.add_argument("--isa", choices=["native", "avx2"], default="native")
    a = ap.parse_args()
    if a.child:
        child(a.child, a.items, a.dim, a.queries, a.k, a.single)
        return
    common = ["--items", str(a.items), "--dim", str(a.dim), "--queries", str(a.queries), "--k", str(a.k),
              "--single", str(a.single)]
    rows = {}

    capped = {}
    if a.isa == "avx2":
        capped = {"FAISS_SIMD_LEVEL": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                  "AFFINITY_RANK_ISA": "avx2"}

    def run_child(lib, extra=None):
        env = dict(os.environ, **capped, **(extra or {}))
        out = subprocess.run([sys.executable, __file__, "--child", lib] + common, check=True, capture_output=True,
                             text=True, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    faiss_rows = []
    if a.isa == "avx2":
        # OpenBLAS's own choice here is this CPU's; an AVX2 machine's would be Haswell's (or Zen's).
        core = "Haswell"
    else:
        core = openblas_core()
        faiss_rows.append(("faiss IndexFlatIP (OpenBLAS's own kernels)", run_child("faiss")))
    if core:
        forced = run_child("faiss", {"OPENBLAS_CORETYPE": core})
        faiss_rows.append((f"faiss IndexFlatIP (OPENBLAS_CORETYPE={core}, {forced['build']})", forced))
    rows["torch"] = run_child("torch")
    out = subprocess.run(["target/release/affinity", "bench", "rank", "--json"] + common, check=True,
                         capture_output=True, text=True, env=dict(os.environ, **capped)).stdout
    rows["affinity"] = json.loads(out.strip().splitlines()[-1])
    # The baseline: faiss at its faster setting, batch and one at a time each.
    best = {key: max(r[key] for _, r in faiss_rows) for key in ["batch_qps", "single_qps"]}
    isa = " (every side capped at AVX2)" if a.isa == "avx2" else ""
    print(f"exact top-{a.k} over {a.items:,} x {a.dim} f32, {a.queries:,} queries{isa}")
    print("| | batch queries/s | ratio to faiss | one at a time queries/s | ratio to faiss |")
    print("|---|---|---|---|---|")
    table = faiss_rows + [("PyTorch matmul+topk", rows["torch"]), (f"affinity-rank ({rows['affinity']['kernels']})", rows["affinity"])]
    table[-2] = (f"PyTorch matmul+topk ({rows['torch']['build']})", rows["torch"])
    for label, r in table:
        print(f"| {label} | {r['batch_qps']:,.0f} | {r['batch_qps'] / best['batch_qps']:.2f}x | "
              f"{r['single_qps']:,.0f} | {r['single_qps'] / best['single_qps']:.2f}x |")


def openblas_core():
    """The OpenBLAS core type matching this CPU's vector units, or None off x86 Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    if "avx512f" in flags:
        return "SkylakeX"
    if "avx2" in flags:
        return "Haswell"
    return None


if __name__ == "__main__":
    main()
