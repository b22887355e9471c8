"""The race's handler: the Explore tab's finished run against plain decoding of the same
prompt, replayed at measured pace (``race_view``). Plain decoding's timeline is the
one the run was measured against; when the run was not measured, plain decoding runs
once now (a model event, like Run; on ZeroGPU a GPU call, ``components.gpu.cover``).
"""
from __future__ import annotations

import itertools

from racer.measure.baseline import LiveBaseline
from racer.model.target import TargetModel

from components.gpu import cover
from components.events import model_event
from components.messages import status_line
from components.figures.race import race_figure, race_html, race_lanes
from components.state import Session

# what the race shows, by name (app.py lays a component out under each)
RACE_OUTPUTS = ("race", "plot", "status")
NOT_FINISHED = ("The race replays a finished run: press Run (it goes to the end), then Race. "
                "The replay uses the times measured during the run.")


class RaceHandlers:
    """The race, bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None) -> None:
        self.target = target
        self._replays = itertools.count(1)   # each replay's HTML differs, so the animation restarts

    @model_event("race", "Press Race to try again.")
    def on_race(self, session: Session) -> dict:
        """The race for the session's finished run, by name (``RACE_OUTPUTS``)."""
        if not session.finished or not session.marks:
            return {"status": status_line(NOT_FINISHED)}
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
        return {"race": page, "plot": race_figure(run, plain), "status": status_line(done, "done")}
