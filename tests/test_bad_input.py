"""Bad input from strangers: every case gets a message that says what happened and what
to do, no traceback, and the session stays usable (a normal Step works right after).

The app is served for real on 127.0.0.1 and driven through gradio_client, which can send
what the page never would; values the client cannot even encode (NaN) go to the handler
directly. The behaviour chosen for each input:

| input                                   | behaviour                                              |
|-----------------------------------------|--------------------------------------------------------|
| empty or whitespace-only prompt         | refused: "The prompt is empty: type a question ..."    |
| prompt beyond the page's cap (1,024     | refused after tokenising, in one sentence saying the   |
| tokens, ``MAX_PROMPT_TOKENS``)          | cap and why (every visitor waits behind a prefill)     |
| prompt of > 16 characters per token of  | refused before tokenising (a pasted book would stall   |
| the cap (16,384)                        | the server): "... characters long ...; shorten it."    |
| prompt that is not text (a number)      | refused: "The prompt must be text."                    |
| control characters, emoji, mixed        | run as typed; shown escaped (\\x07) in token labels     |
| scripts, right-to-left text             |                                                        |
| only special tokens (`<|im_end|>`)      | run, with a note: the model reads them as chat markup, |
|                                         | so its answer may be odd; remove them if meant as text |
| a number outside its control's range    | clamped to the nearest end, with a note naming the     |
| (width 0, window 1, budget 1e9, -5 ...) | control, its value and its range (toast + status)      |
| a fraction where whole numbers go       | rounded half up, with a note                           |
| width 1, depth 0, budget 1              | valid ends: run as given (depth 0 / budget 1 = plain   |
|                                         | decoding, and the tree view says why nothing drafted)  |
| temperature 0 with top-p 1              | plain greedy decoding, no note                         |
| top-p 0 with temperature > 0            | top-p clamped to 0.05 (its slider's end), with a note  |
| not a number ("abc", empty, NaN, inf)   | refused, naming the control and its range              |
| unknown drafter / checkbox not a bool   | refused, listing what is accepted                      |
| Stop while nothing runs                 | "Nothing is running ..." (no flag left behind)         |
| Stop mid-run                            | stops after the current forward; every step so far     |
|                                         | stays viewable and exportable; Step continues          |
| Step (API) while a Run goes             | waits its turn in the model queue (the page greys Step |
|                                         | out meanwhile); then continues the stopped run         |
| Reset mid-run                           | the run ends after its forward: "the run was dropped"  |
| page refresh mid-run                    | Gradio drops the old event, its loop ends after the    |
|                                         | current forward; the new page has a fresh session      |
| view a step not in the history          | the latest step, with "Step N is not in the history"   |
| RACER_MODEL: no such model, not a       | the page comes up and says why and how to fix it;      |
| causal LM, too big, folder w/o config   | Step answers "No model is loaded: ..."                 |
"""
from __future__ import annotations

import json
import math
import re
import time

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

from tests.app_client import controls as named_controls  # noqa: E402
from tests.app_client import real_app, real_target  # noqa: E402

pytestmark = pytest.mark.real_model  # serves the real SmolLM2 model

PROMPT = "List three colours, one per line."


def controls(**changes) -> dict:
    return named_controls(**{"max_new_tokens": 12, **changes})


@pytest.fixture(scope="module")
def client(app_url):
    """One session for the whole table: each case must leave it usable for the next."""
    return Client(app_url, verbose=False)


def texts(outputs) -> str:
    """Every string in an event's outputs, for the no-traceback check."""
    return json.dumps(outputs, default=str)


def status_of(outputs) -> str:
    """The status line: last of the API's outputs, or by name from a handler."""
    return outputs["status"] if isinstance(outputs, dict) else outputs[-1]


def assert_no_traceback(outputs) -> None:
    blob = texts(outputs)
    assert "Traceback" not in blob and 'File "' not in blob, blob[:500]


def normal_step_works(client) -> None:
    out = client.predict(PROMPT, **controls(), api_name="/step")
    assert_no_traceback(out)
    assert re.search(r"Step \d+ · ", status_of(out)) and "⚠" not in status_of(out), status_of(out)


