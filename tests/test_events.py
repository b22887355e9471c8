"""Issue 24 item 3: one way for a model event (``components.events``). The busy flag is up
exactly while the handler runs, however it ends; an error becomes a sentence in the status
output (and the handler's own ``failed`` view); outputs go by name, a name left out stays
as it is, and a misspelt name is an error, not a blank panel."""
from __future__ import annotations

import gradio as gr
import pytest

from components.events import by_name, model_event
from components.state import Session
from components.tune import TuneState
from racer import UserError


class Page:
    seen: list

    def __init__(self):
        self.seen = []

    @model_event("engine", "Press Reset.", busy=True,
                 failed=lambda self, error, sentence, session, *a, **k: {"tree": f"kept ({type(error).__name__})"})
    def on_run(self, session, fail_at=None):
        for i in range(3):
            self.seen.append(session.running)
            if i == fail_at:
                raise RuntimeError("a bug")
            yield {"status": f"step {i}", "tree": i}

    @model_event("race", "Press Race.")
    def on_race(self, session, error=None):
        if error:
            raise error
        return {"status": "raced", "plot": 1}


@pytest.mark.parametrize("holder", [Session(), TuneState()])
def test_the_busy_flag_is_up_while_the_event_runs_and_down_however_it_ends(holder):
    page = Page()
    holder.stop_requested = True                # a Stop from before does not stop the new event
    frames = page.on_run(holder)
    assert next(frames) == {"status": "step 0", "tree": 0} and holder.running and not holder.stop_requested
    frames.close()                              # the page was closed mid-run
    assert not holder.running
    *_, last = page.on_run(holder, fail_at=1)   # a bug mid-run
    assert not holder.running and page.seen == [True, True, True]
    assert last["status"].startswith("⚠ Something went wrong in the engine (RuntimeError: a bug). Press Reset.")
    assert last["tree"] == "kept (RuntimeError)"


def test_a_user_error_is_said_as_it_is_and_a_returned_event_keeps_no_flag():
    session = Session()
    shown = Page().on_race(session, UserError("Press Run first."))
    assert shown == {"status": "⚠ Press Run first."} and not session.running
    assert Page().on_race(session) == {"status": "raced", "plot": 1}


def test_outputs_go_by_name_in_the_events_order():
    page = Page()
    ordered = by_name(page.on_race, ["plot", "race", "status"])
    assert ordered(Session()) == (1, gr.skip(), "raced")          # the race box left as it is
    assert by_name(page.on_race, ["status", "plot"])(Session(), UserError("no")) == ("⚠ no", gr.skip())
    assert list(by_name(page.on_run, ["tree", "status"])(Session()))[0] == (0, "step 0")
    with pytest.raises(KeyError, match="not among its outputs"):
        by_name(page.on_race, ["status"])(Session())              # "plot" has no place on the page
    one = by_name(lambda: {"status": "alone"}, ["status"])
    assert one() == "alone"                                       # one output: its value, not a 1-tuple
