"""The race's handler: the Explore tab's finished run against plain decoding of the same
prompt, replayed at measured pace (``race_view``). Plain decoding's timeline is the
one the run was measured against; when the run was not measured, plain decoding runs
once now (a model event, like Run; on ZeroGPU a GPU call, ``components.gpu.cover``).
"""
from __future__ import annotations

import itertools

import gradio as gr

from racer.measure.baseline import LiveBaseline
from racer.model.target import TargetModel

from components.gpu import cover
from components.messages import error_message, status_line
from components.figures.race import race_figure, race_html, race_lanes
from components.state import Session

NOT_FINISHED = ("The race replays a finished run: press Run (it goes to the end), then Race. "
                "The replay uses the times measured during the run.")


class RaceHandlers:
    """The race, bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None) -> None:
        self.target = target
        self._replays = itertools.count(1)   # each replay's HTML differs, so the animation restarts

    def on_race(self, session: Session):
        """(race HTML, race chart, status line) for the session's finished run."""
        try:
            if not session.finished or not session.marks:
                return gr.skip(), gr.skip(), status_line(NOT_FINISHED)
            tokens = len(session.marks)
            baseline = session.baseline
            if baseline is None or len(baseline.timeline) < tokens and not baseline.finished:
                baseline = cover(self.target, LiveBaseline(self.target, session.prompt_ids,
                                                           session.generation.settings), tokens)
            drafter = session.generation.settings.drafter
            run, plain = race_lanes(session.marks, session.stats, drafter, baseline.timeline)
            page = race_html(run, plain, next(self._replays), baseline.provenance(len(plain.times)))
            done = (f"Replaying the measured race: {run.label} {run.finish_s:.2f} s, "
                    f"plain decoding {plain.finish_s:.2f} s, for {tokens} tokens.")
            return page, race_figure(run, plain), status_line(done, "done")
        except Exception as e:  # noqa: BLE001 - shown to the user; a bug is logged with its traceback
            message = error_message(e, "race", "Press Race to try again.")
            gr.Warning(message)
            return gr.skip(), gr.skip(), status_line(message, "error")
