"""Handlers of the Compare tab: the Explore tab's prompt and settings run to the end by
each chosen drafter (``racer.measure.compare``), streamed as a progress line, a table, a chart
and a note on losslessness. Stop is the Explore tab's (the same ``Session`` flag).
"""
from __future__ import annotations

import time
from typing import Callable

import gradio as gr

from racer import UserError
from racer.measure.compare import (Divergence, DrafterResult, Progress, blocks, first_divergence, run_drafters,
                                   verdict)
from racer.drafting.registry import PLAIN
from racer.engine.metrics import DEFAULT_REPEATS, MAX_REPEATS
from racer.drafting.registry import drafter_names
from racer.model.target import TargetModel
from racer.model.precision import exact_by_default
from racer.engine.settings import Settings

from components.figures.charts import compare_figure
from components.controls import COMPARE_TOKENS, number, read_controls
from components import gpu
from components.explore import prompt_with_note
from components.events import model_event
from components.messages import adjusted, count, join, status_line
from components.numbers import MISSING, duration, fmt
from components.state import Session
from components.figures.tokens import drafter_label, quoted

# what a comparison shows, by name (app.py lays a component out under each)
COMPARE_OUTPUTS = ("status", "table", "plot", "note")
# MAT is one quantity (``racer.engine.metrics.mat``: tokens per forward, the prefill forward
# included); the table used to add "mean tokens/forward" over verify forwards only, a
# second number under a second name for the same thing (1.47 beside MAT 1.44).
TABLE_HEADERS = ["drafter", "tokens", "forwards", "MAT", "engine time (first run)", "tokens/s (first run)",
                 "speedup (mean)", "speedup range", "runs"]


def table_rows(results: list[DrafterResult]) -> list[list]:
    """One row per drafter under ``TABLE_HEADERS``; numbers in the page's formats
    (``components.numbers``)."""
    return [[drafter_label(r.drafter), r.tokens, r.forwards, fmt("mat", r.mat), fmt("seconds", r.engine_s),
             fmt("rate", r.tokens / r.engine_s if r.engine_s else None), fmt("speedup", r.speedup),
             f"{r.interval[0]:.2f}–{r.interval[1]:.2f}×" if len(r.speedups) > 1 else MISSING,
             len(r.speedups)]
            for r in results]


NO_STANDOUT = {  # Verdict.reason -> why the fastest drafter is not called best
    "mat one": "its MAT was 1.00 (nothing drafted was accepted), so its speedup is timing noise",
    "one run": "each drafter ran once, so nothing tells its speedup from noise; run 2 to 5 rounds",
    "plain": "its slowest round was no faster than plain decoding's fastest",
}


def verdict_note(results: list[DrafterResult]) -> str:
    """One sentence: which drafter stood out from plain decoding and every other drafter,
    or that none did and why, naming the drafter it overlaps (``racer.measure.compare.verdict``)."""
    found = verdict(results)
    if found.leader is None:
        return ""
    plain = next((r for r in results if r.drafter == PLAIN), None)
    noise = ("" if plain is None or len(plain.speedups) < 2 else
             f" Plain decoding against itself ranged {plain.interval[0]:.2f}–{plain.interval[1]:.2f}×.")
    lead = next(r for r in results if r.drafter == found.leader)
    if found.winner is not None:
        return (f"**{drafter_label(lead.drafter)} stood out**: {lead.speedup:.2f}× "
                f"({lead.interval[0]:.2f}–{lead.interval[1]:.2f}× over {len(lead.speedups)} rounds), its slowest "
                f"round faster than the fastest round of plain decoding and of every other drafter.{noise}")
    if found.reason == "overlap":
        rival = next(r for r in results if r.drafter == found.rival)
        why = (f"its slowest round, {lead.interval[0]:.2f}×, was no faster than the fastest round of "
               f"{drafter_label(rival.drafter)} ({rival.interval[0]:.2f}–{rival.interval[1]:.2f}×)")
    else:
        why = NO_STANDOUT[found.reason]
    return (f"**No drafter stood out.** The fastest on average, {drafter_label(lead.drafter)} at "
            f"{lead.speedup:.2f}×, did not count: {why}.{noise}")


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


def progress_line(progress: Progress, max_tokens: int, elapsed_s: float) -> str:
    """Where the comparison is: the round, the drafter running and its tokens, the run of
    all runs, and an estimate of the time left for the whole comparison (the seconds so
    far over the share done, the share counting each run as equal work). "Round 2 of 3 ·
    RACER (ours), run 5 of 7: 40 of 64 tokens · 30 s so far, about 12 s left"."""
    p = progress
    share = (p.run - 1 + min(1.0, p.tokens / max(1, max_tokens))) / max(1, p.runs)
    timing = f"{duration(elapsed_s)} so far"
    if 0 < share < 1:
        timing += f", about {duration(elapsed_s / share * (1 - share))} left"
    rounds = f"Round {p.round} of {p.rounds} · " if p.rounds > 1 else ""
    return (f"{rounds}{drafter_label(p.drafter)}, run {p.run} of {p.runs}: {p.tokens} of {max_tokens} "
            f"tokens · {timing}")


