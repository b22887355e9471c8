"""Issue 23: does the page show the speedup the engine achieves? For the first example and
the repeat-a-list example, at the page's defaults, run to the end:

- the engine alone (``racer.bench``: RACER and plain decoding alternated, each its
  fastest of ``--repeat`` rounds), the figure the page should show;
- through the API (gradio_client: Run on a fresh session; the final status line's
  "measured speedup");
- in headless Chromium (the Run button on a fresh page, the same status line).

Prints one table: per example and way, each measured speedup and the page's median as a
share of the engine's. Run it alone on the machine: anything beside it slows what it times.

    .venv/bin/python scripts/page_vs_engine.py [--repeat 3] [--examples 0,2]
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import racer  # noqa: E402,F401  first: how idle threads wait
from racer.bench import cli as bench  # noqa: E402
from racer.bench.runs import Prompt  # noqa: E402
from racer.engine.settings import Settings  # noqa: E402
from racer.model.loading import DEFAULT_MODEL, prompt_ids  # noqa: E402

SPEEDUP = re.compile(r"measured speedup \**([0-9.]+)×")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def engine_speedup(target, prompt: str, repeat: int) -> float:
    """RACER's speedup over plain decoding, the two alternated, best of ``repeat`` each."""
    ids = tuple(prompt_ids(target.tokenizer, prompt))
    result = bench.main(["--drafters", "racer,plain", "--repeat", str(repeat),
                         "--max-new-tokens", str(Settings().max_new_tokens)],
                        target=target, prompts=[Prompt(0, "qa", ids)])
    runs = {r["method"]: r for r in result["runs"]}
    return runs["plain"]["seconds"] / runs["racer"]["seconds"]   # the same tokens: greedy, exact


def page_speedup(status: str) -> float:
    found = SPEEDUP.search(status)
    if not found or "Finished" not in status:
        raise RuntimeError(f"the run did not finish with a measured speedup: {status[:300]}")
    return float(found.group(1))


def api_speedups(url: str, prompt: str, rounds: int) -> list[float]:
    from gradio_client import Client
    from tests.app_client import controls
    defaults = {**controls(), **Settings().as_dict(), "measure": True}
    out = []
    for _ in range(rounds):
        client = Client(url, verbose=False)   # a fresh session: a new run and its own plain run
        out.append(page_speedup(client.predict(prompt, **defaults, api_name="/run")[-1]))
    return out


def browser_speedups(url: str, prompt: str, rounds: int) -> list[float]:
    from playwright import sync_api
    from tests.test_browser import ARGS, CHROMIUM, SCREEN, status_has
    out = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(rounds):
            page = browser.new_page(viewport=SCREEN)
            page.goto(url)
            page.wait_for_selector("#step-btn", timeout=60_000)
            page.locator("#controls textarea").first.fill(prompt)
            page.click("#run-btn")
            status_has(page, "Finished", timeout_s=600)
            page.wait_for_timeout(500)
            out.append(page_speedup(page.locator("#status").inner_text()))
            page.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="engine rounds, and page runs per way")
    parser.add_argument("--examples", default="0,2", help="indices into assets/examples.jsonl")
    args = parser.parse_args()
    import app
    from tests.app_client import real_target
    examples = [json.loads(line) for line in (ROOT / "assets" / "examples.jsonl").read_text().splitlines()
                if line.strip()]
    chosen = [int(i) for i in args.examples.split(",")]
    target, note = real_target()
    demo = app.build_app(target, DEFAULT_MODEL, note)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        for i in chosen:
            prompt = examples[i]["prompt"]
            engine = engine_speedup(target, prompt, args.repeat)
            api = api_speedups(url, prompt, args.repeat)
            page = browser_speedups(url, prompt, args.repeat)
            rows.append((i, examples[i]["category"], engine, api, page))
            print(f"example {i}: engine {engine:.2f}x, API {api}, browser {page}", flush=True)
    finally:
        demo.close()
    print("\n| example | engine alone | API (runs) | API median / engine | Chromium (runs) | Chromium median / engine |")
    print("| --- | --- | --- | --- | --- | --- |")
    for i, category, engine, api, page in rows:
        a, b = statistics.median(api), statistics.median(page)
        print(f"| {i} ({category}) | {engine:.2f}x | {', '.join(f'{x:.2f}' for x in api)} | {a / engine:.0%} | "
              f"{', '.join(f'{x:.2f}' for x in page)} | {b / engine:.0%} |")


if __name__ == "__main__":
    main()
