"""End to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright), on
a 1440x900 screen: the page loads; Step draws a tree whose SVG nodes are really on
the page, with the buttons, the outcome and the tree in view without scrolling and no
label on a marker; the automaton graph draws; Run streams to the end; the race
replays it; the Compare tab draws its charts; a 64-node tree thins its labels.

Screenshots go to artifacts/ for a person to look at (the README shows some of them,
copied to assets/): explore_step0/1/5.png, automaton.png, browser_run.png,
race.png (mid-race) and race_end.png, browser_compare.png, tree_64.png and
automaton_64.png (the automaton of that step).
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
SCREEN = {"width": 1440, "height": 900}
pytestmark = [pytest.mark.real_model, pytest.mark.browser]  # the real SmolLM2 model, in Chromium

PROMPT = ("Here is a packing list: passport, phone charger, toothbrush, rain jacket, water bottle.\n\n"
          "Repeat the list exactly, as a numbered list with one item per line.")

# Every marker and every non-empty label of a plot, as client rectangles [left, top, right, bottom].
BOXES_JS = """sel => {
  const root = document.querySelector(sel);
  const rect = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const markers = [...root.querySelectorAll('.scatterlayer path.point')]
    .filter(e => e.getBoundingClientRect().width > 0).map(rect);
  const labels = [...root.querySelectorAll('.scatterlayer .textpoint text')]
    .filter(e => e.textContent.trim()).map(e => [e.textContent, ...rect(e)]);
  return {markers, labels};
}"""


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
        page = browser.new_page(viewport=SCREEN)
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


def advanced(page) -> None:
    """Opens or closes the Advanced accordion by its header."""
    page.locator("#advanced").get_by_text("Advanced", exact=True).click()
    page.wait_for_timeout(300)


def step(page, index: int) -> None:
    page.click("#step-btn")
    status_has(page, f"Step {index}")
    page.wait_for_timeout(600)


def overlapping_labels(page, selector: str, slack: float = 1.5) -> list[str]:
    """Labels whose box overlaps a marker or another label (by more than ``slack`` px)."""
    boxes = page.evaluate(BOXES_JS, selector)
    def hit(a, b):
        return a[0] + slack < b[2] and b[0] + slack < a[2] and a[1] + slack < b[3] and b[1] + slack < a[3]
    bad = []
    labels = boxes["labels"]
    for i, (text, *box) in enumerate(labels):
        for m in boxes["markers"]:
            if hit(box, m):
                bad.append(f"{text!r} {[round(v) for v in box]} on a marker {[round(v) for v in m]}")
        if any(hit(box, other[1:]) for other in labels[i + 1:]):
            bad.append(f"{text!r} on a label")
    return bad


def in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= SCREEN["height"]


def test_step_draws_the_tree_above_the_fold(page):
    page.fill("#controls textarea", PROMPT)
    advanced(page)  # open the accordion and lengthen the run a little
    set_number(page, "max-new-tokens", 48)
    # fixed trees: what is drawn must not hang on how fast the machine is (CI once drew the root
    # alone at step 1: its start-up costs made a 16-node tree 2.6x a token, and the budget said no)
    page.locator("#adaptive-budget input[type=checkbox]").uncheck()
    advanced(page)  # and close it again
    page.evaluate("window.scrollTo(0, 0)")  # the number box was scrolled to
    step(page, 0)
    assert page.locator("#tree-plot .scatterlayer .point").count() == 1  # prefill: the first token
    page.screenshot(path=str(ARTIFACTS / "explore_step0.png"))
    step(page, 1)
    points = page.locator("#tree-plot .scatterlayer .point")
    assert points.count() >= 2, "the draft tree's nodes are not on the page"
    assert page.locator("#tree-plot .legendtext").count() >= 2
    box = page.locator("#tree-plot .main-svg").first.bounding_box()
    assert box and box["height"] > 200 and box["width"] > 800
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#step-btn", "#run-btn", "#outcome", "#tree-plot"):  # a 1440x900 screen, no scrolling
        assert in_view(page, selector), f"{selector} is not in view at 1440x900"
    assert not overlapping_labels(page, "#tree-plot")
    page.screenshot(path=str(ARTIFACTS / "explore_step1.png"))
    for i in range(2, 6):
        step(page, i)
    assert not overlapping_labels(page, "#tree-plot")
    assert page.locator("#generated .tok").count() > 4  # legend + generated tokens
    page.screenshot(path=str(ARTIFACTS / "explore_step5.png"))
    page.screenshot(path=str(ARTIFACTS / "browser_step.png"), full_page=True)
    assert not page.errors, page.errors


def test_automaton_graph_draws_the_trie(page):
    page.get_by_role("tab", name="Automaton").click()
    page.wait_for_timeout(800)
    plot = page.locator("#automaton-plot")
    plot.scroll_into_view_if_needed()
    assert page.locator("#automaton-plot .scatterlayer .point").count() >= 3
    legend = page.locator("#automaton-plot .legendtext").evaluate_all("es => es.map(e => e.textContent)")
    assert "trie root" in legend and any("failure link" in t for t in legend)
    assert not overlapping_labels(page, "#automaton-plot")
    plot.screenshot(path=str(ARTIFACTS / "automaton.png"))
    page.get_by_role("tab", name="What happened").click()
    page.evaluate("window.scrollTo(0, 0)")
    assert not page.errors, page.errors


def test_run_streams_to_the_end(page):
    page.click("#run-btn")
    status_has(page, "Finished", timeout_s=600)
    page.wait_for_timeout(800)
    assert "measured speedup" in page.locator("#status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser_run.png"), full_page=True)
    page.get_by_role("tab", name="Speedup").click()
    page.wait_for_timeout(600)
    assert page.locator("#speed-plot .scatterlayer .point").count() > 2
    page.get_by_role("tab", name="Attention mask").click()
    page.wait_for_timeout(600)
    assert page.locator("#mask-plot .heatmaplayer image, #mask-plot .hm").count() >= 1
    assert not page.errors, page.errors


def test_the_race_replays_the_run(page):
    page.get_by_role("tab", name="Race").click()
    page.click("#race-btn")
    page.wait_for_selector("#race .race-lane", timeout=300_000)
    race = page.locator("#race")
    assert "Replay of measured times" in race.inner_text()
    finishes = page.locator("#race .race-finish").all()
    assert len(finishes) == 2
    delays = [float(f.evaluate("e => getComputedStyle(e).animationDelay").rstrip("s")) for f in finishes]
    page.wait_for_timeout(int(min(delays) * 1000 * 0.7))  # mid-race: the leader is ahead
    page.locator("#step-tabs").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "race.png"))
    page.wait_for_timeout(int(max(delays) * 1000) + 800)
    shown = page.locator("#race .race-finish").evaluate_all("es => es.map(e => getComputedStyle(e).opacity)")
    assert shown == ["1", "1"]  # both finish lines are up once their measured times have passed
    page.screenshot(path=str(ARTIFACTS / "race_end.png"))
    assert page.locator("#race-plot .scatterlayer .trace").count() >= 2
    page.evaluate("window.scrollTo(0, 0)")
    assert not page.errors, page.errors


def test_compare_tab_draws_side_by_side(page):
    page.get_by_role("tab", name="Compare drafters").click()
    set_number(page, "compare-tokens", 12)
    set_number(page, "compare-repeats", 1)   # what is drawn, not how steady: one round
    page.click("#compare-btn")
    page.wait_for_function("(document.querySelector('#compare-status')?.innerText || '').includes('Done')",
                           timeout=600_000)
    page.wait_for_timeout(800)
    assert page.locator("#compare-plot .barlayer .point").count() >= 10  # MAT + speedup bars for 5 drafters
    assert "Lossless" in page.locator("#compare-note").inner_text()
    # every drafter's name is whole and inside the chart ("plain decoding" used to be cut)
    svg = page.locator("#compare-plot .main-svg").first.bounding_box()
    ticks = page.locator("#compare-plot .yaxislayer-above .ytick text")
    names = ticks.evaluate_all("es => es.map(e => e.textContent)")
    assert "plain decoding" in names and "RACER (ours)" in names
    for tick in ticks.all():
        box = tick.bounding_box()
        assert box["x"] >= svg["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"]
    page.screenshot(path=str(ARTIFACTS / "browser_compare.png"), full_page=True)
    assert not page.errors, page.errors


def test_a_64_node_tree_thins_its_labels(page):
    page.get_by_role("tab", name="Explore").click()
    page.click("#reset-btn")
    advanced(page)
    set_number(page, "budget", 64)
    page.locator("#adaptive-budget input[type=checkbox]").uncheck()
    advanced(page)
    step(page, 0)
    step(page, 1)
    nodes = page.locator("#tree-plot .scatterlayer .point").count()
    assert nodes >= 60, f"expected a 64-node tree, got {nodes} markers"
    assert not overlapping_labels(page, "#tree-plot")
    labels = page.evaluate(BOXES_JS, "#tree-plot")["labels"]
    assert 0 < len(labels) < nodes  # labels thin out instead of colliding
    page.locator("#tree-plot").scroll_into_view_if_needed()
    page.locator("#tree-plot").screenshot(path=str(ARTIFACTS / "tree_64.png"))
    page.get_by_role("tab", name="Automaton").click()   # a big tree drafts many continuations
    page.wait_for_timeout(800)
    page.locator("#automaton-plot").scroll_into_view_if_needed()
    assert not overlapping_labels(page, "#automaton-plot")
    page.locator("#automaton-plot").screenshot(path=str(ARTIFACTS / "automaton_64.png"))
    assert not page.errors, page.errors


def test_enter_in_a_number_box_applies_it_and_a_typed_step_moves_the_view(page):
    """Issue 14, inputs: Enter in a slider's number box applies the number at once, with the
    box still focused (before, nothing happened until focus left it); a step typed into the
    history box moves the view and the label, not only the knob."""
    page.click("#reset-btn")
    page.fill("#controls textarea", PROMPT)
    for i in range(3):
        step(page, i)
    history = page.locator("#scrubber input[type=number]")
    history.fill("1")
    history.press("Enter")
    page.wait_for_function("() => document.querySelector('#scrubber').innerText.includes('History: step 1 of 2')",
                           timeout=30_000)
    status_has(page, "Viewing step 1", timeout_s=30)
    page.screenshot(path=str(ARTIFACTS / "typed_history_step.png"))
    box = page.locator("#width input[type=number]")
    width = 3 if box.input_value() != "3" else 5
    box.fill(str(width))
    box.press("Enter")
    status_has(page, "tree width", timeout_s=30)
    status_has(page, f"→ {width}", timeout_s=30)
    assert not page.errors, page.errors


def test_ten_fast_step_clicks_make_ten_steps(page):
    """Issue 23: ten fast Step clicks gave 3 steps, the other 7 dropped without a word.
    Every click now queues behind the model: ten clicks, steps 0 to 9."""
    page.click("#reset-btn")
    status_has(page, "Reset", timeout_s=30)
    page.fill("#controls textarea", "Write a long story about a fox.")   # no end within ten steps
    advanced(page)
    set_number(page, "max-new-tokens", 256)
    advanced(page)
    page.evaluate("window.scrollTo(0, 0)")
    for _ in range(10):
        page.click("#step-btn", delay=20)
    status_has(page, "Step 9 ", timeout_s=300)
    page.wait_for_timeout(1500)                      # nothing more arrives: exactly ten
    assert "Step 9 " in page.locator("#status").inner_text()
    assert "History: step 9 of 9" in page.locator("#scrubber").inner_text()
    assert not page.errors, page.errors
