"""Times the explorer page in a real browser (Debian's chromium, driven by playwright), as an
analyst meets it: time to first render of the overview and of the rules view, and time to apply
a filter to the rules (from the click on Apply to the table and chart drawn), over bundles given
on the command line.

    python benches/explorer_timing.py [--runs 5] NAME=BUNDLE_DIR ...

Run by benches/explorer_timing.sh, which fits the bundles. Prints a Markdown table.
"""

import argparse
import json
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
VERBOSE = False
# How the browser test starts chromium, shared.
sys.path.insert(0, str(ROOT / "tests" / "browser"))
import chromium  # noqa: E402


def wait_until(page, predicate, arg=None):
    chromium.wait_until(page, predicate, arg, seconds=60, poll=0.005)


def first_render(browser, url):
    """Milliseconds from navigation start to the view drawn, in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.goto(url)
    wait_until(page, "() => window.affinityTimings && window.affinityTimings.firstRender !== null")
    ms = page.evaluate("window.affinityTimings.firstRender")
    context.close()
    return ms


def filters(browser, url, popular):
    """Milliseconds from Apply to table and chart drawn, for each filter in turn, with the
    server's own filtering time."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.goto(url + "#/rules")
    wait_until(page, "() => document.querySelector('main[data-state=ready] #rules') !== null")
    steps = [
        ("min lift 1.5", {"#f-min_lift": "1.5"}),
        ("min lift 3", {"#f-min_lift": "3"}),
        ("confidence 0.5-0.9", {"#f-min_lift": "", "#f-min_confidence": "0.5", "#f-max_confidence": "0.9"}),
        ("text", {"#f-min_confidence": "", "#f-max_confidence": "", "#f-q": popular[:4]}),
        ("item on the left", {"#f-q": "", "#f-antecedent": popular}),
        ("cleared", {"#f-antecedent": ""}),
    ]
    out = []
    for name, fields in steps:
        for selector, value in fields.items():
            page.fill(selector, value)
        before = page.evaluate("window.affinityTimings.filters.length")
        page.click("button[type=submit]:has-text('Apply')")
        wait_until(page, "n => window.affinityTimings.filters.length > n", before)
        ms = page.evaluate("window.affinityTimings.filters.at(-1)")
        parts = page.evaluate("window.affinityTimings.last")
        if VERBOSE:
            print(name, round(ms), {k: round(v, 1) for k, v in parts.items()})
        summary = page.inner_text("#rules-summary")
        server = float(summary.split(" in ")[1].split(" ms")[0])
        matched = int(summary.split()[0].replace(",", ""))
        out.append((name, ms, server, matched))
    context.close()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "affinity"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print where each filter's time went")
    parser.add_argument("bundles", nargs="+", help="NAME=BUNDLE_DIR")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    rows = []
    with sync_playwright() as p:
        browser = chromium.launch(p)
        for spec in args.bundles:
            name, bundle = spec.split("=", 1)
            server = subprocess.Popen(
                [args.bin, "explore", "-b", bundle, "--device", "cpu"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            try:
                url = server.stdout.readline().split()[-1]
                # One untimed visit: the server builds its explorer index on first use.
                first_render(browser, url + "#/rules")
                with urllib.request.urlopen(url + "v1/explore/overview") as r:
                    overview = json.load(r)
                popular = overview["popular"][0]["item"]
                rules = overview["counts"]["rules"]
                overview_ms = [first_render(browser, url) for _ in range(args.runs)]
                rules_ms = [first_render(browser, url + "#/rules") for _ in range(args.runs)]
                runs = [filters(browser, url, popular) for _ in range(args.runs)]
            finally:
                server.terminate()
                server.wait(timeout=30)
            per_step = list(zip(*runs))
            rows.append((name, rules, overview_ms, rules_ms, per_step))
        browser.close()
    med = statistics.median
    print("| bundle | rules | first render: overview | first render: rules view | filter | rules kept | apply, median (max) | of which on the server |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for name, rules, overview_ms, rules_ms, per_step in rows:
        for j, step in enumerate(per_step):
            label = step[0][0]
            applied = [s[1] for s in step]
            server = [s[2] for s in step]
            head = (f"| {name} | {rules:,} | {med(overview_ms):.0f} ms | {med(rules_ms):.0f} ms"
                    if j == 0 else "| | | |")
            print(f"{head} | {label} | {step[0][3]:,} | {med(applied):.0f} ms ({max(applied):.0f}) | {med(server):.1f} ms |")


if __name__ == "__main__":
    main()
