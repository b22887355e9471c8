"""The race: a finished run and plain decoding of the same prompt, replayed side by
side at the pace each was measured.

Both lanes come from measurements, not from a model of speed: a token of the run
appears at the engine seconds its step had reached (the steps' own timings, prefill
included, as ``racer.engine.records.timeline_of`` sums them), a token of plain decoding at
its plain-decoding timeline (``racer.measure.baseline``, timed the same way on the same
machine). The replay is HTML whose tokens fade in with CSS animation delays equal to
those times, so the browser plays it without the server; the finish times shown are
the measured ones. ``race_figure`` is the same race as a static chart.

Plain decoding's lane shows the run's own tokens: decoding is lossless, so plain
decoding wrote the same text (``tests/test_generation.py`` checks it); only its
timeline comes from its own run.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

from racer import palette
from racer.drafting.registry import PLAIN
from racer.engine.sources import BONUS

from components.state import StepStat, TokenMark
from components.figures.text import mark_glyphs
from components.figures.tokens import colour, drafter_colour, drafter_label, isolate_bytes


@dataclass(frozen=True)
class Lane:
    """One side of the race: who, what it wrote and when each token was out."""
    drafter: str
    texts: tuple[str, ...]
    sources: tuple[str, ...]   # how each token was produced (retrieval / logits / both / bonus)
    times: tuple[float, ...]   # measured engine seconds until each token was out

    @property
    def finish_s(self) -> float:
        return self.times[-1] if self.times else 0.0

    @property
    def label(self) -> str:
        return drafter_label(self.drafter)


def run_times(marks: Sequence[TokenMark], stats: Sequence[StepStat]) -> list[float]:
    """Per generated token, the engine seconds its step had reached (``StepStat.engine_s``
    sums the steps' timings): the run's timeline, ``racer.engine.records.timeline_of``."""
    at = {s.index: s.engine_s for s in stats}
    return [at[m.step] for m in marks]


def glyph_texts(marks: Sequence[TokenMark]) -> list[str]:
    """Each token's text in the race: a glyph made of several tokens (a split character,
    an emoji with a skin tone) appears whole with the token that completes it, never in parts.

    >>> [repr(t) for t in glyph_texts([TokenMark(1, "👍".encode(), "bonus", 1), TokenMark(2, "🏽!".encode(), "bonus", 2)])]
    ["''", "'👍🏽!'"]
    """
    out: list[str] = []
    for group, text in mark_glyphs(marks):
        out += [""] * (len(group) - 1) + [text]
    return out


def race_lanes(marks: Sequence[TokenMark], stats: Sequence[StepStat], drafter: str,
               plain_timeline: Sequence[float]) -> tuple[Lane, Lane]:
    """(the run's lane, plain decoding's lane); plain decoding's covers as many of the
    run's tokens as its timeline has (it may have stopped earlier under sampling)."""
    run = Lane(drafter, tuple(glyph_texts(marks)), tuple(m.source for m in marks),
               tuple(run_times(marks, stats)))
    n = min(len(marks), len(plain_timeline))
    plain = Lane(PLAIN, run.texts[:n], (BONUS,) * n, tuple(plain_timeline[:n]))
    return run, plain


def _lane_html(lane: Lane, other: Lane, tint: bool) -> str:
    spans = []
    for text, source, t in zip(lane.texts, lane.sources, lane.times):
        style = f"animation-delay:{t:.3f}s"
        if tint:
            style += f";--c:{colour(source)}"
        cls = f"race-tok race-{source}" if tint else "race-tok"
        spans.append(f'<span class="{cls}" style="{style}">{html.escape(isolate_bytes(text))}</span>')
    ahead = lane.finish_s < other.finish_s
    verdict = "first" if ahead and lane.times else ""
    finish = (f'<div class="race-finish" style="animation-delay:{lane.finish_s:.3f}s">'
              f'finished: {len(lane.times)} tokens in <b>{lane.finish_s:.2f} s</b> (measured)'
              f'{" · " + verdict if verdict else ""}</div>')
    head = (f'<div class="race-head"><span class="race-dot" style="--c:{drafter_colour(lane.drafter)}"></span>'
            f'<b>{html.escape(lane.label)}</b></div>')
    return f'<div class="race-lane">{head}<div class="race-text">{"".join(spans)}</div>{finish}</div>'


def race_html(run: Lane, plain: Lane, replay: int = 0, provenance: str = "") -> str:
    """The replay: two lanes side by side, every token fading in at its measured time,
    a clock running to the later finish. ``replay`` makes each replay's HTML new, so the
    browser restarts the animations."""
    if not run.times:
        return '<div class="race muted">Nothing to race yet.</div>'
    end = max(run.finish_s, plain.finish_s)
    faster = run if run.finish_s <= plain.finish_s else plain
    slower = plain if faster is run else run
    ratio = slower.finish_s / faster.finish_s if faster.finish_s > 0 else None
    summary = (f"{html.escape(faster.label)} finished first, {ratio:.2f}× as fast as {html.escape(slower.label)}"
               if ratio and len(plain.times) == len(run.times) else
               "plain decoding stopped earlier, so the lanes wrote different lengths")
    summary = summary[:1].upper() + summary[1:]
    note = (f"<b>Replay of measured times.</b> Each token appears when the engine had produced it "
            f"(its own step timings, prefill included; page rendering not counted); plain decoding is "
            f"the same prompt on the same machine{', ' + html.escape(provenance) if provenance else ''}. "
            f"{summary}.")
    clock = (f'<div class="race-clock" title="{end:.2f} s in all"><span style="animation-duration:{end:.3f}s">'
             f'</span></div><div class="race-scale"><span>0 s</span><span>{end:.2f} s</span></div>')
    return (f'<div class="race" data-replay="{replay}"><div class="race-note">{note}</div>{clock}'
            f'<div class="race-lanes">{_lane_html(run, plain, True)}{_lane_html(plain, run, False)}</div></div>')


def race_figure(run: Lane, plain: Lane) -> go.Figure:
    """Tokens out against measured seconds for both lanes, finish times marked."""
    fig = go.Figure()
    first = run if run.finish_s <= plain.finish_s else plain
    for lane in (run, plain):
        xs = [0.0] + list(lane.times)
        ys = [0] + list(range(1, len(lane.times) + 1))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv", name=lane.label,
                                 line=dict(color=drafter_colour(lane.drafter), width=3),
                                 hovertemplate=f"{lane.label}: %{{y}} tokens after %{{x:.2f}} s<extra></extra>"))
        if lane.times:
            fig.add_trace(go.Scatter(x=[lane.finish_s], y=[len(lane.times)], mode="markers+text",
                                     # the first to finish is labelled above-left, the other below-right,
                                     # so two close finishes do not print over each other
                                     text=[f"{lane.finish_s:.2f} s"],
                                     textposition="top left" if lane is first else "bottom right",
                                     marker=dict(size=10, color=drafter_colour(lane.drafter)),
                                     showlegend=False, hoverinfo="skip", cliponaxis=False))
    end = max(run.finish_s, plain.finish_s, 0.1)
    fig.update_layout(height=300, margin=dict(l=50, r=20, t=40, b=45), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"),
                      xaxis=dict(title_text="measured engine seconds", range=[0, end * 1.15], gridcolor=palette.GRID),
                      yaxis=dict(title_text="tokens out", rangemode="tozero", gridcolor=palette.GRID))
    return fig
