"""Handlers of the Compare tab: the Explore tab's prompt and settings run to the end by
each chosen drafter (``racer.compare``), streamed as a progress line, a table, a chart
and a note on losslessness. Stop is the Explore tab's (the same ``Session`` flag).
"""
from __future__ import annotations

from typing import Callable

import gradio as gr

from racer import UserError
from racer.compare import Divergence, DrafterResult, first_divergence, run_drafters, run_order
from racer.drafters import drafter_names
from racer.model import TargetModel
from racer.precision import exact_by_default
from racer.settings import Settings

from .charts import compare_figure
from .controls import COMPARE_TOKENS, number, read_controls
from .handlers import prompt_with_note
from .messages import adjusted, count, error_message, join, status_line
from .numbers import fmt
from .session import Session
from .tokens import drafter_label, quoted

# MAT once (tokens / forwards, the prefill included): a second "mean tokens/forward" column,
# which left the prefill out, showed another number for the same idea
TABLE_HEADERS = ["drafter", "tokens", "forwards", "MAT", "engine time", "tokens/s", "speedup"]


def table_rows(results: list[DrafterResult]) -> list[list]:
    """One row per drafter under ``TABLE_HEADERS``; numbers in the page's formats
    (``components.numbers``)."""
    return [[drafter_label(r.drafter), r.tokens, r.forwards, fmt("mat", r.mat), fmt("seconds", r.engine_s),
             fmt("rate", r.tokens / r.engine_s if r.engine_s else None), fmt("speedup", r.speedup)]
            for r in results]


def lossless_note(results: list[DrafterResult], settings: Settings, divergence: Divergence | None = None,
                  exact: bool = True, token: Callable[[int], str] = str) -> str:
    """The note under the comparison: same text, or where and why the texts part.
    ``exact``: the model runs at a precision whose tree verify is bit-exact here."""
    if len(results) < 2:
        return ""
    if not settings.greedy:
        return ("Sampling (temperature > 0): each drafter's output is a sample from the model's own "
                "distribution with the same seed, so texts may differ; speedups compare the first "
                "tokens both runs produced.")
    if len({r.text for r in results}) == 1:
        return ("✓ **Lossless:** with greedy decoding every drafter produced exactly the same text; "
                "they differ only in how many forwards it took.")
    where = "" if divergence is None else (
        f" They first part at generated token {divergence.position + 1}: "
        f"{drafter_label(divergence.reference)} wrote {quoted(token(divergence.ours))} "
        f"(logit {divergence.logit_ours:.4f}), {drafter_label(divergence.drafter)} wrote "
        f"{quoted(token(divergence.theirs))} (logit {divergence.logit_theirs:.4f}), "
        f"a gap of {divergence.gap:.4f}.")
    if exact:
        return ("⚠ **The outputs differ** under greedy decoding. That should not happen; please "
                "export a trace and report it." + where)
    return ("⚠ **Not bit-exact:** the model runs at a fast precision whose tree verify rounds "
            "differently from one-token steps, so greedy outputs can part where two tokens are "
            "nearly tied." + where + " A rounding near-tie, not a drafting error: at float32 the "
            "outputs are the same.")


class CompareHandlers:
    """The comparison, bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_note: str) -> None:
        self.target = target
        self.model_note = model_note

    def on_compare(self, session: Session, prompt, new_tokens, drafters, **controls):
        """Runs the prompt to the end with each ticked drafter (at most ``new_tokens``
        each); streams progress."""
        session.stop_requested = False
        session.running = True
        try:
            yield from self._compare(session, prompt, new_tokens, drafters, controls)
        finally:
            session.running = False

    def _read(self, new_tokens, ticked, controls: dict) -> tuple[Settings, list[str], list[str]]:
        """(settings, drafters to run in menu order, notes); UserError with a sentence."""
        if self.target is None:
            raise UserError(f"No model is loaded: {self.model_note}")
        settings, notes = read_controls(controls)
        settings = settings.with_changes(max_new_tokens=number(new_tokens, COMPARE_TOKENS, notes))
        if notes:
            gr.Warning(adjusted(notes))
        drafters = [d for d in drafter_names() if isinstance(ticked, (list, tuple)) and d in ticked]
        if not drafters:
            raise UserError("Tick at least one drafter to compare.")
        return settings, drafters, notes

    def _compare(self, session: Session, prompt, new_tokens, ticked, controls: dict):
        try:
            settings, drafters, notes = self._read(new_tokens, ticked, controls)
            ids, prompt_note = prompt_with_note(self.target, prompt)
            results, shown = [], 0
            order = run_order(drafters)
            yield status_line(join(adjusted(notes), prompt_note, "Starting…"), "run"), [], compare_figure([]), ""
            for name, done_tokens, results in run_drafters(self.target, ids, settings, drafters,
                                                           should_stop=lambda: session.stop_requested):
                if not name:
                    break
                line = status_line(f"Running {drafter_label(name)} ({order.index(name) + 1} of {len(order)}): "
                                   f"{done_tokens} of {settings.max_new_tokens} tokens…", "run")
                if len(results) != shown:
                    shown = len(results)
                    yield line, table_rows(results), compare_figure(results), ""
                else:
                    yield line, gr.skip(), gr.skip(), gr.skip()
        except Exception as e:  # noqa: BLE001 - shown to the user; a bug is logged with its traceback
            message = error_message(e, "comparison", "Press Compare to try again.")
            gr.Warning(message)
            yield status_line(message, "error"), gr.skip(), gr.skip(), gr.skip()
            return
        if session.stop_requested:
            yield (status_line("Stopped; finished drafters are shown.", "stop"), table_rows(results),
                   compare_figure(results), "")
            return
        done = f"Done: {count(len(results), 'drafter')}, {settings.max_new_tokens} new tokens at most."
        yield (status_line(done, "done"), table_rows(results), compare_figure(results),
               self._note(ids, results, settings))

    def _note(self, ids: list[int], results: list[DrafterResult], settings: Settings) -> str:
        """The lossless note; where greedy outputs part, the model's logits there."""
        divergence = first_divergence(self.target, ids, results) if settings.greedy else None
        return lossless_note(results, settings, divergence, exact=exact_by_default(self.target),
                             token=self.target.token_text)
