#!/usr/bin/env python3
"""affinity mine vs pyfim 6.28 fpgrowth, side by side in one run.

Each measurement is a fresh process (whole call: start, read the file, mine, and for
"written" write every itemset to /dev/null); the wall time is the median of REPEATS, peak
memory (max RSS) comes from os.wait4 (for a child of Python, never below about 12 MiB). Ours
is `affinity`, the binary users run (it mines without libtorch), with one thread and with two.
The itemset counts of both sides are printed beside the times (pyfim's is the length of its
result list). Last, `affinity --version` as a whole process: median and fastest wall time of
VERSION_REPEATS runs, and its peak memory under GNU time. Run it through
`bash benches/mine_vs_pyfim.sh [DATASETS_DIR]`, which builds the binaries and installs pyfim
into the bootstrap venv first.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

REPEATS = 5
VERSION_REPEATS = 31
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "datasets", "fimi")
AFFINITY = os.path.join(ROOT, "target", "release", "affinity")
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


def measure(cmd, repeats=REPEATS):
    times, peak, out = [], 0, ""
    for _ in range(repeats):
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
            data = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            if status != 0:
                raise SystemExit(f"failed: {' '.join(cmd)}")
            err.seek(0)
            # affinity's summary line ("... N itemsets in T s") is on standard error.
            summary = err.read().decode()
        times.append(elapsed)
        peak = max(peak, usage.ru_maxrss)
        out = data.decode().strip() or summary.strip()
    times.sort()
    return times[len(times) // 2], peak / 1024, out, times[0]


def ours(path, supp, threads, write):
    cmd = [AFFINITY, "mine", "-i", path, "-f", "fimi", "--min-support", supp, "--threads", str(threads)]
    cmd += ["-o", "/dev/null"] if write else ["--count-only"]
    return measure(cmd)


def main():
    print("| case | mode | itemsets (affinity / pyfim) | pyfim s | 1t s | 2t s | 1t ratio | 2t ratio "
          "| pyfim MiB | 1t MiB | 2t MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, supp in CASES:
        path = os.path.join(DATA, name)
        if not os.path.exists(path):
            print(f"skipped: {path} not found", file=sys.stderr)
            continue
        for write in (False, True):
            p_time, p_mem, p_out, _ = measure(
                [sys.executable, "-c", "import os\n" + PYFIM, path, supp, "1" if write else "0"]
            )
            t1, m1, o1, _ = ours(path, supp, 1, write)
            t2, m2, o2, _ = ours(path, supp, 2, write)
            if not write and count(o1) != count(o2):
                raise SystemExit(f"{name} @ {supp}: 1 and 2 threads disagree: {o1!r} vs {o2!r}")
            mode = "written" if write else "count"
            counts = f"{count(o1):,} / {int(p_out):,}" if not write else ""
            print(
                f"| {name} @ {supp} | {mode} | {counts} | {p_time:.3f} | {t1:.3f} | {t2:.3f} | "
                f"{p_time / t1:.2f}x | {p_time / t2:.2f}x | {p_mem:.0f} | {m1:.0f} | {m2:.0f} |",
                flush=True,
            )
    median, peak, out, fastest = measure([AFFINITY, "--version"], VERSION_REPEATS)
    # The max RSS wait4 reports for a child of Python starts from the Python process it was
    # forked from (about 12 MiB); GNU time forks from a small process, so its figure is the
    # binary's own.
    if os.path.exists("/usr/bin/time"):
        timed = subprocess.run(
            ["/usr/bin/time", "-f", "%M", AFFINITY, "--version"],
            capture_output=True, text=True, check=True,
        )
        peak = int(timed.stderr.strip().splitlines()[-1]) / 1024
    print(
        f"\n`{out}` --version: median {median * 1000:.1f} ms, fastest {fastest * 1000:.1f} ms, "
        f"max RSS {peak:.1f} MiB ({VERSION_REPEATS} runs)"
    )


def count(out):
    """The itemset count in `affinity mine --count-only`'s summary line."""
    found = re.search(r"([0-9,]+) itemsets", out)
    if not found:
        raise SystemExit(f"no itemset count in {out!r}")
    return int(found.group(1).replace(",", ""))


if __name__ == "__main__":
    main()
