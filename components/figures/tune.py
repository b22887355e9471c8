"""Views of a tuning sweep: heatmaps of MAT and measured speedup over tree width x
depth, the best setting in words, a progress line and a table.

Every builder takes a ``racer.measure.sweep.SweepResult`` (or ``Progress``) and returns a new
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
from racer.measure.sweep import Pass, Progress, SweepResult

from components.messages import ICONS
from components.numbers import FORMATS, MISSING, duration, fmt
from components.figures.tokens import drafter_label

METRICS = {  # metric -> (colour-bar title, value format)
    "mat": ("MAT", FORMATS["mat"]),
    "speedup": ("speedup ×", FORMATS["speedup"]),
}
# MAT: white (1 token per forward, nothing gained) to blue. Speedup: vermillion below
# 1 (slower than plain decoding), white at 1, blue above; Okabe-Ito ends.
MAT_SCALE = [[0.0, palette.LOW], [1.0, palette.BLUE]]
SPEEDUP_SCALE = [[0.0, palette.SLOWER], [0.5, palette.NEUTRAL], [1.0, palette.FASTER]]
NOISE = 0.05  # two speedups closer than this are a tie on a shared CPU
TABLE_HEADERS = ["width", "depth", "window", "budget", "MAT", "speedup (mean)", "speedup range", "runs",
                 "tokens/s (first run)", "plain tokens/s", "same text as plain"]


def _panels(result: SweepResult) -> list[tuple[int, int]]:
    """(window, budget) per heatmap panel, in grid order."""
    windows = result.grid.windows or (result.base.window,)
    budgets = result.grid.budgets or (result.base.budget,)
    return [(w, b) for w in windows for b in budgets]


def _value(result: SweepResult, cell: Pass, metric: str) -> float | None:
    return cell.mat if metric == "mat" else result.speedup(cell)


def _range(result: SweepResult, cell: Pass | None, metric: str) -> str:
    """A speedup cell's interval under its mean ("<br>0.98–1.10"), when it ran twice or more."""
    if metric != "speedup" or cell is None or len(result.speedups(cell)) < 2:
        return ""
    low, high = result.interval(cell)
    return f"<br><span style='font-size:11px'>{low:.2f}–{high:.2f}</span>"


def _hover(result: SweepResult, cell: Pass) -> str:
    s, speedup = cell.settings, result.speedup(cell)
    plain = result.plain_tokens_per_s(cell)
    runs = result.speedups(cell)
    spread = f"; runs {', '.join(f'{v:.2f}×' for v in runs)}" if len(runs) > 1 else ""
    speed = ("speedup not measured" if speedup is None else
             f"speedup {speedup:.2f}× mean of {len(runs)} run{'s' if len(runs) != 1 else ''}{spread}<br>"
             f"first run {cell.tokens_per_s:.1f} vs plain {plain:.1f} tokens/s")
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
                          plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR, margin=dict(l=20, r=20, t=20, b=20))
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
        height=max(240, rows * (44 * len(ys) + 110) + 40), plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR,
        margin=dict(l=60, r=20, t=40 if titles else 16, b=50))
    return fig


def _panel(result: SweepResult, metric: str, window: int, budget: int, values: list[float]):
    """z values, labels and hover texts of one panel, rows = widths, columns = depths;
    the values shown are added to ``values`` (for the shared colour scale)."""
    fmt = METRICS[metric][1]
    best = result.winner() if metric == "speedup" else result.best_mat()
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
            t_row.append("" if v is None else mark + fmt.format(v) + _range(result, cell, metric))
            h_row.append(f"width {w} · depth {d}: not run yet" if cell is None else _hover(result, cell))
            if v is not None:
                values.append(v)
        z.append(z_row)
        text.append(t_row)
        hover.append(h_row)
    return z, text, hover


def _cell_words(cell: Pass, result: SweepResult) -> str:
    return result.grid.label(cell.settings)


def _runs_words(result: SweepResult, cell: Pass) -> str:
    """"1.12× (1.05–1.20 over 3 runs)"; "1.12× (one run)"."""
    runs = result.speedups(cell)
    if not runs:
        return "speedup not measured"
    if len(runs) == 1:
        return f"{runs[0]:.2f}× (one run)"
    low, high = result.interval(cell)
    return f"{result.speedup(cell):.2f}× ({low:.2f}–{high:.2f} over {len(runs)} runs)"


