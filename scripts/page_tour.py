"""A tour of the page in headless Chromium at 1440x900, as a teacher and a tuner would
take it: screenshots of every tab go to artifacts/tour/ for a person to look at (the
README's pictures are copied from there).

    .venv/bin/python scripts/page_tour.py [--skip explore,compare,tune,upload]

It launches the app over the real default model on a free port (like the browser
tests), then: Explore at the defaults (steps 0, 1, 2, 5 and the end), the Teaching
preset on the same prompt, the automaton, the chart tabs, a prompt in five scripts, a
64-node tree, Compare, Tune, a Tune sweep on an uploaded file under SGLang's tree with
Deploy's command, and How it works.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright import sync_api  # noqa: E402

from tests.test_browser import ARGS, CHROMIUM, SCREEN, advanced, set_number, status_has  # noqa: E402

OUT = ROOT / "artifacts" / "tour"
REPEAT_A_LIST = ("Here is a packing list:\n- passport\n- phone charger\n- toothbrush\n- rain jacket\n"
                 "- hiking boots\n- water bottle\n- sunscreen\n- notebook\n\n"
                 "Write the list again, numbered, one item per line.")
SCRIPTS = ("Translate, keeping every symbol: שלום עולם, مرحبا بالعالم, 日本語の文章, 👍🏽 👨‍👩‍👧, "
           "café naïve. Then repeat: שלום עולם, مرحبا بالعالم, 日本語の文章, 👍🏽 👨‍👩‍👧.")


def shot(page, name: str, full: bool = False, selector: str | None = None) -> None:
    path = OUT / f"{name}.png"
    if selector:
        page.locator(selector).first.scroll_into_view_if_needed()
        page.locator(selector).first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full)
    print("wrote", path.relative_to(ROOT), flush=True)


def step(page, index: int) -> None:
    page.click("#step-btn")
    status_has(page, f"Step {index}")
    page.wait_for_timeout(700)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).first.click()
    page.wait_for_timeout(800)


def new_prompt(page, text: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.click("#reset-btn")
    page.wait_for_timeout(500)
    page.fill("#controls textarea", text)


def explore(page, prefix: str, steps=(0, 1, 2, 5)) -> None:
    done = -1
    for i in steps:
        while done < i:
            done += 1
            step(page, done)
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, f"{prefix}_step{i}")
    page.click("#run-btn")
    status_has(page, "Finished", timeout_s=600)
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"{prefix}_end")
    shot(page, f"{prefix}_end_full", full=True)


UPLOAD = ['{"prompt": "List the days of the week, then list them again in reverse order."}',
          '{"turns": ["Repeat this sentence twice: the quick brown fox jumps over the lazy dog."]}',
          '{"prompt": "Write the numbers from one to twelve in words, separated by commas."}']


def sweep(page, name: str) -> None:
    """Runs the Tune sweep as set, waits for its end and takes the whole page."""
    page.click("#tune-btn")
    page.wait_for_function(
        "(document.querySelector('#tune-status')?.innerText || '').match(/Done|Finished|stood out|Stopped/)",
        timeout=900_000)
    page.wait_for_timeout(1000)
    shot(page, name, full=True)


def tune_on_upload(page) -> None:
    """Issue 16's flow: SGLang's tree in the drafter menu, a Tune sweep on an uploaded
    file of 3 prompts, then Deploy's SGLang command for the settings."""
    tab(page, "Explore")
    page.evaluate("window.scrollTo(0, 0)")
    advanced(page)
    page.click("#drafter input")
    page.get_by_role("option").filter(has_text="SGLang").first.click()
    page.wait_for_timeout(1000)
    shot(page, "explore_sglang_chosen")
    advanced(page)
    tab(page, "Tune")
    page.get_by_label("my own prompts (a .jsonl or .txt file)").check()
    path = OUT / "three_prompts.jsonl"
    path.write_text("\n".join(UPLOAD) + "\n")
    page.locator("#tune-upload input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(1500)
    set_number(page, "tune-tokens", 24)
    for name, off in (("widths", ("2",)), ("depths", ("8",))):
        for value in off:
            page.locator(f"#tune-{name}").get_by_label(value, exact=True).uncheck()
    shot(page, "tune_upload_ready", full=True)
    sweep(page, "tune_upload_sglang")
    if page.locator("#tune-apply").is_visible():
        page.click("#tune-apply")
        page.wait_for_timeout(1000)
    page.click("#deploy")           # the accordion
    page.click("#deploy-btn")
    page.wait_for_function("(document.querySelector('#deploy-command')?.innerText || '').includes('sglang')",
                           timeout=60_000)
    page.locator("#deploy").scroll_into_view_if_needed()
    shot(page, "deploy_sglang")
    shot(page, "deploy_sglang_full", full=True)


def tour(url: str, skip: set[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=SCREEN)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#step-btn", timeout=120_000)
        shot(page, "start")

        if "explore" not in skip:
            page.fill("#controls textarea", REPEAT_A_LIST)
            explore(page, "defaults")
            for name, slug in (("Automaton", "automaton"), ("Speedup", "speedup"), ("Attention mask", "mask")):
                tab(page, name)
                shot(page, f"defaults_{slug}", full=True)
            tab(page, "What happened")

            new_prompt(page, REPEAT_A_LIST)
            if page.locator("#teaching-preset").count():
                page.click("#teaching-preset")
                page.wait_for_timeout(1500)
            explore(page, "teaching")
            tab(page, "Automaton")
            shot(page, "teaching_automaton", full=True)
            tab(page, "What happened")

            new_prompt(page, SCRIPTS)
            explore(page, "scripts", steps=(0, 1, 3))
            tab(page, "Automaton")
            shot(page, "scripts_automaton", full=True)
            tab(page, "What happened")

            new_prompt(page, REPEAT_A_LIST)
            advanced(page)
            set_number(page, "budget", 64)
            box = page.locator("#adaptive-budget input[type=checkbox]")
            if box.is_checked():
                box.uncheck()
            advanced(page)
            step(page, 0)
            step(page, 1)
            page.evaluate("window.scrollTo(0, 0)")
            shot(page, "tree64")
            shot(page, "tree64_full", full=True)

        if "compare" not in skip:
            tab(page, "Compare drafters")
            set_number(page, "compare-tokens", 24)
            page.click("#compare-btn")
            page.wait_for_function(
                "(document.querySelector('#compare-status')?.innerText || '').includes('Done')", timeout=900_000)
            page.wait_for_timeout(1000)
            shot(page, "compare", full=True)
        if "tune" not in skip:
            tab(page, "Tune")
            sweep(page, "tune")
        if "upload" not in skip:
            tune_on_upload(page)
        tab(page, "How it works")
        shot(page, "how_it_works", full=True)
        browser.close()
    print("page errors:", errors or "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated: explore, compare, tune, upload")
    parser.add_argument("--url", default="", help="a running app instead of launching one")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.url:
        tour(args.url, skip)
        return
    import app
    from tests.app_client import real_app
    from tests.conftest import free_port
    demo = real_app()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    try:
        tour(f"http://127.0.0.1:{port}/", skip)
    finally:
        demo.close()


if __name__ == "__main__":
    main()
