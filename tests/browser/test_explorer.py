"""The explorer page in a real browser: Debian's chromium, driven by playwright (both installed
by scripts/bootstrap.sh), against `affinity explore` over a Groceries bundle fitted with the
language model.

The test searches, opens a product, filters and sorts rules, opens a rule from the chart,
downloads the CSV, builds a basket and reads its recommendations; products named like markup
must show as text and run nothing; the page must break none of its Content-Security-Policy and
log no error. With AFFINITY_SCREENSHOTS=DIR it saves a screenshot of each view there (the ones in
docs/img come from it).

Run by scripts/test.sh; alone: `pytest tests/browser` with AFFINITY_BIN pointing at a built
`affinity` (default target/debug/affinity) and AFFINITY_MODEL_DIR at the model.
"""

import csv
import io
import os
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

import chromium
from chromium import wait_until

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("AFFINITY_BIN", ROOT / "target" / "debug" / "affinity"))
SCRIPT = "<script>window.__pwned = 1</script>"
IMAGE = "<img src=x onerror=\"window.__pwned = 2\">"


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    """`affinity explore` over Groceries plus two products named like markup; yields its URL."""
    work = tmp_path_factory.mktemp("explorer")
    events = work / "groceries.csv"
    text = (ROOT / "data" / "groceries.csv").read_text()
    # Bought by several members on days they shop, so that the names reach rules and pages.
    extra = "".join(
        f'{member},{day},"{name.replace(chr(34), chr(34) * 2)}"\n'
        for member, day in [(1808, "21-07-2015"), (2552, "05-01-2015"), (1187, "19-09-2015")]
        for name in (SCRIPT, IMAGE)
    )
    events.write_text(text + extra)
    bundle = work / "bundle"
    subprocess.run(
        [BINARY, "fit", "-i", events, "-o", bundle, "--device", "cpu", "--min-support", "0.0005"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [BINARY, "explore", "-b", bundle, "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("explore the bundle at "), line
        yield line.split()[-1]
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = chromium.launch(p)
        yield b
        b.close()


@pytest.fixture()
def page(browser, explorer, tmp_path):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(explorer)
    yield page
    violations = page.evaluate("window.__violations")
    assert violations == [], violations
    assert problems == [], problems
    assert page.evaluate("window.__pwned") is None
    context.close()


def ready(page):
    page.wait_for_selector("main[data-state=ready]")


def shot(page, name):
    folder = os.environ.get("AFFINITY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"explorer-{name}.png"), full_page=True)


def numbers(locator):
    return [float(t.replace(",", "")) for t in locator.all_inner_texts()]


def test_overview_shows_the_bundles_figures(page):
    ready(page)
    expect(page.locator("main h2")).to_have_text("Overview")
    figures = page.locator(".figures").inner_text()
    # 3,898 members in the shipped file and its 167 products, plus the two markup names.
    assert "3,898" in figures and "169" in figures, figures
    expect(page.locator("main table").first).to_contain_text("whole milk")
    shot(page, "overview")


def test_search_by_keyboard_then_open_a_product(page):
    ready(page)
    # The view's heading has the focus after each navigation; the search box is just before it.
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "search-text":
            break
    assert page.evaluate("document.activeElement.id") == "search-text"
    page.keyboard.type("yogurt")
    page.keyboard.press("Enter")
    ready(page)
    expect(page.locator("main h2")).to_contain_text("yogurt")
    link = page.get_by_role("link", name="yogurt", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**#/product/yogurt")
    ready(page)
    expect(page.locator("main h2")).to_have_text("yogurt")
    # Partners by lift, from largest; the neighbourhood graph drawn; similar products by model.
    assert page.locator("#partners tbody tr").count() >= 3
    lifts = numbers(page.locator("#partners tbody td:nth-child(2)"))
    assert lifts == sorted(lifts, reverse=True), lifts
    assert page.locator("#product-graph canvas").count() >= 1
    assert page.locator("#similar tbody tr").count() == 10
    assert page.locator("#before tbody tr").count() >= 1
    shot(page, "product")


def test_markup_in_product_names_is_shown_as_text(page):
    ready(page)
    page.fill("#search-text", "window.__pwned")
    page.press("#search-text", "Enter")
    ready(page)
    cells = page.locator("main table tbody a")
    assert sorted(cells.all_inner_texts()) == sorted([SCRIPT, IMAGE])
    page.get_by_role("link", name=SCRIPT).click()
    ready(page)
    expect(page.locator("main h2")).to_have_text(SCRIPT)
    assert page.locator("main script, main img").count() == 0


def test_rules_filter_sort_chart_and_csv(page):
    ready(page)
    page.get_by_role("link", name="Rules", exact=True).click()
    ready(page)
    summary = page.locator("#rules-summary")
    total = int(summary.inner_text().split()[0].replace(",", ""))
    assert total > 100
    shot(page, "rules")

    # A lift range: every row shown is inside it, and fewer match.
    page.fill("#f-min_lift", "1.5")
    page.click("button[type=submit]:has-text('Apply')")
    wait_until(page, "() => window.affinityTimings.filters.length >= 1")
    ready(page)
    filtered = int(summary.inner_text().split()[0].replace(",", ""))
    assert 0 < filtered < total
    lifts = numbers(page.locator("#rules tbody td:nth-child(5)"))
    assert lifts and min(lifts) >= 1.5 and lifts == sorted(lifts, reverse=True), lifts

    # An item fixed on the right-hand side.
    page.fill("#f-consequent", "whole milk")
    page.click("button[type=submit]:has-text('Apply')")
    wait_until(page, "() => window.affinityTimings.filters.length >= 2")
    ready(page)
    consequents = page.locator("#rules tbody td:nth-child(2)").all_inner_texts()
    assert consequents and set(consequents) == {"whole milk"}, consequents

    # Sorting by a column header, ascending on the second press.
    page.click("#rules thead button:has-text('confidence')")
    wait_until(page, "() => window.affinityTimings.filters.length >= 3")
    page.click("#rules thead button:has-text('confidence')")
    wait_until(page, "() => window.affinityTimings.filters.length >= 4")
    ready(page)
    confidences = numbers(page.locator("#rules tbody td:nth-child(4)"))
    assert confidences == sorted(confidences), confidences

    # A point of the chart opens its rule.
    point = page.evaluate(
        """() => {
          const box = document.getElementById('rules-scatter');
          const chart = echarts.getInstanceByDom(box);
          const data = chart.getOption().series[0].data[0];
          const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [data[0], data[1]]);
          const r = box.getBoundingClientRect();
          return { x: r.left + x, y: r.top + y, id: data[3] };
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    expect(page.locator("#rule-detail")).to_contain_text("whole milk")
    expect(page.locator("#rule-detail")).to_contain_text("Confidence")

    # The CSV holds exactly what the filters show.
    with page.expect_download() as download:
        page.click("#rules-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == int(summary.inner_text().split()[0].replace(",", ""))
    assert all(r["consequent"] == "whole milk" and float(r["lift"]) >= 1.5 for r in rows)


def test_a_basket_gets_recommendations_with_reasons(page):
    ready(page)
    page.get_by_role("link", name="Basket", exact=True).click()
    ready(page)
    page.fill("#basket-add", "whole milk")
    page.click("form[aria-label='Add a product to the basket'] button")
    page.click("#basket-found button[aria-label='Add whole milk']")
    page.wait_for_selector("#recommendations li")
    ready(page)
    recommended = page.locator("#recommendations li > a").all_inner_texts()
    assert len(recommended) == 10 and "whole milk" not in recommended
    reasons = page.locator("#recommendations .why").all_inner_texts()
    assert all(r.strip() for r in reasons), reasons
    # Taking the first recommendation into the basket asks again.
    first = recommended[0]
    page.click(f"#recommendations button[aria-label='Add {first}']")
    expect(page.locator("#basket-items")).to_contain_text(first)
    wait_until(
        page,
        "f => ![...document.querySelectorAll('#recommendations li > a')].some(a => a.textContent === f)",
        first,
    )
    ready(page)
    shot(page, "basket")
