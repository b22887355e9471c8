"""Views of a tuning sweep: heatmaps of MAT and measured speedup over tree width x
depth, the best setting in words, a progress line and a table.

Every builder takes a ``racer.sweep.SweepResult`` (or ``Progress``) and returns a new
figure, string or list; none runs the engine. A grid that also varies the retrieval
window or the budget gets one heatmap panel per (window, budget) pair, on one colour
scale, so panels compare at a glance.
"""
from __future__ import annotations

import html
import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from racer import palette
from racer.sweep import Pass, Progress, SweepResult

from .messages import ICONS
from .numbers import FORMATS, fmt

METRICS = {  # metric -> (colour-bar title, value format)
    "mat": ("MAT", FORMATS["mat"]),
    "speedup": ("speedup ×", FORMATS["speedup"]),
}
# MAT: white (1 token per forward, nothing gained) to blue. Speedup: vermillion below
# 1 (slower than plain decoding), white at 1, blue above; Okabe-Ito ends.
MAT_SCALE = [[0.0, palette.LOW], [1.0, palette.BLUE]]
SPEEDUP_SCALE = [[0.0, palette.SLOWER], [0.5, palette.NEUTRAL], [1.0, palette.FASTER]]
NOISE = 0.05  # two speedups closer than this are a tie on a shared CPU
TABLE_HEADERS = ["width", "depth", "window", "budget", "MAT", "tokens/s", "plain tokens/s", "speedup",
                 "same text as plain"]


def _panels(result: SweepResult) -> list[tuple[int, int]]:
    """(window, budget) per heatmap panel, in grid order."""
    windows = result.grid.windows or (result.base.window,)
    budgets = result.grid.budgets or (result.base.budget,)
    return [(w, b) for w in windows for b in budgets]


def _value(result: SweepResult, cell: Pass, metric: str) -> float | None:
    return cell.mat if metric == "mat" else result.speedup(cell)


def _hover(result: SweepResult, cell: Pass) -> str:
    s, speedup = cell.settings, result.speedup(cell)
    plain = result.plain_tokens_per_s(cell)
    speed = ("speedup not measured" if speedup is None else
             f"speedup {speedup:.2f}× ({cell.tokens_per_s:.1f} vs plain {plain:.1f} tokens/s)")
    return (f"width {s.width} · depth {s.depth} · window {s.window} · budget {s.budget}<br>"
            f"MAT {cell.mat:.2f} ({cell.tokens} tokens in {cell.forwards} forwards)<br>{speed}")