def _whole(value, words: str, high: int) -> int:
    """A whole number from 1 to ``high``; UserError with a sentence for anything else."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UserError(f"The {words} is {str(value)[:40]}; give a whole number from 1 to {high}.") from None
    if x != x or not 1 <= round(x) <= high:
        raise UserError(f"The {words} is {str(value)[:40]}; give a whole number from 1 to {high}.")
    return int(round(x))


class CompareHandlers:
    """The comparison, bound to the shared model (None when it failed to load)."""

    def __init__(self, target: TargetModel | None, model_note: str) -> None:
        self.target = target
        self.model_note = model_note

    @model_event("comparison", "Press Compare to try again.", busy=True)
    def on_compare(self, session: Session, prompt, new_tokens, drafters, repeats=DEFAULT_REPEATS, **controls):
        """Runs the prompt to the end with each ticked drafter (at most ``new_tokens``
        each), ``repeats`` rounds alternating with plain decoding; streams progress by
        name (``COMPARE_OUTPUTS``)."""
        settings, drafters, notes = self._read(new_tokens, drafters, controls)
        rounds = _whole(repeats, "number of rounds", MAX_REPEATS)
        ids, prompt_note = prompt_with_note(self.target, prompt)
        results, shown = [], 0
        on_gpu = gpu.zero_gpu()   # one GPU call per drafter, its rounds with plain decoding inside
        cost = self._gpu_plan(ids, settings, drafters, rounds) if on_gpu else ""
        yield {"status": status_line(join(adjusted(notes), prompt_note, cost, "Starting…"), "run"),
               "table": [], "plot": compare_figure([]), "note": ""}
        started = time.monotonic()
        for progress in run_drafters(self.target, ids, settings, drafters, should_stop=session.signals,
                                     repeats=rounds, per_drafter=on_gpu, runner=gpu.run_block):
            results = progress.results
            if not progress.drafter:
                break
            line = status_line(join(cost, progress_line(progress, settings.max_new_tokens,
                                                        time.monotonic() - started)), "run")
            speeds = [len(r.speedups) for r in results]
            if (len(results), speeds) != shown:
                shown = (len(results), speeds)
                yield {"status": line, "table": table_rows(results), "plot": compare_figure(results), "note": ""}
            else:
                yield {"status": line}
        if session.stop_requested:
            yield {"status": status_line("Stopped; finished drafters are shown.", "stop"),
                   "table": table_rows(results), "plot": compare_figure(results), "note": ""}
            return
        done = f"Done: {count(len(results), 'drafter')}, {settings.max_new_tokens} new tokens at most."
        note = join(verdict_note(results), self._note(ids, results, settings), sep="\n\n")
        yield {"status": status_line(done, "done"), "table": table_rows(results), "plot": compare_figure(results),
               "note": note}

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

    def _gpu_plan(self, ids: list[int], settings: Settings, drafters: list[str], rounds: int) -> str:
        """On ZeroGPU: what the comparison will take of the visitor's GPU quota, in a
        sentence; UserError when one drafter's call would be longer than ZeroGPU allows."""
        plan = gpu.compare_plan(self.target, len(ids), settings, blocks(drafters, rounds, per_drafter=True))
        if not plan.fits:
            raise UserError(f"On ZeroGPU each drafter's rounds run in one GPU call, and with "
                            f"{settings.max_new_tokens} new tokens and {count(rounds, 'round')} one would take "
                            f"about {plan.longest:.0f} s, more than the {gpu.MAX_CALL_S} s a call may last; "
                            "ask for fewer new tokens or rounds.")
        return plan.sentence("This comparison")

    def _note(self, ids: list[int], results: list[DrafterResult], settings: Settings) -> str:
        """The lossless note; where greedy outputs part, the model's logits there (one
        forward over the prompt and the common text: on ZeroGPU in a GPU call)."""
        longest = max((len(r.output_ids) for r in results), default=0)
        divergence = (gpu.with_target(first_divergence, self.target, ids, results, forwards=1, tokens=len(ids) + longest)
                      if settings.greedy and len({r.output_ids for r in results}) > 1 else None)
        return lossless_note(results, settings, divergence, exact=exact_by_default(self.target),
                             token=self.target.token_text)
