"""Charts over a run: speedup and accepted lengths over steps, the drafter's estimates
against the model's verdicts, the tree attention mask of one step, and the drafter
comparison.

Every builder takes plain values (``StepStat`` rows, records, ``DrafterResult``
rows) and returns a new figure; none runs the engine.
"""
from __future__ import annotations

from collections import Counter

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from racer import palette

from racer.drafting.calibration import ReliabilityBin
from racer.measure.compare import DrafterResult
from racer.engine.records import StepRecord

from components.numbers import fmt
from components.state import StepStat
from components.figures.tokens import ShowToken, drafter_colour, drafter_label, label

MAT_COLOUR, SPEEDUP_COLOUR, BAR_COLOUR = palette.MAT, palette.SPEEDUP, palette.BARS


def _base_layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=40, b=40), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))


def speedup_figure(stats: list[StepStat], viewing: int | None = None) -> go.Figure:
    """Top: MAT and measured speedup over steps (1.0 = plain decoding). Bottom: tokens
    produced by each forward. Dotted lines mark steps where settings changed; a shaded
    band marks the step being viewed in the history. Each of these marks, and the dashed
    1.0 line, has a legend entry (shapes have none of their own)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.6, 0.4])
    steps = [s for s in stats if s.index > 0]
    xs = [s.index for s in steps]
    fig.add_trace(go.Scatter(x=xs, y=[round(s.mat, 3) for s in steps], mode="lines+markers",
                             name="tokens per forward (MAT)", line=dict(color=MAT_COLOUR, width=2),
                             marker=dict(size=5)), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=[None if s.speedup is None else round(s.speedup, 3) for s in steps],
                             mode="lines+markers", name="measured speedup vs plain decoding",
                             line=dict(color=SPEEDUP_COLOUR, width=2), marker=dict(size=5),
                             connectgaps=False), row=1, col=1)
    fig.add_trace(go.Bar(x=xs, y=[s.emitted for s in steps], name="tokens to the output, this forward",
                         marker=dict(color=BAR_COLOUR), showlegend=True), row=2, col=1)
    fig.add_hline(y=1.0, line=dict(color=palette.GUIDE, width=1, dash="dash"), row=1, col=1)
    changes = [s for s in steps if s.changed]
    for s in changes:
        fig.add_vline(x=s.index - 0.5, line=dict(color=palette.GUIDE, width=1, dash="dot"))
    viewed = viewing is not None and steps and viewing != steps[-1].index
    if viewed:
        fig.add_vrect(x0=viewing - 0.5, x1=viewing + 0.5, fillcolor=palette.VIEWING, opacity=0.18,
                      line_width=0)
    # shapes have no legend entries: a legend-only trace names each kind drawn
    _key(fig, "1.0 = as fast as plain decoding", line=dict(color=palette.GUIDE, width=1, dash="dash"))
    if changes:
        _key(fig, "settings changed here", line=dict(color=palette.GUIDE, width=1, dash="dot"))
    if viewed:
        _key(fig, "step shown in the history", mode="markers",
             marker=dict(symbol="square", size=12, color=palette.VIEWING, opacity=0.35))
    fig.update_yaxes(title_text="MAT · speedup", rangemode="tozero", row=1, col=1, gridcolor=palette.GRID)
    fig.update_yaxes(title_text="tokens", rangemode="tozero", row=2, col=1, gridcolor=palette.GRID)
    fig.update_xaxes(title_text="step (target forward)", row=2, col=1)
    if len(steps) <= 20:  # whole steps only; plotly would otherwise tick at halves
        fig.update_xaxes(tick0=0, dtick=1)
    _base_layout(fig, 380)
    if not steps:
        fig.add_annotation(text="The chart fills in as steps run.", x=0.5, y=0.5, xref="paper",
                           yref="paper", showarrow=False, font=dict(color=palette.FAINT))
    return fig


def _key(fig: go.Figure, name: str, mode: str = "lines", **style) -> None:
    """A legend entry for a mark that has none of its own (a line or band drawn as a
    shape): a trace with no points, so it draws nothing but its key."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode=mode, name=name, hoverinfo="skip", showlegend=True,
                             **style))


