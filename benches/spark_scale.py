#!/usr/bin/env python3
"""How mining cost grows with the number of transactions: `affinity mine` in one process,
affinity_spark.FPGrowth on Spark local[N] and Spark MLlib's FPGrowth, on IBM Quest-style data
(`affinity data generate`, T10 I4, 1,000 items) of 10^5, 10^6 and 10^7 transactions.

Each (side, size) runs in a process of its own; its wall time and the peak of the summed RSS of
its whole process tree (the JVM and Spark's Python workers included) are sampled from /proc
every 0.2 s. For the Spark sides the time is the job's, from reading the Parquet file to the
counted itemsets (fit + freqItemsets.count()), session start excluded; for `affinity mine` it is
the whole process (read, mine, count). Every run is bounded (--timeout).

    bash benches/spark_scale.sh [--sizes 100000,1000000,10000000] [--support 0.001]

With --limit-gb L every run is a machine of L GB: its whole process tree goes into a cgroup
(v1 or v2, needs write access to /sys/fs/cgroup) whose memory is limited to L GB, so a side that
needs more is killed by the kernel ("out of memory" in the table). Give Spark a heap below L
(--memory): what it cannot hold it must spill to disk (docs/spark.md says how far that went).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_rss_kb(pid):
    """Summed RSS (KiB) of `pid` and every descendant."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class MemoryCgroup:
    """A cgroup limited to `gb` GiB of memory (page cache included, which the kernel reclaims
    before it kills), for one run at a time."""

    def __init__(self, gb):
        limit = int(gb * 2**30)
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        base = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/memory"
        self.path = os.path.join(base, f"affinity-spark-scale-{os.getpid()}")
        self.v2 = v2
        try:
            os.makedirs(self.path, exist_ok=True)
            self._write("memory.max" if v2 else "memory.limit_in_bytes", str(limit))
            swap = "memory.swap.max" if v2 else "memory.memsw.limit_in_bytes"
            if os.path.exists(os.path.join(self.path, swap)):
                self._write(swap, "0" if v2 else str(limit))
        except OSError as e:
            sys.exit(f"spark_scale: --limit-gb needs a writable cgroup ({self.path}): {e}")

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def enter(self):
        """preexec_fn: puts the child (and so everything it starts) into the cgroup."""
        self._write("cgroup.procs", str(os.getpid()))

    def oom_kills(self):
        name = "memory.events" if self.v2 else "memory.oom_control"
        with open(os.path.join(self.path, name)) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        return 0

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def measured(cmd, timeout, env=None, cgroup=None):
    """Runs `cmd`; returns (wall seconds, peak tree RSS MiB, stdout, status), the status being
    the exit code, 'timeout' or 'out of memory'."""
    kills = cgroup.oom_kills() if cgroup else 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, start_new_session=True,
                            preexec_fn=cgroup.enter if cgroup else None)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        if time.perf_counter() - start > timeout:
            os.killpg(proc.pid, 9)
            proc.wait()
            return time.perf_counter() - start, peak / 1024, "", "timeout"
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        # A JVM or Python worker killed inside the group fails the job without the parent
        # being killed: the cgroup's kill counter tells.
        if cgroup and cgroup.oom_kills() > kills:
            return time.perf_counter() - start, peak / 1024, out, "out of memory"
        sys.stderr.write(err[-2000:])
    return time.perf_counter() - start, peak / 1024, out, proc.returncode


def spark_job(args):
    """One side on Spark, in this process: prints a JSON line with the job's figures."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("spark_scale")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", args.memory)
        .config("spark.sql.shuffle.partitions", str(args.groups or args.cores))
    )
    for setting in args.conf:
        key, _, value = setting.partition("=")
        spark = spark.config(key, value)
    spark = spark.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    start = time.perf_counter()
    df = spark.read.parquet(args.input).repartition(args.cores)
    if args.side == "mllib":
        from pyspark.ml.fpm import FPGrowth
    else:
        from affinity_spark import FPGrowth
    params = dict(minSupport=args.support, minConfidence=0.5)
    if args.groups:
        params["numPartitions"] = args.groups
    model = FPGrowth(**params).fit(df)
    itemsets = model.freqItemsets.count()
    print(json.dumps({"seconds": time.perf_counter() - start, "itemsets": itemsets}))
    spark.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--support", type=float, default=0.001)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="12g", help="spark.driver.memory")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per run")
    parser.add_argument("--groups", type=int, default=None,
                        help="numPartitions and shuffle partitions (default: --cores)")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for the Spark sides (repeatable)")
    parser.add_argument("--limit-gb", type=float, default=None,
                        help="run each side in a cgroup of this much memory")
    parser.add_argument("--sides", default="mine,ours,mllib")
    parser.add_argument("--data", default=os.path.join(ROOT, "out", "scale"))
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "spark_scale.md"))
    parser.add_argument("--affinity", default=os.path.join(ROOT, "target", "release", "affinity"))
    # Internal: one Spark side in this process.
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        return spark_job(args)

    os.makedirs(args.data, exist_ok=True)
    cgroup = MemoryCgroup(args.limit_gb) if args.limit_gb else None
    limit = f", every run limited to {args.limit_gb:g} GiB (cgroup)" if cgroup else ""
    lines = [
        f"T10 I4, 1,000 items, minSupport {args.support * 100:g} %, Spark local[{args.cores}] "
        f"(driver memory {args.memory}){limit}"
        + (f", {args.groups} groups and shuffle partitions" if args.groups else ""),
        "",
        "| transactions | side | itemsets | seconds | peak RSS (MiB) |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        path = os.path.join(args.data, f"T10I4N1000-{n}.parquet")
        if not os.path.exists(path):
            subprocess.run([args.affinity, "data", "generate", "--transactions", str(n),
                            "--items", "1000", "--avg-len", "10", "--pattern-len", "4",
                            "--seed", "1", "-o", path], check=True, stderr=subprocess.DEVNULL)
        for side in args.sides.split(","):
            if side == "mine":
                cmd = [args.affinity, "mine", "-i", path, "-f", "parquet", "--min-support",
                       repr(args.support), "--count-only", "--json"]
                wall, peak, out, rc = measured(cmd, args.timeout, cgroup=cgroup)
                itemsets = json.loads(out)["itemsets"] if rc == 0 else None
                label, seconds = "affinity mine (one process)", wall
            else:
                cmd = [sys.executable, __file__, "--job", "--side", side, "--input", path,
                       "--support", repr(args.support), "--cores", str(args.cores),
                       "--memory", args.memory] + (["--groups", str(args.groups)] if args.groups else [])
                cmd += [f"--conf={c}" for c in args.conf]
                wall, peak, out, rc = measured(cmd, args.timeout, cgroup=cgroup)
                figures = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
                itemsets, seconds = figures.get("itemsets"), figures.get("seconds")
                label = "affinity_spark" if side == "ours" else "MLlib FPGrowth"
            if rc != 0:
                why = {
                    "timeout": f"stopped at {int(args.timeout)} s",
                    "out of memory": f"killed: out of memory after {wall:.1f} s",
                }.get(rc, f"failed (exit {rc})")
                result = f"| {n:,} | {label} | - | {why} | {peak:,.0f} |"
            else:
                result = f"| {n:,} | {label} | {itemsets:,} | {seconds:.1f} | {peak:,.0f} |"
            lines.append(result)
            print(result, flush=True)
    if cgroup:
        cgroup.remove()
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