def plain_noise(result: SweepResult) -> str:
    """Plain decoding's own spread in words: "plain decoding itself ranged 0.96–1.04×"."""
    runs = result.plain_speedups()
    if len(runs) < 2:
        return "plain decoding was timed once"
    return f"plain decoding, timed {len(runs)} times, ranged {min(runs):.2f}–{max(runs):.2f}× of its own mean"


def adaptive_line(result: SweepResult) -> str:
    """Whether the adaptive budget was on, and why."""
    if result.adaptive_budget:
        return ("The adaptive budget was **on**: each step's tree size followed this machine's costs, so "
                "width, depth and budget set the most a tree may hold, not the tree.")
    why = (" because the grid varies tree size, and the budget would resize the trees the grid tries"
           if result.grid.varies_tree_size else "")
    return f"The adaptive budget was **off**{why}: every tree was the size its setting asked for."


def best_markdown(result: SweepResult | None, stopped: bool = False) -> str:
    """The setting that stood out, or that none did and why, with how much to trust it."""
    if result is None or not result.cells:
        return ""
    verdict, top_mat = result.verdict(), result.best_mat()
    lines = [_headline(result, verdict, stopped)]
    lead = verdict.leader
    if lead is not None and result.total_cells > 1 and top_mat is not lead and top_mat.mat > lead.mat:
        lines.append(f"The highest MAT, {top_mat.mat:.2f} at {_cell_words(top_mat, result)}, was slower "
                     f"({_runs_words(result, top_mat)}): MAT counts tokens per forward, and a bigger tree "
                     "costs more per forward.")
    lines.append(adaptive_line(result))
    rates = [p.tokens_per_s for p in result.plains if p.tokens_per_s > 0]
    if len(rates) > 1 and max(rates) > min(rates) * (1 + 3 * NOISE):
        lines.append(f"⚠ Plain decoding ran between {min(rates):.1f} and {max(rates):.1f} tokens/s during "
                     "this sweep: the machine's speed changed (other work on its cores). Each setting is "
                     "compared with the plain runs next to it, but differences smaller than that change "
                     "may be noise; run the sweep again before trusting them.")
    same = [result.same_as_plain(c) for c in result.passes or result.cells]
    if all(v is True for v in same):
        lines.append("✓ Every setting produced exactly plain decoding's text (greedy).")
    elif any(v is False for v in same):
        lines.append("⚠ Some settings produced a different text from plain decoding under greedy "
                     "decoding. That should not happen; please report it.")
    return "\n\n".join(lines)


NO_WINNER = {  # Verdict.reason -> why the leader is not called best (after "No setting stood out: ")
    "mat one": ("its MAT was 1.00 — nothing drafted was accepted — so any speedup it showed is timing noise"),
    "one run": ("each setting ran once, so nothing tells its speedup from noise; run each setting 2 to 5 "
                "times"),
    "plain": "its slowest run was no faster than plain decoding's fastest",
}


def _overlap_words(result: SweepResult, verdict) -> str:
    """Why an overlap names no winner, naming the setting overlapped: "its runs overlap
    those of the runner-up, width 8 · depth 6 (0.90–2.20 over 3 runs)"."""
    rival = verdict.rival
    who = "the runner-up, " if rival is verdict.runner_up else ""
    return (f"its slowest run was no faster than another setting's fastest: its runs overlap those of "
            f"{who}{_cell_words(rival, result)}, {_runs_words(result, rival)}")