def mask_figure(record: StepRecord | None, token_text: ShowToken) -> go.Figure:
    """The tree attention mask of one step: row i = what node i may attend to. Column 0
    stands for the whole cached context, which every node sees."""
    fig = go.Figure()
    if record is None or record.tree is None:
        fig.add_annotation(text="No draft tree at this step (the prefill attends causally).",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font=dict(color=palette.FAINT))
        fig.update_layout(height=220, xaxis=dict(visible=False), yaxis=dict(visible=False),
                          plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR)
        return fig
    tree = record.tree
    mask = tree.ancestor_mask()
    n = len(tree)
    names = [f"{i}: {label(token_text(t), 10)}" for i, t in enumerate(tree.tokens)]
    on_path = set(record.accepted)
    # 0 = hidden, 1 = visible, 2 = visible and both ends on the accepted path
    z = [[1] + [(2 if i in on_path and j in on_path else 1) if mask[i][j] else 0 for j in range(n)]
         for i in range(n)]
    hover = [[f"node {names[i]} sees the {record.context_len} context tokens"] +
             [f"node {names[i]} {'sees' if mask[i][j] else 'does not see'} node {names[j]}"
              for j in range(n)] for i in range(n)]
    hidden, seen, on_path = palette.MASK
    fig.add_trace(go.Heatmap(
        z=z, x=list(range(n + 1)), y=list(range(n)), zmin=0, zmax=2, showscale=False, xgap=1, ygap=1,
        colorscale=[[0, hidden], [0.33, hidden], [0.34, seen], [0.66, seen], [0.67, on_path], [1, on_path]],
        text=hover, hovertemplate="%{text}<extra></extra>"))
    for name, fill in (("hidden from the row", hidden), ("seen (context, ancestors, itself)", seen),
                       ("seen, on the accepted path", on_path)):
        _key(fig, name, mode="markers", marker=dict(symbol="square", size=13, color=fill,
                                                      line=dict(width=1, color=palette.EDGE)))
    cell = 14 if n > 32 else 20
    tick_font = 9 if n > 32 else 11
    fig.update_layout(
        height=max(260, cell * n + 190), margin=dict(l=110, r=10, t=110, b=60),
        plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR,
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, xanchor="left", itemclick=False,
                    itemdoubleclick=False),
        xaxis=dict(side="top", tickmode="array", tickvals=list(range(n + 1)),
                   ticktext=[f"context ({record.context_len})"] + (names if n <= 32 else [str(i) for i in range(n)]),
                   tickangle=-60,
                   tickfont=dict(size=tick_font), fixedrange=True),
        yaxis=dict(autorange="reversed", tickmode="array", tickvals=list(range(n)), ticktext=names,
                   tickfont=dict(size=tick_font), fixedrange=True),
    )
    return fig


def whisker_end(r: DrafterResult) -> float:
    """Where a drafter's speedup bar ends, its whisker included: the fastest round when it
    ran two or more, else the mean (0 when not measured)."""
    if r.speedup is None:
        return 0.0
    return max(r.speedup, r.interval[1]) if len(r.speedups) > 1 else r.speedup


