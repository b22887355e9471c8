"""The "How it works" lesson (components/figures/lesson.py), rebuilt from the stored step record
and from hand-made records, and the keys of every mark on the run charts.

No model: the lesson reads a JSON record and a dict of costs.
"""
from __future__ import annotations

import re

import plotly.graph_objects as go
import pytest

from components.figures.charts import calibration_figure, mask_figure, speedup_figure
from components.state import StepStat
from components.figures.lesson import (FIGURE, NO_COSTS, LessonStep, budget_choice, definition, lesson_parts,
                               load_step, step_budget, walk_text)
from components.figures.tree import tree_figure
from racer import palette
from racer.engine import metrics as measure
from racer.drafting.calibration import ReliabilityBin
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree

# a CPU-like curve: extra rows cost, but far less than extra forwards
COSTS = {1: 0.030, 2: 0.033, 4: 0.036, 8: 0.045, 16: 0.060, 32: 0.100, 64: 0.190}


@pytest.fixture(scope="module")
def step() -> LessonStep:
    return load_step()


def markdown(parts) -> str:
    return "\n\n".join(p for p in parts if isinstance(p, str))


def test_the_stored_step_is_a_real_teaching_step(step):
    """Both sources, accepted and rejected drafts, and the emitted tokens are the
    accepted path's drafts and the model's own token (as the engine emits them)."""
    r = step.record
    assert {"retrieval", "both"} & set(r.tree.sources) and {"logits", "both"} & set(r.tree.sources)
    assert r.accepted_drafts >= 2 and REJECTED in r.verdicts
    assert list(r.emitted) == [r.tree.tokens[i] for i in r.accepted[1:]] + [r.bonus]
    assert all(t in step.texts for t in r.tree.tokens + r.emitted)


def test_the_lessons_numbers_are_the_records(step):
    r = step.record
    text = markdown(lesson_parts(step, COSTS, "cpu"))
    nodes, retrieval, logits, both, depth, accepted, rejected, unreached = map(int, re.search(
        r"The tree has (\d+) nodes: the root, (\d+) from retrieval, (\d+) from the logits cache and (\d+) that "
        r"both sources proposed; its longest path goes (\d+) tokens below the root. The model accepted (\d+) "
        r"drafts \(the bold path\), rejected (\d+) \(crossed\) and never reached (\d+)", text).groups())
    assert nodes == len(r.tree) and depth == r.tree.max_depth
    assert (retrieval, logits, both) == tuple(r.tree.sources.count(s) for s in ("retrieval", "logits", "both"))
    assert (accepted, rejected, unreached) == (r.accepted_drafts, r.verdicts.count(REJECTED),
                                               r.verdicts.count(NOT_REACHED))
    total, forwards, mat = re.search(r"MAT = (\d+) / (\d+) = (\d+\.\d+)", text).groups()
    assert (int(total), int(forwards)) == (r.total_tokens, r.forwards)
    assert float(mat) == round(measure.mat(r.total_tokens, r.forwards), 2)
    emitted, drafts = map(int, re.search(r"this one forward emitted (\d+) tokens \((\d+) accepted", text).groups())
    assert (emitted, drafts) == (len(r.emitted), r.emitted_drafts)
    # one line of the walk per visited node, each naming the node it descends to
    walk = re.findall(r"^\* after node (\d+), .*?(?:node (\d+) carries it|no child carries it)", text, re.M)
    assert [int(a) for a, _ in walk] == list(r.accepted)
    assert [int(b) for _, b in walk[:-1]] == list(r.accepted[1:]) and walk[-1][1] == ""
    assert f"step {r.index} of a real" in text


def test_the_lesson_draws_the_step_with_the_explore_tabs_builders(step):
    parts = lesson_parts(step, COSTS, "cpu")
    figures = [p for p in parts if isinstance(p, go.Figure)]
    assert len(figures) == len(FIGURE.findall(open("assets/how_it_works.md", encoding="utf-8").read())) == 4
    same = lambda a, b: a.to_plotly_json() == b.to_plotly_json()
    assert any(same(f, tree_figure(step.record, step.token_text)) for f in figures)
    assert any(same(f, mask_figure(step.record, step.token_text)) for f in figures)
    assert not re.search(r"\{\w+\}", markdown(parts))   # every field filled


def test_the_lesson_shows_the_cost_curve_it_is_given(step):
    parts = lesson_parts(step, COSTS, "cpu")
    text = markdown(parts)
    assert "one forward over 1 row takes 30.0 ms; over 16 rows 60.0 ms, 2.0 times as long" in text
    curve = next(p for p in parts if isinstance(p, go.Figure) and p.data
                 and p.data[0].name == "one forward over k rows (measured)")
    assert list(curve.data[0].x) == sorted(COSTS) and curve.data[0].y[-1] == pytest.approx(190)
    # break-even of a 16-node tree: 1.05 c(16) / c(1) - 1 = 1.10 accepted drafts
    assert "a tree of 16 nodes more than 1.10" in text
    without = markdown(lesson_parts(step, None))
    assert NO_COSTS in without and "ms" not in without.split("### 2.")[0]


def test_definitions_are_read_from_racer_measure():
    assert definition("MAT") == "tokens out per target forward, prefill included."
    assert definition("Speedup").startswith("plain decoding's seconds for the same tokens over the drafter's")
    assert definition("MAT") in " ".join(measure.__doc__.split())
    with pytest.raises(LookupError):
        definition("Throughput")


# -- hand-made steps ------------------------------------------------------------------------

TEXTS = {10: "The", 11: " cat", 12: " sat", 13: " dog", 99: " on"}


def text_of(token: int) -> str:
    return TEXTS[token]


