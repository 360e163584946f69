"""Opacus's RDP accountant over a grid: the reference that affinity's accountant
(crates/affinity-core/src/privacy.rs) is checked against by crates/affinity-core/tests/privacy.rs.

    python3 benches/privacy/opacus_reference.py [--out PATH]

Runs in the project venv (AFFINITY_VENV, from the environment or .cargo/config.toml, written by
scripts/bootstrap.sh); re-starts itself there when started from another Python, and installs the
pinned Opacus into it when missing. Writes crates/affinity-core/tests/fixtures/opacus_rdp.json.
"""

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

OPACUS = "1.6.0"  # the newest release pip offered when the fixture was made
ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "crates/affinity-core/tests/fixtures/opacus_rdp.json"

NOISE = [0.5, 0.8, 1.0, 1.5, 3.0, 5.0, 10.0]
SAMPLE_RATES = [0.001, 0.01, 0.05, 0.25, 1.0]
STEPS = [1, 100, 1000, 10000]
# 1e-5, and 1 / shoppers for Groceries (3,898 shoppers; 9,835 baskets in the classic
# transaction form) and Amazon Scientific (8,442 users).
DELTAS = [1e-5, 1 / 3898, 1 / 8442, 1 / 9835]
NOISE_TARGETS = [1.0, 3.0, 8.0]
NOISE_SETTINGS = [(0.01, 1000, 1 / 9835), (0.001, 10000, 1e-5), (0.25, 100, 1 / 8442)]
# Runs whose noise and sample rate change part-way: (noise, sample rate, steps) segments.
COMPOSITIONS = [
    [(1.0, 0.01, 500), (0.8, 0.02, 500)],
    [(3.0, 0.25, 10), (0.5, 0.001, 2000), (1.5, 0.05, 100)],
]


def venv_python():
    venv = os.environ.get("AFFINITY_VENV")
    if not venv:
        config = (ROOT / ".cargo/config.toml").read_text()
        venv = re.search(r'^AFFINITY_VENV\s*=\s*"([^"]+)"', config, re.M).group(1)
    return Path(venv) / "bin/python"


def ensure_opacus(python):
    """Re-runs this script in the venv, installing the pinned Opacus there first if needed."""
    if Path(sys.prefix).resolve() != python.parent.parent.resolve():
        os.execv(str(python), [str(python), *sys.argv])
    try:
        installed = importlib.metadata.version("opacus")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != OPACUS:
        # `python -m pip`: the venv's pip script may carry a stale interpreter path.
        subprocess.run([str(python), "-m", "pip", "install", f"opacus=={OPACUS}"], check=True)


def epsilon(segments, delta):
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for noise, rate, steps in segments:
        for _ in range(steps):
            accountant.step(noise_multiplier=noise, sample_rate=rate)
    eps, order = accountant.get_privacy_spent(delta=delta)
    return float(eps), float(order)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    ensure_opacus(venv_python())
    warnings.simplefilter("ignore")  # Opacus warns when the best order is at the grid's edge

    import opacus
    from opacus.accountants import RDPAccountant
    from opacus.accountants.utils import get_noise_multiplier

    grid = []
    for noise in NOISE:
        for rate in SAMPLE_RATES:
            for steps in STEPS:
                for delta in DELTAS:
                    eps, order = epsilon([(noise, rate, steps)], delta)
                    grid.append(dict(noise_multiplier=noise, sample_rate=rate, steps=steps,
                                     delta=delta, epsilon=eps, order=order))
    compositions = []
    for segments in COMPOSITIONS:
        for delta in DELTAS[:2]:
            eps, order = epsilon(segments, delta)
            compositions.append(dict(segments=[list(s) for s in segments], delta=delta,
                                     epsilon=eps, order=order))
    noise = []
    tolerance = 0.01  # Opacus's default epsilon_tolerance
    for rate, steps, delta in NOISE_SETTINGS:
        for target in NOISE_TARGETS:
            sigma = get_noise_multiplier(target_epsilon=target, target_delta=delta,
                                         sample_rate=rate, steps=steps, accountant="rdp",
                                         epsilon_tolerance=tolerance)
            eps, _ = epsilon([(sigma, rate, steps)], delta)
            noise.append(dict(target_epsilon=target, sample_rate=rate, steps=steps, delta=delta,
                              noise_multiplier=float(sigma), epsilon=eps,
                              epsilon_tolerance=tolerance))

    head = dict(
        source="benches/privacy/opacus_reference.py",
        opacus=opacus.__version__,
        torch=importlib.metadata.version("torch"),
        numpy=importlib.metadata.version("numpy"),
        scipy=importlib.metadata.version("scipy"),
        orders=[float(a) for a in RDPAccountant.DEFAULT_ALPHAS],
    )
    # One point per line: small, and a diff shows which points moved.
    lines = ["{"]
    lines += [f'  "{k}": {json.dumps(v)},' for k, v in head.items()]
    for name, rows, last in [("grid", grid, False), ("compositions", compositions, False),
                             ("noise_for_epsilon", noise, True)]:
        lines.append(f'  "{name}": [')
        lines += [f"    {json.dumps(r)}," for r in rows[:-1]] + [f"    {json.dumps(rows[-1])}"]
        lines.append("  ]" + ("" if last else ","))
    lines.append("}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    json.loads(args.out.read_text())  # the hand-made layout is still JSON
    print(f"{len(grid)} grid points, {len(compositions)} compositions, {len(noise)} noise "
          f"targets from Opacus {opacus.__version__} -> {args.out}")


if __name__ == "__main__":
    main()
