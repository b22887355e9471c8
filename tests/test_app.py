"""The app served for real and driven through gradio_client, as a browser would:
step, run to the end, stop mid-run, reset, revisit a step, export, compare.

Uses the real default model; generations are kept short (the model does a few
tens of tokens per second on a small CPU).
"""
from __future__ import annotations

import json
import re
import time

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

from tests.app_client import controls as named_controls  # noqa: E402
from tests.app_client import plain_greedy_text  # noqa: E402

pytestmark = pytest.mark.real_model  # serves the real SmolLM2 model

PROMPT = ("Here is a packing list: passport, phone charger, toothbrush, rain jacket, water bottle.\n\n"
          "Repeat the list exactly, as a numbered list with one item per line.")
TOKENS = 24


def controls(max_new_tokens=TOKENS, measure=True, **changes) -> dict:
    """The Explore controls by name, as the API takes them."""
    return named_controls(max_new_tokens=max_new_tokens, measure=measure, **changes)


VIEWS = ("tree", "tree in words", "outcome", "text", "speed", "calibration", "mask", "automaton", "automaton graph",
         "narration", "size note", "scrubber", "status")   # the Fixed size button is not an API output


def views(result) -> dict:
    return dict(zip(VIEWS, result))


def value_of(output):
    """A component update comes back as a dict with its new value under "value"."""
    return output["value"] if isinstance(output, dict) and "value" in output else output


def plot_data(value) -> list[dict]:
    plot = value["plot"] if isinstance(value, dict) and "plot" in value else value
    return json.loads(plot)["data"] if isinstance(plot, str) else plot["data"]


@pytest.fixture
def client(app_url):
    """A fresh client is a fresh browser session (its own gr.State)."""
    return Client(app_url, verbose=False)


def test_three_steps_show_the_tree_and_numbers(client):
    for i in range(3):
        v = views(client.predict(PROMPT, **controls(measure=False), api_name="/step"))
        assert f"Step {i}" in v["status"], v["status"]
    assert "Step 2" in v["outcome"] and "accepted" in v["outcome"]
    traces = plot_data(v["tree"])
    assert any(t.get("name") == "root (already committed)" for t in traces)
    assert any("star" in str(t.get("marker", {}).get("symbol")) for t in traces)  # the model's token
    assert 'class="tok tok-' in v["text"]
    assert value_of(v["scrubber"]) == 2
    assert "accepted" in v["narration"]
    # a changed control applies from the next step and is recorded in that step
    v = views(client.predict(PROMPT, **controls(measure=False, budget=8), api_name="/step"))
    assert "Step 3" in v["status"] and "draft budget 16 → 8" in v["outcome"]
    assert "budget (nodes)</span> <span class=\"v\">8<" in v["outcome"].replace("'", '"')


def test_run_to_the_end_equals_plain_greedy(client):
    job = client.submit(PROMPT, **controls(), api_name="/run")
    final = views(job.result(timeout=600))
    streamed = job.outputs()
    assert "Finished" in final["status"], final["status"]
    assert "measured speedup" in final["status"]
    steps = int(re.search(r"Step (\d+)", final["status"]).group(1))
    # it streamed: a first frame before any forward, then at most one frame per forward
    # (steps 0..steps, prefill included; fewer when frames are throttled), then the
    # final frame. How many were throttled depends on the machine's speed, so what is
    # checked is the order: each frame shows a later step than the one before it.
    shown = [int(m.group(1)) for m in (re.search(r"Step (\d+)", views(f)["status"]) for f in streamed) if m]
    assert len(streamed) >= 2 and shown and shown[-1] == steps
    assert shown[:-1] == sorted(set(shown[:-1])) and all(s <= steps for s in shown)
    assert len(streamed) <= (steps + 1) + 2
    speed = plot_data(final["speed"])
    assert len(speed[0]["x"]) == steps  # MAT per step

    path = client.predict(api_name="/export")
    assert isinstance(path, str), path  # the API answers with the file, not a component update
    with open(path, encoding="utf-8") as f:
        trace = json.load(f)
    assert trace["final_text"] == plain_greedy_text(PROMPT, TOKENS)
    assert trace["steps"][-1]["finished"] and trace["speedup"] is not None
    assert plot_data(final["calibration"])[1]["x"]  # estimated vs observed, binned


def test_the_exported_text_is_the_text_as_read(client):
    """The answer ends in <|im_end|>: the export's text leaves it out and says so."""
    client.predict(api_name="/reset")
    final = views(client.submit("Reply with just the word yes.", **controls(max_new_tokens=40, measure=False),
                                api_name="/run").result(timeout=600))
    assert "end-of-sequence" in final["status"], final["status"]
    with open(client.predict(api_name="/export"), encoding="utf-8") as f:
        trace = json.load(f)
    assert "<|im_end|>" not in trace["final_text"] and trace["special_tokens_dropped"] == ["<|im_end|>"]
    assert trace["final_text"] == plain_greedy_text("Reply with just the word yes.", 40)


