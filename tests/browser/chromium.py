"""Debian's chromium as the explorer's browser test and its timing script start it
(benches/explorer_timing.py imports this file)."""

import os
import time

EXECUTABLE = os.environ.get("AFFINITY_CHROMIUM", "/usr/bin/chromium")
# Flags for a sandboxed machine without a network (see docs/explorer.md).
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    """A headless chromium driven by `playwright` (from `sync_playwright()`)."""
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)


def wait_until(page, predicate, arg=None, seconds=30, poll=0.02):
    """Polls `predicate` (a JavaScript function) until it holds. Playwright's wait_for_function
    evaluates its predicate with `eval` inside the page, which the page's policy refuses."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(predicate, arg):
        assert time.monotonic() < deadline, f"waited {seconds} s for {predicate}"
        time.sleep(poll)
