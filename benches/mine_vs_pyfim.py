#!/usr/bin/env python3
"""affinity mine vs pyfim 6.28 fpgrowth, side by side in one run.

Each measurement is a fresh process (whole call: start, read the file, mine, and for
"written" write every itemset to /dev/null); the wall time is the median of REPEATS, peak
memory (max RSS) comes from os.wait4. Ours is measured twice: `affinity-lite` (no libtorch,
what a miner runs) and the full `affinity` binary (libtorch linked: about half a second of
start-up). Run it through `bash benches/mine_vs_pyfim.sh [DATASETS_DIR]`, which builds the
binaries and installs pyfim into the bootstrap venv first.
"""
import os
import subprocess
import sys
import time

REPEATS = 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "datasets", "fimi")
AFFINITY = os.path.join(ROOT, "target", "release", "affinity")
LITE = os.path.join(ROOT, "target", "release", "affinity-lite")
CASES = [
    ("retail.dat", "0.001"),
    ("retail.dat", "0.0001"),
    ("chess.dat", "0.6"),
    ("chess.dat", "0.5"),
    ("mushroom.dat", "0.1"),
    ("T10I4D100K.dat", "0.001"),
]
PYFIM = """
import sys, fim
path, supp, write = sys.argv[1], float(sys.argv[2]) * 100, sys.argv[3] == "1"
with open(path) as f:
    tracts = [line.split() for line in f]
if write:
    with open(os.devnull, "w") as out:
        for items, support in fim.fpgrowth(tracts, target="s", supp=supp, zmin=1):
            out.write(" ".join(items) + " (" + str(support) + ")\\n")
    print("written")
else:
    print(len(fim.fpgrowth(tracts, target="s", supp=supp, zmin=1)))
"""


def measure(cmd):
    times, peak, out = [], 0, ""
    for _ in range(REPEATS):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        data = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        times.append(elapsed)
        peak = max(peak, usage.ru_maxrss)
        out = data.decode().strip()
    return sorted(times)[len(times) // 2], peak / 1024, out


def ours(binary, path, supp, threads, write):
    cmd = [binary, "mine", "-i", path, "-f", "fimi", "--min-support", supp, "--threads", str(threads)]
    cmd += ["-o", "/dev/null"] if write else ["--count-only"]
    return measure(cmd)


def main():
    print("| case | mode | pyfim s | lite 1t s | lite 2t s | full 1t s | lite 1t ratio | lite 2t ratio "
          "| full 1t ratio | pyfim MiB | lite 1t MiB | full 1t MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, supp in CASES:
        path = os.path.join(DATA, name)
        if not os.path.exists(path):
            print(f"skipped: {path} not found", file=sys.stderr)
            continue
        for write in (False, True):
            p_time, p_mem, _ = measure([sys.executable, "-c", "import os\n" + PYFIM, path, supp, "1" if write else "0"])
            l1, lm, _ = ours(LITE, path, supp, 1, write)
            l2, _, _ = ours(LITE, path, supp, 2, write)
            f1, fm, _ = ours(AFFINITY, path, supp, 1, write)
            mode = "written" if write else "count"
            print(
                f"| {name} @ {supp} | {mode} | {p_time:.3f} | {l1:.3f} | {l2:.3f} | {f1:.3f} | "
                f"{p_time / l1:.2f}x | {p_time / l2:.2f}x | {p_time / f1:.2f}x | "
                f"{p_mem:.0f} | {lm:.0f} | {fm:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