def test_the_status_line_names_every_setting_moved_since_the_last_step(client):
    client.predict(api_name="/reset")
    for _ in range(2):
        client.predict(PROMPT, **controls(measure=False), api_name="/step")
    for moved in (dict(width=3), dict(width=3, depth=5), dict(width=3, depth=5, window=4)):
        note = client.predict(**controls(measure=False, **moved), api_name="/settings")
    assert "tree width 8 → 3, tree depth 12 → 5, retrieval window 10 → 4; applies from the next step" in note
    v = views(client.predict(PROMPT, **controls(measure=False, width=3, depth=5, window=4), api_name="/step"))
    assert "settings changed at this step: tree width 8 → 3, tree depth 12 → 5, retrieval window 10 → 4" \
        in v["status"], v["status"]
    assert "tree width 8 → 3, tree depth 12 → 5, retrieval window 10 → 4" in v["outcome"]


def test_stop_mid_run_keeps_everything(client):
    job = client.submit(PROMPT, **controls(max_new_tokens=200, measure=False), api_name="/run")
    deadline = time.time() + 300
    while len(job.outputs()) < 4 and time.time() < deadline:
        time.sleep(0.2)
    assert len(job.outputs()) >= 4, "the run did not stream"
    assert "Stopping" in client.predict(api_name="/stop")
    final = views(job.result(timeout=120))
    assert "Stopped" in final["status"], final["status"]
    stopped_at = int(re.search(r"Step (\d+)", final["status"]).group(1))
    assert 1 <= stopped_at < 100
    # nothing was lost: the next Step continues from there
    nxt = views(client.predict(PROMPT, **controls(max_new_tokens=200, measure=False), api_name="/step"))
    assert f"Step {stopped_at + 1}" in nxt["status"], nxt["status"]


def test_history_reset_and_errors(client):
    for _ in range(3):
        client.predict(PROMPT, **controls(measure=False), api_name="/step")
    past = views(client.predict(1, api_name="/view_step"))
    assert "<b>Step 1:</b>" in past["outcome"] and "Viewing step 1" in past["status"]

    v = views(client.predict(api_name="/reset"))
    assert "Reset" in v["status"] and "Nothing generated yet" in v["text"]

    # an empty prompt is a message, not a traceback, and the session stays usable
    v = views(client.predict("   ", **controls(measure=False), api_name="/step"))
    assert "empty" in v["status"].lower()
    v = views(client.predict(PROMPT, **controls(measure=False), api_name="/step"))
    assert "Step 0" in v["status"]
    # a prompt longer than the model's context is refused with a sentence, not a crash
    v = views(client.predict("word " * 9000, **controls(measure=False), api_name="/step"))
    assert "shorten it" in v["status"], v["status"]
    v = views(client.predict(PROMPT, **controls(measure=False), api_name="/step"))
    assert "Step 1" in v["status"], v["status"]  # the earlier generation was kept


def test_drafter_switched_mid_run_takes_over_at_the_next_step_and_stays_exact(client):
    client.predict(api_name="/reset")
    for _ in range(3):
        client.predict(PROMPT, **controls(measure=False), api_name="/step")
    note = client.predict(**controls(measure=False, drafter="prompt_lookup"), api_name="/settings")
    assert "drafter RACER (ours) → prompt lookup" in note and "applies from the next step" in note
    final = views(client.submit(PROMPT, **controls(measure=False, drafter="prompt_lookup"),
                                api_name="/run").result(timeout=600))
    assert "Finished" in final["status"], final["status"]
    with open(value_of(client.predict(api_name="/export")), encoding="utf-8") as f:
        trace = json.load(f)
    drafters = [step["settings"]["drafter"] for step in trace["steps"]]
    assert drafters[:3] == ["racer"] * 3 and set(drafters[3:]) == {"prompt_lookup"}
    assert trace["final_text"] == plain_greedy_text(PROMPT, TOKENS)


def test_compare_two_drafters(client):
    job = client.submit(PROMPT, 12, ["racer", "plain"], **controls(measure=False), api_name="/compare")
    status, table, plot, note = job.result(timeout=600)
    rows = table["data"] if isinstance(table, dict) else table
    assert [r[0] for r in rows] == ["RACER (ours)", "plain decoding"]
    assert "Lossless" in note
    assert len(plot_data(plot)) >= 4


def test_every_endpoint_names_its_parameters_and_returns(client):
    """The API shows the controls by their settings' names and each output by its label:
    no ``param_N`` or ``value_N`` anywhere."""
    from racer.engine.settings import KNOBS

    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/step", "/run", "/settings", "/compare", "/tune", "/tune_apply"} <= set(endpoints)
    for name, endpoint in endpoints.items():
        params = [p["parameter_name"] for p in endpoint["parameters"]]
        returns = [r["label"] for r in endpoint["returns"]]
        assert not [p for p in params if re.fullmatch(r"param_\d+", p)], (name, params)
        assert all(r and not re.fullmatch(r"value_\d+", r) for r in returns), (name, returns)
    step = endpoints["/step"]
    assert [p["parameter_name"] for p in step["parameters"]] == ["prompt", *KNOBS, "measure"]
    assert all(p["parameter_has_default"] for p in step["parameters"][1:])  # left out: the page's value
    assert [r["label"] for r in step["returns"]][:4] == ["Draft tree", "Draft tree in words", "Step outcome", "Generated text"]
