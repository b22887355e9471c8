"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
the page loads, Step draws a tree whose SVG nodes are really on the page, Run
streams to the end, and the Compare tab draws its charts. Screenshots go to
artifacts/ for a person to look at.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("RACER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
pytestmark = pytest.mark.real_model  # serves the real SmolLM2 model

PROMPT = ("Here is a packing list: passport, phone charger, toothbrush, rain jacket, water bottle.\n\n"
          "Repeat the list exactly, as a numbered list with one item per line.")


@pytest.fixture(scope="module")
def browser_app_url(app_url):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return app_url


@pytest.fixture(scope="module")
def page(browser_app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(browser_app_url)
        page.wait_for_selector("#step-btn", timeout=60_000)
        page.errors = errors
        yield page
        browser.close()


def status_has(page, text: str, timeout_s: float = 300) -> None:
    page.wait_for_function(
        "t => (document.querySelector('#status')?.innerText || '').includes(t)", arg=text,
        timeout=timeout_s * 1000)


def set_number(page, elem_id: str, value: int) -> None:
    """Types into a slider's number box, as a user would."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_step_draws_the_tree(page):
    page.fill("#controls textarea", PROMPT)
    page.click("#advanced")  # open the accordion and shorten the run
    set_number(page, "max-new-tokens", 24)
    page.click("#step-btn")
    status_has(page, "Step 0")
    assert page.locator("#tree-plot .scatterlayer .point").count() == 1  # prefill: the first token
    page.click("#step-btn")
    status_has(page, "Step 1")
    page.wait_for_timeout(500)
    points = page.locator("#tree-plot .scatterlayer .point")
    assert points.count() >= 2, "the draft tree's nodes are not on the page"
    assert page.locator("#tree-plot .legendtext").count() >= 2
    box = page.locator("#tree-plot .main-svg").first.bounding_box()
    assert box and box["height"] > 200 and box["width"] > 400
    assert page.locator("#generated .tok").count() > 4  # legend + generated tokens
    page.screenshot(path=str(ARTIFACTS / "browser_step.png"), full_page=True)
    assert not page.errors, page.errors


def test_run_streams_to_the_end(page):
    page.click("#run-btn")
    status_has(page, "Finished", timeout_s=600)
    page.wait_for_timeout(800)
    assert page.locator("#speed-plot .scatterlayer .point").count() > 2
    assert page.locator("#mask-plot .heatmaplayer image, #mask-plot .hm").count() >= 1
    assert "measured speedup" in page.locator("#status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser_run.png"), full_page=True)
    assert not page.errors, page.errors


def test_compare_tab_draws_side_by_side(page):
    page.get_by_role("tab", name="Compare drafters").click()
    set_number(page, "compare-tokens", 12)
    page.click("#compare-btn")
    page.wait_for_function("(document.querySelector('#compare-status')?.innerText || '').includes('Done')",
                           timeout=600_000)
    page.wait_for_timeout(800)
    assert page.locator("#compare-plot .barlayer .point").count() >= 10  # MAT + speedup bars for 5 drafters
    assert "Lossless" in page.locator("#compare-note").inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser_compare.png"), full_page=True)
    assert not page.errors, page.errors