def compare_figure(results: list[DrafterResult]) -> go.Figure:
    """Side by side per drafter: MAT, measured speedup, and how often a forward
    produced 1, 2, 3... tokens. MAT and speedup are horizontal bars, so a drafter's
    name ("plain decoding") is read across, never cut or turned on its side."""
    fig = make_subplots(rows=1, cols=3, column_widths=[0.25, 0.25, 0.5], horizontal_spacing=0.07,
                        subplot_titles=("tokens per forward<br>(MAT)", "speedup vs plain<br>(whiskers: lowest–highest round)",
                                        "tokens per forward:<br>share of forwards"))
    names = [drafter_label(r.drafter) for r in results]
    colours = [drafter_colour(r.drafter) for r in results]
    fig.add_trace(go.Bar(y=names, x=[round(r.mat, 2) for r in results], orientation="h", marker_color=colours,
                         text=[fmt("mat", r.mat) for r in results], textposition="outside", cliponaxis=False,
                         showlegend=False, hovertemplate="%{y}: MAT %{x}<extra></extra>"), row=1, col=1)
    # error bars: the lowest to the highest round (racer.measure.compare), when there were two or more
    low = [None if r.speedup is None or len(r.speedups) < 2 else r.speedup - r.interval[0] for r in results]
    high = [None if r.speedup is None or len(r.speedups) < 2 else r.interval[1] - r.speedup for r in results]
    fig.add_trace(go.Bar(y=names, x=[None if r.speedup is None else round(r.speedup, 2) for r in results],
                         orientation="h", marker_color=colours, showlegend=False, cliponaxis=False,
                         error_x=dict(type="data", symmetric=False, array=high, arrayminus=low,
                                      color=palette.INK, thickness=1.5,
                                      visible=any(v is not None for v in high)),
                         hovertemplate="%{y}: %{x}× (mean)<extra></extra>"), row=1, col=2)
    # each value label starts beyond the end of its whisker, never on it
    for r, name in zip(results, names):   # "—" at 0 for a drafter whose speedup was not measured
        fig.add_annotation(x=whisker_end(r), y=name, xref="x2", yref="y2", xanchor="left", xshift=6,
                           text=fmt("speedup", r.speedup), showarrow=False)
    longest = max((max(r.accept_lengths, default=1) for r in results), default=1)
    ks = list(range(1, longest + 1))
    for r, name, c in zip(results, names, colours):
        counts = Counter(r.accept_lengths)
        total = max(1, len(r.accept_lengths))
        fig.add_trace(go.Bar(x=ks, y=[counts.get(k, 0) / total for k in ks], name=name, marker_color=c,
                             hovertemplate=f"{name}: %{{y:.0%}} of forwards gave %{{x}} tokens<extra></extra>"),
                      row=1, col=3)
    fig.add_vline(x=1.0, line=dict(color=palette.GUIDE, width=1, dash="dash"), row=1, col=1)
    fig.add_vline(x=1.0, line=dict(color=palette.GUIDE, width=1, dash="dash"), row=1, col=2)
    _key(fig, "1 = plain decoding (one token per forward, speedup 1×)",
         line=dict(color=palette.GUIDE, width=1, dash="dash"))
    # headroom for the value labels beside the bars
    top_mat = max([r.mat for r in results] + [1.0])
    top_speed = max([whisker_end(r) for r in results] + [1.0])
    fig.update_xaxes(range=[0, top_mat * 1.3], gridcolor=palette.GRID, row=1, col=1)
    fig.update_xaxes(range=[0, top_speed * 1.3], gridcolor=palette.GRID, row=1, col=2)
    # the first drafter on top; the speedup bars read against the names of the MAT bars
    fig.update_yaxes(autorange="reversed", automargin=True, row=1, col=1)
    fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=2)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", gridcolor=palette.GRID, row=1, col=3)
    fig.update_xaxes(title_text="tokens produced by one forward", dtick=1, row=1, col=3)
    fig.update_layout(height=420, margin=dict(l=10, r=20, t=80, b=60), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, barmode="group",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0.5, xanchor="left"))
    return fig


def calibration_figure(bins: list[ReliabilityBin]) -> go.Figure:
    """Estimated against observed acceptance over the run so far: one point per bin of
    estimates (``racer.drafting.calibration.Reliability``), sized by how many tested nodes it
    holds. On the diagonal, the drafter's estimates are right; below it, too hopeful.
    The legend names the diagonal and the points; the marker sizes are keyed there
    ("bigger = more tested nodes") and in each point's hover."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", hoverinfo="skip", showlegend=True,
                             name="estimates right (estimate = share accepted)",
                             line=dict(color="#888888", width=1, dash="dash")))
    if bins:
        most = max(b.tested for b in bins)
        fig.add_trace(go.Scatter(
            x=[round(b.estimated, 3) for b in bins], y=[round(b.observed, 3) for b in bins],
            mode="lines+markers", line=dict(color=MAT_COLOUR, width=1.5), showlegend=True,
            name="a bin of estimates: bigger = more tested nodes",
            marker=dict(size=[6 + 14 * (b.tested / most) ** 0.5 for b in bins], color=MAT_COLOUR),
            customdata=[[b.low, b.high, b.tested] for b in bins],
            hovertemplate=("estimated %{customdata[0]:.1f}–%{customdata[1]:.1f}: %{customdata[2]} tested nodes, "
                           "mean estimate %{x:.2f}, accepted %{y:.0%}<extra></extra>")))
    else:
        fig.add_annotation(text="Fills in as trees are verified.", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(color="#777777"))
    tested = sum(b.tested for b in bins)
    # a little room beyond 0 and 1, so that points on the edges are drawn whole
    fig.update_xaxes(title_text="estimated chance of acceptance", range=[-0.04, 1.04], gridcolor="#eeeeee",
                     fixedrange=True, zeroline=False)
    fig.update_yaxes(title_text="share accepted", range=[-0.06, 1.06], tickformat=".0%", gridcolor="#eeeeee",
                     fixedrange=True, zeroline=False)
    fig.update_layout(height=380, margin=dict(l=50, r=20, t=40, b=100), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR,
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left", font=dict(size=11)),
                      title=dict(text=f"Estimates vs outcomes ({tested:,} tested nodes)", font=dict(size=13),
                                 x=0.02, y=0.97))
    return fig
