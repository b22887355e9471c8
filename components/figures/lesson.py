"""The "How it works" tab as a lesson: the prose of ``assets/how_it_works.md`` with
its numbers and figures filled in from a real step record and this machine's
verify costs.

The prose is a template: ``{name}`` fields are sentences built here, and a line
``<!-- figure: name -->`` is where a figure goes. ``lesson_parts`` returns the
markdown pieces and the figures in page order, so the tab is a loop over them.
Every number of the worked step is computed from the stored record
(``assets/lesson_step.json``, written by ``scripts/record_lesson_step.py``), and the
figures are the Explore tab's own builders, so the lesson stays true when the engine
or the drawing changes: re-record the step and the text follows.

Left out on purpose: running the model. The verify costs come from the caller
(``TargetModel.verify_costs``, measured once per process at startup); without them
the cost sentences say so and the cost charts show a note.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from racer import palette

from racer.engine import metrics as measure
from racer.drafting.budget import EXPLORE_EVERY, AdaptiveBudget
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord
from racer.inspect.trace import record_from_dict

from components.figures.charts import mask_figure
from components.figures.tokens import joined, quoted
from components.figures.tree import tree_figure

ASSETS = Path(__file__).resolve().parents[2] / "assets"
STEP_PATH = ASSETS / "lesson_step.json"
TEMPLATE_PATH = ASSETS / "how_it_works.md"
STEP_FORMAT = "racer-explorer-lesson-step/1"
FIGURE = re.compile(r"^<!-- figure: (\w+) -->$", re.MULTILINE)

Part = str | go.Figure   # a markdown piece or a figure, in page order


@dataclass(frozen=True)
class LessonStep:
    """One recorded step and what is needed to read it without the model."""
    record: StepRecord
    texts: dict[int, str]     # token id -> its text, for every token the figures label
    model: str
    category: str             # the example prompt's category
    prompt: str
    text_before: str          # the answer before this step, the root included

    def token_text(self, token: int) -> str:
        return self.texts.get(token, f"<{token}>")


def load_step(path: Path = STEP_PATH) -> LessonStep:
    """The stored step (see ``scripts/record_lesson_step.py``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != STEP_FORMAT:
        raise ValueError(f"{path} is not a lesson step (format {data.get('format')!r}, expected {STEP_FORMAT!r})")
    return LessonStep(record=record_from_dict(data["record"]),
                      texts={int(k): v for k, v in data["token_texts"].items()}, model=data["model"],
                      category=data["example"]["category"], prompt=data["example"]["prompt"],
                      text_before=data["text_before"])


def lesson_parts(step: LessonStep, costs: dict[int, float] | None, device: str = "",
                 template: str | None = None) -> list[Part]:
    """The lesson in page order: markdown strings and Plotly figures alternating as the
    template places them. ``costs``: {rows: seconds per verify forward} on this machine
    (``TargetModel.verify_costs``), None without a model."""
    template = TEMPLATE_PATH.read_text(encoding="utf-8") if template is None else template
    values = lesson_values(step, costs, device)
    figures = lesson_figures(step, costs)
    parts: list[Part] = []
    for i, chunk in enumerate(FIGURE.split(template)):
        if i % 2:
            parts.append(figures[chunk])
        elif chunk.strip():
            parts.append(chunk.format_map(values).strip())
    return parts


def lesson_figures(step: LessonStep, costs: dict[int, float] | None) -> dict[str, go.Figure]:
    record = step.record
    return {"verify_cost": verify_cost_figure(costs), "tree": tree_figure(record, step.token_text),
            "mask": mask_figure(record, step.token_text), "budget": budget_figure(record, costs)}


def lesson_values(step: LessonStep, costs: dict[int, float] | None, device: str = "") -> dict[str, str]:
    """Every ``{field}`` of the template."""
    return {
        "mat_name": "MAT (mean accepted tokens)", "mat_definition": definition("MAT"),
        "speedup_name": "Speedup", "speedup_definition": definition("Speedup"),
        "explore_every": str(EXPLORE_EVERY),
        "cost_sentence": cost_sentence(costs, device), "budget_sentence": budget_sentence(costs),
        "break_even": break_even(costs),
        "step_intro": step_intro(step), "tree_sentence": tree_sentence(step.record),
        "mask_sentence": mask_sentence(step.record, step.token_text), "walk": walk_text(step.record, step.token_text),
        "step_outcome": step_outcome(step.record, step.token_text),
        "step_budget": step_budget(step.record, costs),
    }


# -- definitions: read from racer.engine.metrics, where MAT and speedup are defined ----------

def definition(name: str) -> str:
    """The first sentence of ``name``'s entry in ``racer.engine.metrics``'s docstring, so the
    lesson says what the code computes, in its words.

    >>> definition("MAT")
    'tokens out per target forward, prefill included.'
    """
    match = re.search(rf"^- {re.escape(name)}\b[^:]*:(.*?)(?=^- |^\s*$)", measure.__doc__ or "", re.M | re.S)
    if match is None:
        raise LookupError(f"racer.engine.metrics does not define {name!r}")
    text = " ".join(match.group(1).split())
    return text[: text.index(". ") + 1] if ". " in text else text


# -- the cost of rows -------------------------------------------------------------------

NO_COSTS = ("*The measured curve appears here when the app runs with a model: it is measured on the machine "
            "that serves the page, once, when the model loads.*")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def cost_sentence(costs: dict[int, float] | None, device: str = "") -> str:
    """This machine's measured costs in words: one row against the most rows measured.

    >>> cost_sentence({1: 0.010, 16: 0.020, 64: 0.040}, "cpu")
    'Measured on this machine at start-up (cpu): one forward over 1 row takes 10.0 ms; over 16 rows 20.0 ms, 2.0 times as long, where 16 forwards of one row would take 16 times as long (160 ms); over 64 rows 40.0 ms, 4.0 times as long.'
    """
    if not costs:
        return NO_COSTS
    sizes = sorted(costs)
    one = costs[sizes[0]]
    where = f"Measured on this machine at start-up ({device})" if device else "Measured on this machine at start-up"
    said = [f"{where}: one forward over {sizes[0]} row takes {_ms(one)}"]
    # the default draft budget (16) and the most rows measured; the first compared with k forwards
    for n, k in enumerate(dict.fromkeys(k for k in (16, sizes[-1]) if k in costs and k != sizes[0])):
        text = f"over {k} rows {_ms(costs[k])}, {costs[k] / one:.1f} times as long"
        if n == 0:
            text += f", where {k} forwards of one row would take {k} times as long ({_ms(k * one)})"
        said.append(text)
    return "; ".join(said) + "."


def break_even(costs: dict[int, float] | None) -> str:
    """The MAT a tree of each measured size needs to beat plain decoding on this machine:
    its forward's cost in plain forwards (the answer to the lesson's break-even exercise),
    on the monotone cost curve the adaptive budget reads (``AdaptiveBudget.cost``).

    >>> break_even({1: 0.010, 2: 0.012, 16: 0.030})
    'Measured on this machine, a tree of 2 rows needs a MAT of 1.20, of 16 rows 3.00.'
    """
    if not costs or 1 not in costs:
        return "The ratios measured on this machine appear here when the app runs with a model."
    curve = AdaptiveBudget(costs)
    ratios = [f"{b} rows {curve.cost(b) / curve.cost(1):.2f}" for b in sorted(costs) if b > 1]
    if not ratios:
        return "Only a 1-row forward was measured here."
    return f"Measured on this machine, a tree of {ratios[0].replace(' rows ', ' rows needs a MAT of ')}" + \
        "".join(f", of {r}" for r in ratios[1:]) + "."


def verify_cost_figure(costs: dict[int, float] | None) -> go.Figure:
    """Measured seconds of one verify forward over k rows, against k forwards of one row."""
    fig = go.Figure()
    if not costs:
        _note(fig, "No model loaded: no measured costs.")
        return fig
    sizes = sorted(costs)
    fig.add_trace(go.Scatter(x=sizes, y=[costs[k] * 1000 for k in sizes], mode="lines+markers",
                             name="one forward over k rows (measured)", line=dict(color=palette.MAT, width=2),
                             hovertemplate="%{x} rows in one forward: %{y:.1f} ms<extra></extra>"))
    fig.add_trace(go.Scatter(x=sizes, y=[k * costs[sizes[0]] * 1000 for k in sizes], mode="lines",
                             name="k forwards of one row", line=dict(color=palette.GUIDE, width=2, dash="dash"),
                             hovertemplate="%{x} forwards of one row: %{y:.1f} ms<extra></extra>"))
    fig.update_xaxes(title_text="rows (tree nodes) verified at once", type="log", tickvals=sizes,
                     ticktext=[str(k) for k in sizes], gridcolor=palette.GRID, fixedrange=True)
    fig.update_yaxes(title_text="milliseconds", rangemode="tozero", gridcolor=palette.GRID, fixedrange=True)
    _layout(fig, 320)
    return fig


# -- the adaptive budget ------------------------------------------------------------------

def budget_sentence(costs: dict[int, float] | None) -> str:
    """The break-even point of each measured tree size, in words (``AdaptiveBudget.break_even``:
    from the monotone cost curve, with the margin a tree must win by).

    >>> budget_sentence({1: 0.010, 4: 0.012, 16: 0.020})
    'On this machine, counting the verify forward alone, a tree of 4 nodes is chosen when it is expected to bring more than 0.26 accepted drafts, a tree of 16 nodes more than 1.10.'
    """
    if not costs:
        return NO_COSTS
    budget = AdaptiveBudget(costs)
    sizes = [k for k in sorted(costs) if k > 1]
    said = [f"a tree of {k} nodes {'is chosen when it is expected to bring ' if i == 0 else ''}more than "
            f"{budget.break_even(k):.2f}{' accepted drafts' if i == 0 else ''}"
            for i, k in enumerate(sizes)]
    return "On this machine, counting the verify forward alone, " + ", ".join(said) + "."


def budget_choice(record: StepRecord, costs: dict[int, float]) -> tuple[int, list[float], list[float]]:
    """The size a fresh adaptive budget would pick for the record's tree, with
    expected[b] (accepted drafts expected of the first b nodes) and cost[b] / cost[1]."""
    budget = AdaptiveBudget(costs)
    tree = record.tree
    expected = budget.expected(tree)
    relative = [0.0] + [budget.cost(b) / budget.cost(1) for b in range(1, len(tree) + 1)]
    return budget.choose(tree), expected, relative


def accepted_within(record: StepRecord, b: int) -> int:
    """Accepted drafts among the tree's first b created nodes: what verifying only
    them would have accepted (the accepted path is closed under parents, and so is a
    prefix of creation order)."""
    tree = record.tree
    return sum(1 for i in record.accepted[1:] if tree.created[i] < b)


def budget_figure(record: StepRecord, costs: dict[int, float] | None) -> go.Figure:
    """Expected speedup of this one step for every tree size b (first b nodes drafted):
    (1 + A(b)) / (c(b) / c(1)), the adaptive budget's choice starred, and what the
    record says verifying b nodes would really have given."""
    fig = go.Figure()
    if not costs or record.tree is None:
        _note(fig, "No model loaded: no measured costs." if not costs else "No draft tree at this step.")
        return fig
    chosen, expected, relative = budget_choice(record, costs)
    sizes = list(range(1, len(record.tree) + 1))
    fig.add_trace(go.Scatter(
        x=sizes, y=[(1 + expected[b]) / relative[b] for b in sizes], mode="lines+markers",
        name="expected: (1 + A(b)) / (c(b) / c(1))", line=dict(color=palette.MAT, width=2),
        customdata=[[1 + expected[b], relative[b]] for b in sizes],
        hovertemplate="first %{x} nodes: %{customdata[0]:.2f} tokens expected at %{customdata[1]:.2f}× "
                      "the cost of one row<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=sizes, y=[(1 + accepted_within(record, b)) / relative[b] for b in sizes], mode="lines",
        name="what the model then accepted (this record)", line=dict(color=palette.SPEEDUP, width=1.5, dash="dot"),
        hovertemplate="first %{x} nodes: would have emitted so much per cost: %{y:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[chosen], y=[(1 + expected[chosen]) / relative[chosen]], mode="markers",
                             name=f"the adaptive budget's choice ({chosen} nodes)", hoverinfo="skip",
                             marker=dict(symbol="star", size=16, color=palette.MAT, line=dict(width=1, color=palette.INK))))
    fig.add_trace(go.Scatter(x=[1, sizes[-1]], y=[1, 1], mode="lines", name="plain decoding (the root alone) = 1",
                             hoverinfo="skip", line=dict(color=palette.GUIDE, width=1, dash="dash")))
    fig.update_xaxes(title_text="tree size b: the first b nodes drafted", dtick=1 if len(sizes) <= 20 else None,
                     gridcolor=palette.GRID, fixedrange=True)
    fig.update_yaxes(title_text="tokens per cost of one row", rangemode="tozero", gridcolor=palette.GRID,
                     fixedrange=True)
    _layout(fig, 340)
    return fig


# -- the worked step ------------------------------------------------------------------------

def _counts(record: StepRecord) -> dict[str, int]:
    tree = record.tree
    return {"retrieval": tree.sources.count("retrieval"), "logits": tree.sources.count("logits"),
            "both": tree.sources.count("both"), ACCEPTED: record.verdicts.count(ACCEPTED) - 1,
            REJECTED: record.verdicts.count(REJECTED), NOT_REACHED: record.verdicts.count(NOT_REACHED)}


def _text(token_text, ids) -> str:
    return quoted(joined(token_text, ids), limit=None)


def step_intro(step: LessonStep) -> str:
    r = step.record
    prompt = " ".join(step.prompt.split())
    prompt = prompt if len(prompt) <= 90 else prompt[:89] + "…"
    sampling = "greedy" if r.settings.greedy else f"sampled (temperature {r.settings.temperature:g})"
    return (f"This is step {r.index} of a real, {sampling} run of {step.model} on the example prompt "
            f"*{step.category}* (“{prompt}”), recorded with the adaptive budget off, so the whole tree the "
            f"drafter built ({len(r.tree)} nodes, draft budget {r.settings.budget}) was verified. Before this "
            f"step the answer read “{html.escape(' '.join(step.text_before.split()))}”; its last token, "
            f"{_text(step.token_text, [r.tree.root])}, is the root.")


def tree_sentence(record: StepRecord) -> str:
    c = _counts(record)
    return (f"The tree has {len(record.tree)} nodes: the root, {c['retrieval']} from retrieval, "
            f"{c['logits']} from the logits cache and {c['both']} that both sources proposed; its longest path "
            f"goes {record.tree.max_depth} tokens below the root. The model accepted {c[ACCEPTED]} drafts (the bold "
            f"path), rejected {c[REJECTED]} (crossed) and never reached {c[NOT_REACHED]} (small).")


def mask_sentence(record: StepRecord, token_text) -> str:
    """The mask read on one row: the first rejected node that has an accepted sibling."""
    tree = record.tree
    on_path = set(record.accepted)
    rows = [i for i, v in enumerate(record.verdicts) if v == REJECTED]
    for i in rows:
        siblings = [j for j in on_path if j > 0 and tree.parents[j] == tree.parents[i]]
        if siblings:
            j = siblings[0]
            seen = [k for k, visible in enumerate(tree.ancestor_mask()[i]) if visible]
            return (f"Read row {i}, {_text(token_text, [tree.tokens[i]])}: it sees the context and nodes "
                    f"{', '.join(map(str, seen))} (its ancestors and itself), but not node {j}, "
                    f"{_text(token_text, [tree.tokens[j]])}, its sibling: for row {i} the text goes on with its own "
                    f"path only. Dark cells are the accepted path, light blue what a row sees, grey what is hidden.")
    return "Every row sees the context, its ancestors and itself; grey cells are hidden from it."


def walk_text(record: StepRecord, token_text) -> str:
    """The verdict as a walk down the tree, one line per visited node."""
    tree = record.tree
    kids = tree.children()
    choice = "argmax" if record.settings.greedy else "sampled choice"
    lines = [f"The verdict, walking down from the root (the model's {choice} at each visited node):", ""]
    for step, i in enumerate(record.accepted):
        pick = record.target_tokens[i]
        child = record.accepted[step + 1] if step + 1 < len(record.accepted) else None
        others = [k for k in kids[i] if k != child]
        line = f"* after node {i}, {_text(token_text, [tree.tokens[i]])}, the model's {choice} is " \
               f"{_text(token_text, [pick])}: "
        if child is not None:
            line += f"node {child} carries it, **accepted**"
        else:
            line += "no child carries it, so it is **the model's own token** and the step ends"
        if others:
            line += f"; node{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} rejected"
        lines.append(line + ".")
    return "\n".join(lines)


def step_outcome(record: StepRecord, token_text) -> str:
    emitted = len(record.emitted)
    own = emitted > record.emitted_drafts
    parts = f"{record.emitted_drafts} accepted drafts" + (" and the model's own token" if own else "")
    mat = measure.mat(record.total_tokens, record.forwards)
    return (f"So this one forward emitted {emitted} tokens ({parts}), {_text(token_text, record.emitted)}, "
            f"where plain decoding needs {emitted} forwards. After it the run had {record.total_tokens} tokens "
            f"out of {record.forwards} forwards, the prefill included: MAT = {record.total_tokens} / "
            f"{record.forwards} = {mat:.2f}.")


def step_budget(record: StepRecord, costs: dict[int, float] | None) -> str:
    if not costs:
        return NO_COSTS
    chosen, expected, relative = budget_choice(record, costs)
    n = len(record.tree)
    if chosen == 1:
        return (f"With this machine's verify costs, the adaptive budget would have verified the root alone: no "
                f"part of these {n} nodes was expected to bring more than its rows cost (the chart).")
    got = accepted_within(record, chosen)
    return (f"With this machine's verify costs, the adaptive budget would have verified the first {chosen} of "
            f"these {n} nodes: they were expected to bring 1 + A({chosen}) = {1 + expected[chosen]:.2f} tokens at "
            f"{relative[chosen]:.2f} times the cost of one row, the best ratio of all sizes (the star). The model "
            f"accepted {got} of them, so that step would have emitted {got + 1} tokens.")


# -- shared drawing --------------------------------------------------------------------------

def _layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=50, b=50), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(color=palette.FAINT))
    fig.update_layout(height=160, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR)