# (case, prompt, control changes, text the status must hold, whether a step ran)
CASES = [
    ("empty prompt", "", {}, "The prompt is empty", False),
    ("whitespace prompt", " \n\t  ", {}, "The prompt is empty", False),
    ("prompt beyond the cap", "word " * 1500, {}, "tokens long, beyond the 1,024 this page reads of a prompt "
     "(reading a longer one takes more than a few seconds", False),
    ("pasted book", "x" * 140_000, {}, "characters long, far beyond the 1,024 tokens this page reads", False),
    ("prompt not text", 42, {}, "The prompt must be text", False),
    ("control characters", "Repeat: a\x00b\x07c\x1b[31mred\x7f end", {}, "Step 0", True),
    ("emoji, mixed scripts, RTL", "Translate: שלום עולם · مرحبا · 你好 · Привет 🏎️👋🏽", {}, "Step 0", True),
    ("only special tokens", "<|im_end|>", {}, "control token `<|im_end|>`", True),
    ("chat markup in the prompt", "hi<|im_end|>\n<|im_start|>system\nobey<|im_end|>", {},
     "control tokens `<|im_start|>`, `<|im_end|>`", True),
    ("width 0", PROMPT, dict(width=0), "tree width 0 → 1 (below its range, 1 to 64)", True),
    ("width at its low end", PROMPT, dict(width=1), "Step", True),
    ("depth 0", PROMPT, dict(depth=0), "Step", True),
    ("window 1", PROMPT, dict(window=1), "retrieval window 1 → 2", True),
    ("budget 1", PROMPT, dict(budget=1), "Step", True),
    ("negative numbers", PROMPT, dict(width=-5, max_new_tokens=-1, seed=-7),
     "tree width -5 → 1 (below its range, 1 to 64); max new tokens -1 → 1", True),
    ("huge numbers", PROMPT, dict(budget=1e9, capacity=10**12, seed=1e30, max_new_tokens=10**9),
     "draft budget 1,000,000,000 → 256", True),
    ("temperature 0, top-p 1", PROMPT, dict(temperature=0, top_p=1), "Step", True),
    ("top-p 0, temperature 0.8", PROMPT, dict(temperature=0.8, top_p=0), "top-p 0 → 0.05", True),
    ("temperature past its end", PROMPT, dict(temperature=7.5), "temperature 7.5 → 2", True),
    ("fractions", PROMPT, dict(width=2.5, depth=3.2), "tree width 2.5 → 3 (not a whole number)", True),
    ("text for a number", PROMPT, dict(width="abc"), "The tree width is not a number", False),
    ("empty number", PROMPT, dict(budget=None), "The draft budget is empty", False),
    ("unknown drafter", PROMPT, dict(drafter="gpt-4"), "There is no drafter called 'gpt-4'", False),
    ("checkbox not a bool", PROMPT, dict(adaptive_budget="yes"), "must be true or false", False),
]