def heatmap_figure(result: SweepResult | None, metric: str) -> go.Figure:
    """A heatmap of ``metric`` ("mat" or "speedup") over tree depth (x) and width (y);
    cells not run yet stay blank, the best cell carries a star."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    title = METRICS[metric][0]
    if result is None:
        fig = go.Figure()
        fig.add_annotation(text="Run a sweep to fill this in.", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(color=palette.FAINT))
        fig.update_layout(height=260, xaxis=dict(visible=False), yaxis=dict(visible=False),
                          plot_bgcolor=palette.PAPER, paper_bgcolor=palette.PAPER, margin=dict(l=20, r=20, t=20, b=20))
        return fig
    panels = _panels(result)
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    titles = [f"window {w} · budget {b}" for w, b in panels] if len(panels) > 1 else None
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08,
                        vertical_spacing=0.18 if rows > 1 else 0.1)
    xs, ys = [str(d) for d in result.grid.depths], [str(w) for w in result.grid.widths]
    values = []
    for k, (window, budget) in enumerate(panels):
        z, text, hover = _panel(result, metric, window, budget, values)
        fig.add_trace(go.Heatmap(
            z=z, x=xs, y=ys, text=text, texttemplate="%{text}", hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>", coloraxis="coloraxis", xgap=2, ygap=2,
            textfont=dict(size=13)), row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(type="category", title_text="tree depth", fixedrange=True)
    fig.update_yaxes(type="category", title_text="tree width", fixedrange=True)
    if metric == "mat":
        top = max(values + [1.5])
        colour = dict(colorscale=MAT_SCALE, cmin=1.0, cmax=top)
    else:  # symmetric around 1, so white means "as fast as plain decoding"
        spread = max([abs(v - 1.0) for v in values] + [0.25])
        colour = dict(colorscale=SPEEDUP_SCALE, cmin=1.0 - spread, cmax=1.0 + spread)
    fig.update_layout(
        coloraxis=dict(**colour, colorbar=dict(title=dict(text=title), thickness=14, len=0.9)),
        height=max(240, rows * (44 * len(ys) + 110) + 40), plot_bgcolor=palette.PAPER, paper_bgcolor=palette.PAPER,
        margin=dict(l=60, r=20, t=40 if titles else 16, b=50))
    return fig


def _panel(result: SweepResult, metric: str, window: int, budget: int, values: list[float]):
    """z values, labels and hover texts of one panel, rows = widths, columns = depths;
    the values shown are added to ``values`` (for the shared colour scale)."""
    fmt = METRICS[metric][1]
    best = result.best() if metric == "speedup" else result.best_mat()
    by_key = {(c.settings.window, c.settings.budget, c.settings.width, c.settings.depth): c
              for c in result.cells}
    z, text, hover = [], [], []
    for w in result.grid.widths:
        z_row, t_row, h_row = [], [], []
        for d in result.grid.depths:
            cell = by_key.get((window, budget, w, d))
            v = None if cell is None else _value(result, cell, metric)
            z_row.append(None if v is None else round(v, 4))
            mark = "★ " if cell is not None and cell is best and result.total_cells > 1 else ""
            t_row.append("" if v is None else mark + fmt.format(v))
            h_row.append(f"width {w} · depth {d}: not run yet" if cell is None else _hover(result, cell))
            if v is not None:
                values.append(v)
        z.append(z_row)
        text.append(t_row)
        hover.append(h_row)
    return z, text, hover


def _cell_words(cell: Pass, result: SweepResult) -> str:
    return result.grid.label(cell.settings)


def best_markdown(result: SweepResult | None, stopped: bool = False) -> str:
    """The best setting in words, with how much to trust it."""
    if result is None or not result.cells:
        return ""
    best, top_mat = result.best(), result.best_mat()
    speedup = result.speedup(best)
    single = result.total_cells == 1   # nothing to rank: say what was measured, and no more
    lines = [_headline(result, best, speedup, stopped)]
    if speedup is not None and not single:
        close = [c for c in result.cells if c is not best and (result.speedup(c) or 0) >= speedup * (1 - NOISE)]
        if close:
            names = "; ".join(f"{_cell_words(c, result)} ({result.speedup(c):.2f}×)" for c in close[:3])
            more = f" and {len(close) - 3} more" if len(close) > 3 else ""
            lines.append(f"Within {NOISE:.0%} of it, which is noise on a shared CPU: {names}{more}.")
        if top_mat is not best and top_mat not in close and top_mat.mat > best.mat:
            lines.append(f"The highest MAT, {top_mat.mat:.2f} at {_cell_words(top_mat, result)}, was slower "
                         f"({result.speedup(top_mat) or 0:.2f}×): MAT counts tokens per forward, and a "
                         "bigger tree costs more per forward.")
    rates = [p.tokens_per_s for p in result.plains if p.tokens_per_s > 0]
    if len(rates) > 1 and max(rates) > min(rates) * (1 + 3 * NOISE):
        lines.append(f"⚠ Plain decoding ran between {min(rates):.1f} and {max(rates):.1f} tokens/s during "
                     "this sweep: the machine's speed changed (other work on its cores). Each setting is "
                     "compared with the plain runs next to it, but differences smaller than that change "
                     "may be noise; run the sweep again before trusting them.")
    same = [result.same_as_plain(c) for c in result.cells]
    if all(v is True for v in same):
        lines.append("✓ Every setting produced exactly plain decoding's text (greedy).")
    elif any(v is False for v in same):
        lines.append("⚠ Some settings produced a different text from plain decoding under greedy "
                     "decoding. That should not happen; please report it.")
    return "\n\n".join(lines)


def _headline(result: SweepResult, best: Pass, speedup: float | None, stopped: bool) -> str:
    """The first paragraph: the best setting (the only one, for a sweep of one) and how
    far the sweep got."""
    s = best.settings
    scope = (f"over {result.prompt_count} prompt{'s' if result.prompt_count > 1 else ''}, "
             f"{s.max_new_tokens} new tokens at most each")
    if stopped:
        partial = f"Stopped after {len(result.cells)} of {result.total_cells} settings; of those, the "
    elif not result.complete:
        partial = f"So far ({len(result.cells)} of {result.total_cells} settings), the "
    else:
        partial = "The "
    others = f"window {s.window}, budget {s.budget}, capacity {s.capacity}"
    if result.total_cells == 1:
        measured = "speedup not measured" if speedup is None else f"{speedup:.2f}× plain decoding"
        return (f"**One setting only, so this sweep compares nothing**: {_cell_words(best, result)} ({others}) "
                f"ran at {measured}, MAT {best.mat:.2f}, {scope}. Tick two or more widths or depths to "
                "compare settings.")
    if speedup is None:
        return (f"{partial}**highest MAT: {_cell_words(best, result)}** ({others}) — MAT {best.mat:.2f} "
                f"{scope}. Speedup was not measured.")
    if speedup < 1.0:
        return (f"{partial}**fastest setting did not beat plain decoding** on these prompts here: "
                f"**{_cell_words(best, result)}** ({others}) ran at {speedup:.2f}× (MAT {best.mat:.2f}) "
                f"{scope}. Try smaller trees, or turn on the adaptive budget in the Explore tab.")
    return (f"{partial}**best measured speedup: {_cell_words(best, result)}** ({others}) — "
            f"**{speedup:.2f}×** plain decoding, MAT {best.mat:.2f}, {scope}.")


def _duration(seconds: float) -> str:
    """72.4 -> "1 min 12 s"; 8.2 -> "8 s"."""
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_text(progress: Progress) -> str:
    """"Setting 3 of 9 done · next: width 8 · depth 4, prompt 1 of 2 · 40 s so far, about 1 min 05 s left"."""
    r = progress.result
    timing = _duration(progress.elapsed_s) + " so far"
    if 0 < progress.runs_done < progress.runs_total:
        left = progress.elapsed_s / progress.runs_done * (progress.runs_total - progress.runs_done)
        timing += f", about {_duration(left)} left"
    return (f"{len(r.cells)} of {r.total_cells} settings done · next: {progress.running} · {timing}")


def status_html(text: str, fraction: float | None = None, kind: str = "") -> str:
    """A status line, with a progress bar under it when ``fraction`` is given."""
    icon = ICONS.get(kind, "")
    bar = ""
    if fraction is not None:
        pct = max(0.0, min(1.0, fraction)) * 100
        bar = (f'<div class="tune-bar" role="progressbar" aria-valuenow="{pct:.0f}" aria-valuemin="0" '
               f'aria-valuemax="100"><span style="width:{pct:.1f}%"></span></div>')
    return f'<div class="tune-status {kind}"><div>{icon}{html.escape(text)}</div>{bar}</div>'


def table_rows(result: SweepResult | None) -> list[list]:
    """Rows under ``TABLE_HEADERS``, best speedup first."""
    if result is None:
        return []
    rows = sorted(result.rows(), key=lambda r: (-(r["speedup"] or 0.0), -r["mat"]))
    return [[r["width"], r["depth"], r["window"], r["budget"], fmt("mat", r["mat"]),
             fmt("rate", r["tokens_per_s"]), fmt("rate", r["plain_tokens_per_s"]), fmt("speedup", r["speedup"]),
             {True: "yes", False: "NO", None: "—"}[r["same_as_plain"]]] for r in rows]