def _headline(result: SweepResult, verdict, stopped: bool) -> str:
    """The first paragraph: the setting that stood out, or that none did and why (the
    only one, for a sweep of one), and how far the sweep got."""
    best = verdict.leader or result.best()
    s = best.settings
    scope = (f"over {result.prompt_count} prompt{'s' if result.prompt_count > 1 else ''}, "
             f"{s.max_new_tokens} new tokens at most each, {plain_noise(result)}")
    if stopped:
        partial = f"Stopped after {len(result.cells)} of {result.total_cells} settings; of those, "
    elif not result.complete:
        partial = f"So far ({len(result.passes) or len(result.cells)} of "\
                  f"{result.total_cells * result.repeats} runs), "
    else:
        partial = ""
    others = f"{drafter_label(s.drafter)}, window {s.window}, budget {s.budget}, capacity {s.capacity}"
    if result.total_cells == 1:
        return (f"**One setting only, so this sweep compares nothing**: {_cell_words(best, result)} ({others}) "
                f"ran at {_runs_words(result, best)} plain decoding's speed, MAT {best.mat:.2f}, {scope}. "
                "Tick two or more widths or depths to compare settings.")
    if verdict.reason == "no speedup":
        return (f"{partial}**highest MAT: {_cell_words(best, result)}** ({others}) — MAT {best.mat:.2f} "
                f"{scope}. Speedup was not measured, so no setting is called best.")
    if verdict.winner is not None:
        runner = verdict.runner_up
        against = "" if runner is None else (f"; the runner-up, {_cell_words(runner, result)}, ran at "
                                             f"{_runs_words(result, runner)}")
        return (f"{partial}**{_cell_words(best, result)} stood out** ({others}): **{_runs_words(result, best)}** "
                f"plain decoding's speed, MAT {best.mat:.2f}, {scope}{against}. Its slowest run beat plain "
                "decoding's fastest and every other setting's fastest.")
    hint = (" Try smaller trees, or more new tokens per prompt so each run lasts longer."
            if (result.speedup(best) or 0) < 1.0 else "")
    return (f"{partial}**No setting stood out.** The fastest on average was {_cell_words(best, result)} "
            f"({others}) at {_runs_words(result, best)}, MAT {best.mat:.2f}, but "
            f"{_overlap_words(result, verdict) if verdict.reason == 'overlap' else NO_WINNER[verdict.reason]}. "
            f"{scope[0].upper()}{scope[1:]}.{hint}")


def apply_note(result: SweepResult | None) -> str:
    """Why Apply is not offered (empty when it is: a setting stood out)."""
    if result is None or not result.cells:
        return ""
    if result.winner() is not None:
        return ""
    return ("*Apply is offered only for a setting that stood out from plain decoding and every other setting; "
            "this sweep had none, so the Explore tab's sliders stay as they are.*")


def progress_text(progress: Progress) -> str:
    """"Setting 3 of 9 done · next: width 8 · depth 4, prompt 1 of 2 · 40 s so far, about 1 min 05 s left"."""
    r = progress.result
    timing = duration(progress.elapsed_s) + " so far"
    if 0 < progress.runs_done < progress.runs_total:
        left = progress.elapsed_s / progress.runs_done * (progress.runs_total - progress.runs_done)
        timing += f", about {duration(left)} left"
    done = (f"{len(r.cells)} of {r.total_cells} settings done" if r.repeats == 1 else
            f"{len(r.passes)} of {r.total_cells * r.repeats} runs done ({r.total_cells} settings × {r.repeats})")
    return f"{done} · next: {progress.running} · {timing}"


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
    """Rows under ``TABLE_HEADERS``, fastest mean first; MAT and speedups as text with
    two decimals (a table never shows "1" beside "1.00")."""
    if result is None:
        return []
    rows = sorted(result.rows(), key=lambda r: (-(r["speedup"] or 0.0), -r["mat"]))
    return [[r["width"], r["depth"], r["window"], r["budget"], fmt("mat", r["mat"]), fmt("speedup", r["speedup"]),
             MISSING if r["speedup_low"] is None or r["runs"] < 2 else f"{r['speedup_low']:.2f}–{r['speedup_high']:.2f}×",
             r["runs"], fmt("rate", r["tokens_per_s"]), fmt("rate", r["plain_tokens_per_s"]),
             {True: "yes", False: "NO", None: "—"}[r["same_as_plain"]]] for r in rows]


COST_NOTE = ("Why small trees win on a CPU: a CPU has little spare arithmetic, so each extra tree node "
             "makes the verify forward measurably slower, and a big tree pays only when enough of its "
             "nodes are accepted.")