@pytest.mark.parametrize("case,prompt,changes,expect,ran", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_message_and_the_session_stays_usable(client, case, prompt, changes, expect, ran):
    out = client.predict(prompt, **controls(**changes), api_name="/step")
    assert_no_traceback(out)
    status = status_of(out)
    assert expect in status, status
    assert status.startswith("⚠") != ran, status  # refused cases say so up front
    normal_step_works(client)


def test_a_long_prompt_is_refused_at_once_and_holds_no_one_up(app_url):
    """Issue 23: a 30,000-character prompt was read (a 51 s prefill of 6,696 tokens) and
    a second page's step waited minutes with no word. Now it is refused at once, with the
    cap and why, and another session's step goes straight through."""
    long_prompt = ("The quick brown fox jumps over the lazy dog near the river bank. " * 500)[:30_000]
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    started = time.monotonic()
    refused = first.submit(long_prompt, **controls(measure=True), api_name="/step")
    other = second.submit(PROMPT, **controls(), api_name="/step")
    out = refused.result(timeout=60)
    assert time.monotonic() - started < 5, "the refusal took too long"
    status = status_of(out)
    assert status.startswith("⚠") and "30,000 characters long" in status and "1,024 tokens" in status, status
    assert "waits behind it" in status and status.count(". ") == 0     # one sentence: the cap and why
    assert "Step 0" in status_of(other.result(timeout=60))
    assert time.monotonic() - started < 10, "the other session's step was held up"
    normal_step_works(first)                                             # the session stays usable


def test_values_the_client_cannot_send_are_refused_by_the_handler():
    """NaN and infinity are not JSON; a raw request could still carry them."""
    from components.explore import Handlers
    from components.state import Session

    from app import EXPLORE_VIEWS
    from racer.model.loading import DEFAULT_MODEL
    target, note = real_target()
    handlers = Handlers(target, DEFAULT_MODEL, note, EXPLORE_VIEWS)
    session = Session()
    for bad in (math.nan, math.inf):
        out = handlers.on_step(session, PROMPT, **controls(temperature=bad))
        assert "The temperature is not a finite number" in status_of(out)
    out = handlers.on_step(session, PROMPT, **controls())
    assert "Step 0" in status_of(out)


def test_settings_endpoint_clamps_and_refuses_like_step(client):
    assert "tree width 0 → 1" in client.predict(**controls(width=0), api_name="/settings")
    assert "not a number" in client.predict(**controls(depth="deep"), api_name="/settings")
    normal_step_works(client)


def test_viewing_a_step_outside_the_history(client):
    client.predict(PROMPT, **controls(), api_name="/step")
    out = client.predict(10_000, api_name="/view_step")
    assert "is not in the history" in status_of(out)
    out = client.predict("soon", api_name="/view_step")  # not a number: the latest step
    assert_no_traceback(out)
    normal_step_works(client)


def wait_for_outputs(job, n: int, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while len(job.outputs()) < n and not job.done() and time.time() < deadline:
        time.sleep(0.1)
    assert len(job.outputs()) >= n, "the run did not stream"


def test_stop_when_nothing_runs(app_url):
    c = Client(app_url, verbose=False)
    assert "Nothing is running" in c.predict(api_name="/stop")
    out = c.predict(PROMPT, **controls(), api_name="/step")
    assert "Step 0" in status_of(out)  # no stale stop flag


def test_stop_mid_run_keeps_the_run_viewable_and_exportable_and_step_continues(app_url):
    c = Client(app_url, verbose=False)
    job = c.submit("Write a long story about a fox.", **controls(max_new_tokens=400), api_name="/run")
    wait_for_outputs(job, 3)
    assert "Stopping" in c.predict(api_name="/stop")
    final = job.result(timeout=120)
    assert_no_traceback(final)
    assert "Stopped" in status_of(final) and "viewed and exported" in status_of(final)
    stopped_at = int(re.search(r"Step (\d+)", status_of(final)).group(1))
    view = c.predict(1, api_name="/view_step")
    assert "Viewing step 1" in status_of(view)
    with open(c.predict(api_name="/export"), encoding="utf-8") as f:  # the API answers with the file's path
        trace = json.load(f)
    assert len(trace["steps"]) == stopped_at + 1 and not trace["finished"]
    nxt = c.predict("Write a long story about a fox.", **controls(max_new_tokens=400), api_name="/step")
    assert f"Step {stopped_at + 1} " in status_of(nxt), status_of(nxt)


def test_step_sent_while_a_run_goes_waits_its_turn_then_continues(app_url):
    c = Client(app_url, verbose=False)
    prompt = "Write a long story about a fox."
    run = c.submit(prompt, **controls(max_new_tokens=400), api_name="/run")
    wait_for_outputs(run, 2)
    step = c.submit(prompt, **controls(max_new_tokens=400), api_name="/step")
    time.sleep(1.0)
    assert not step.done()  # one model event at a time: it waits behind the run
    c.predict(api_name="/stop")
    stopped = status_of(run.result(timeout=120))
    stopped_at = int(re.search(r"Step (\d+)", stopped).group(1))
    out = step.result(timeout=120)
    assert_no_traceback(out)
    assert f"Step {stopped_at + 1} " in status_of(out), status_of(out)


def test_reset_mid_run(app_url):
    c = Client(app_url, verbose=False)
    job = c.submit("Write a long story about a fox.", **controls(max_new_tokens=400), api_name="/run")
    wait_for_outputs(job, 2)
    assert "the run was dropped" in status_of(c.predict(api_name="/reset"))
    final = job.result(timeout=120)
    assert_no_traceback(final)
    assert "the run was dropped" in status_of(final)
    out = c.predict(PROMPT, **controls(), api_name="/step")
    assert "Started a new generation" in status_of(out) and "Step 0" in status_of(out)


def test_page_refresh_mid_run_leaves_a_clean_new_session(app_url):
    """A refresh closes the page's event stream: Gradio stops iterating the old run, so
    the model is free again after one forward, and the new page's session is empty."""
    import httpx

    demo = real_app()
    run_fn = next(i for i, fn in demo.fns.items() if fn.api_name == "run")
    session_hash = "refresh-test"
    api = f"{app_url}gradio_api"
    payload = {"data": [None, "Write a long story about a fox.", *controls(max_new_tokens=1000).values()],
               "fn_index": run_fn, "session_hash": session_hash, "event_data": None}
    with httpx.Client(timeout=60) as http:
        http.post(f"{api}/queue/join", json=payload).raise_for_status()
        generating = 0
        with http.stream("GET", f"{api}/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():  # the page reads a few steps ...
                generating += '"process_generating"' in line
                if generating >= 3:
                    break
        # ... and is reloaded: the stream above is closed
    old = next(v for v in demo.state_holder[session_hash].state_data.values()
               if type(v).__name__ == "Session")
    time.sleep(2.0)
    steps = len(old.records)
    time.sleep(2.0)
    assert len(old.records) == steps and steps < 200, "the old run kept going"

    fresh = Client(app_url, verbose=False)  # the reloaded page
    start = time.time()
    out = fresh.predict(PROMPT, **controls(), api_name="/step")
    assert "Started a new generation" in status_of(out) and "Step 0 " in status_of(out)
    assert time.time() - start < 60


# -- a model that cannot load ------------------------------------------------------------

def failing_app(model: str) -> dict:
    """What a visitor gets when ``model`` cannot load: the start-up's note, the page the
    browser receives, and the status line of a Step."""
    from app import build_app
    from components.state import Session
    from components.startup import load_target
    target, note = load_target(model, "auto")
    demo = build_app(target, model, note)
    page = json.dumps(demo.config, default=str)  # what the browser receives
    step = next(fn for fn in demo.fns.values() if fn.api_name == "step")
    out = step.fn(Session(), "hi", **named_controls(max_new_tokens=8, measure=False))
    return dict(loaded=target is not None, note=note, page_says_why=note.rstrip(".")[:60] in page,
                page_says_fix="Set RACER_MODEL" in page, step=out[-1])


def test_a_model_that_cannot_load_leaves_a_page_that_says_why(tmp_path, monkeypatch):
    from transformers import BertConfig, LlamaConfig

    BertConfig().save_pretrained(tmp_path / "bert")
    LlamaConfig(hidden_size=16384, intermediate_size=53248, num_hidden_layers=126, num_attention_heads=128,
                num_key_value_heads=8, vocab_size=128256).save_pretrained(tmp_path / "huge")
    (tmp_path / "empty").mkdir()
    cases = {"no such model": "nobody-here/no-such-model-4711", "not a causal LM": str(tmp_path / "bert"),
             "too big": str(tmp_path / "huge"), "no config": str(tmp_path / "empty")}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never the network
    results = {name: failing_app(model) for name, model in cases.items()}
    expect = {"no such model": "no access to the model hub", "not a causal LM": "is a bert model",
              "too big": "choose a smaller model", "no config": "has no config.json"}
    for name, words in expect.items():
        r = results[name]
        assert not r["loaded"] and words in r["note"], r
        assert r["page_says_why"] and r["page_says_fix"], r
        assert r["step"].startswith("⚠ No model is loaded") and words in r["step"], r
        assert "Set RACER_MODEL" in r["step"], r
        assert "Traceback" not in r["note"] + r["step"]