def hand_record() -> StepRecord:
    """Root "The" with children " cat" (estimate 0.9, created 1, accepted) and " dog"
    (0.1, created 3, rejected); " cat" has child " sat" (0.8, created 2, accepted);
    the model wanted " on" after " sat".

    Expected accepted drafts of the first b created nodes: A(2) = 0.9,
    A(3) = 0.9 + 0.9 * 0.8 = 1.62, A(4) = 1.72."""
    tree = DraftTree(tokens=(10, 11, 13, 12), parents=(-1, 0, 0, 1), depths=(0, 1, 1, 2),
                     sources=("root", "retrieval", "logits", "both"), created=(0, 1, 3, 2),
                     estimates=(1.0, 0.9, 0.1, 0.8), evidence=(None,) * 4)
    return StepRecord(index=2, settings=Settings(), tree=tree, verdicts=(ACCEPTED, ACCEPTED, REJECTED, ACCEPTED),
                      target_tokens=(11, 12, None, 99), target_probs=(1.0, 0.9, 0.05, 0.8), accepted=(0, 1, 3),
                      emitted=(11, 12, 99), emitted_sources=("retrieval", "both", "bonus"), context_len=5,
                      total_tokens=6, forwards=3, budget=4, emitted_drafts=2)


def test_the_walk_follows_the_models_choices_down_the_tree():
    assert walk_text(hand_record(), text_of).splitlines()[2:] == [
        "* after node 0, “The”, the model's argmax is “␣cat”: node 1 carries it, **accepted**; node 2 rejected.",
        "* after node 1, “␣cat”, the model's argmax is “␣sat”: node 3 carries it, **accepted**.",
        "* after node 3, “␣sat”, the model's argmax is “␣on”: no child carries it, so it is **the model's own "
        "token** and the step ends.",
    ]


@pytest.mark.parametrize("costs, chosen", [
    ({1: 1.0, 2: 1.0, 4: 1.0}, 4),   # rows free (a GPU): rates 1, 1.9, 2.62, 2.72
    ({1: 1.0, 2: 2.0, 4: 4.0}, 1),   # a row costs a forward: rates 1, 0.95, 0.87, 0.68 -> the root alone
    ({1: 1.0, 2: 1.1, 4: 2.0}, 2),   # c(3) = 1.55: rates 1, 1.73, 1.69, 1.36
])
def test_the_budget_the_lesson_shows_is_the_adaptive_budgets(costs, chosen):
    assert budget_choice(hand_record(), costs)[0] == chosen


def test_the_budget_sentence_names_the_choice_and_what_it_would_have_given():
    assert step_budget(hand_record(), {1: 1.0, 2: 1.1, 4: 2.0}) == (
        "With this machine's verify costs, the adaptive budget would have verified the first 2 of these 4 nodes: "
        "they were expected to bring 1 + A(2) = 1.90 tokens at 1.10 times the cost of one row, the best ratio of "
        "all sizes (the star). The model accepted 1 of them, so that step would have emitted 2 tokens.")
    assert "the root alone" in step_budget(hand_record(), {1: 1.0, 2: 2.0, 4: 4.0})


# -- keys: every mark on the run charts is named ---------------------------------------------

def legend_names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def test_the_speedup_charts_lines_and_band_are_keyed():
    stats = [StepStat(0, 1, 1, 1, 0.3, 1.0), StepStat(1, 3, 4, 2, 0.6, 1.4),
             StepStat(2, 1, 5, 3, 0.9, 1.2, changed="draft budget 16 → 8")]
    names = legend_names(speedup_figure(stats, viewing=1))
    assert "settings changed here" in names and "step shown in the history" in names
    assert "1.0 = as fast as plain decoding" in names
    dotted = next(t for t in speedup_figure(stats).data if t.name == "settings changed here")
    assert dotted.line.dash == "dot"
    # no change, no viewing: no key for marks that are not drawn
    plain = legend_names(speedup_figure(stats[:2]))
    assert "settings changed here" not in plain and "step shown in the history" not in plain


def test_the_calibration_charts_diagonal_and_bubble_sizes_are_keyed():
    fig = calibration_figure([ReliabilityBin(0.1, 0.2, 3, 0.15, 0.0), ReliabilityBin(0.8, 0.9, 6, 0.83, 0.5)])
    diagonal, points = fig.data
    assert diagonal.showlegend and "estimate = share accepted" in diagonal.name
    assert points.showlegend and "bigger = more tested nodes" in points.name


def test_the_masks_cells_are_keyed_by_their_colours():
    fig = mask_figure(hand_record(), text_of)
    keys = {t.name: t.marker.color for t in fig.data if isinstance(t, go.Scatter)}
    hidden, seen, on_path = palette.MASK
    assert keys == {"hidden from the row": hidden, "seen (context, ancestors, itself)": seen,
                    "seen, on the accepted path": on_path}


def test_the_lesson_ends_with_exercises_each_with_its_answer_folded(step):
    """Issue 23: 4 to 6 exercises a class can do on the page, each answer on the page in a
    collapsed <details>, the last section of the tab; the break-even answer in this
    machine's numbers."""
    text = markdown(lesson_parts(step, COSTS, "cpu"))
    head, exercises = text.rsplit("### Exercises", 1)
    assert "### Exercises" not in exercises and "###" not in exercises   # the last section
    asked = re.findall(r"^\*\*\d\. [^*]+\*\*", exercises, re.M)
    answers = re.findall(r"<details><summary>Answer</summary>(.+?)</details>", exercises, re.S)
    assert 4 <= len(asked) == len(answers) <= 6
    assert all(len(a.split()) > 30 for a in answers)   # an answer, not a hint
    assert "<details open" not in exercises              # folded until opened
    assert "Teaching preset" in exercises and "a tree of 2 rows needs a MAT of 1.10" in exercises
