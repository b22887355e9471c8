"""The explorer's figure and HTML builders, and the trace format, on hand-made records.

No model and no browser: every builder is a pure function of records and values.
"""
from __future__ import annotations

import dataclasses
import json
import re

import plotly.graph_objects as go
import pytest

from components.figures.charts import compare_figure, mask_figure, speedup_figure
from components.state import StepStat, TokenMark
from components.figures.text import automaton_html, generated_html, narration, outcome_html
from components.figures.tokens import colour, drafter_colour, label, visible
from components.figures.tree_layout import drawn_nodes, tree_layout
from components.figures.tree import tree_figure
from racer.inspect import trace as traces
from racer.measure.baseline import BaselineCache
from racer.measure.compare import DrafterResult
from racer.engine.records import timeline_of
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, AutomatonView, StepRecord, Timings
from racer.engine.settings import Settings, settings_change
from racer.engine.tree import DraftTree

TEXTS = {10: "The", 11: " cat", 12: " sat", 13: " dog", 14: " on", 15: "\n", 16: "<b>", 99: " mat"}


def text_of(token: int) -> str:
    return TEXTS.get(token, f"t{token}")


def hand_record() -> StepRecord:
    """Root 10 with children 11 (retrieval, accepted) and 13 (logits, rejected);
    11 has children 12 (both, accepted) and 16 (logits, rejected); 12 has child 14
    (retrieval, rejected) whose child 15 was never reached. The model wanted 99 after 12."""
    tree = DraftTree(tokens=(10, 11, 13, 12, 16, 14, 15), parents=(-1, 0, 0, 1, 1, 3, 5),
                     depths=(0, 1, 1, 2, 2, 3, 4),
                     sources=("root", "retrieval", "logits", "both", "logits", "retrieval", "retrieval"))
    return StepRecord(
        index=3, settings=Settings(budget=8), tree=tree,
        verdicts=(ACCEPTED, ACCEPTED, REJECTED, ACCEPTED, REJECTED, REJECTED, NOT_REACHED),
        target_tokens=(11, 12, None, 99, None, None, None),
        target_probs=(1.0, 0.9, 0.05, 0.8, 0.1, 0.02, 0.5),
        accepted=(0, 1, 3), emitted=(11, 12, 99), emitted_sources=("retrieval", "both", "bonus"),
        context_len=40, total_tokens=9, forwards=4, timings=Timings(0.001, 0.2, 0.01),
        automaton=AutomatonView(matched=(7, 8, 9), borders=((8, 9), (9,)), node_count=120, capacity=10000,
                                offered=((11, 0.9),), cached=((13, 0.4), (12, 0.3))),
        budget=8)


def prefill_record() -> StepRecord:
    return StepRecord(index=0, settings=Settings(), tree=None, verdicts=(), target_tokens=(),
                      target_probs=(), accepted=(), emitted=(10,), emitted_sources=("bonus",),
                      context_len=0, total_tokens=1, forwards=1, timings=Timings(0.0, 0.3, 0.01), budget=1)


def node_points(fig: go.Figure) -> list[go.Scatter]:
    return [t for t in fig.data if isinstance(t, go.Scatter) and t.mode and "markers" in t.mode]


# -- tokens -------------------------------------------------------------------------

def test_visible_marks_whitespace_and_escapes():
    assert visible(" a\n\tb") == "␣a↵⇥b"
    assert visible("") == "∅"
    assert visible("\x00") == "\\x00"
    assert visible("abcdefgh", limit=4) == "abc…"
    assert label("<b>&\"") == "&lt;b&gt;&amp;\""  # plotly would print &quot; as is
    assert label('"', quote=True) == "&quot;"


# -- tree layout and figure ------------------------------------------------------------

def test_layout_puts_the_first_child_on_its_parents_row():
    assert tree_layout([-1, 0, 0, 1]) == [(0, 0), (1, 0), (1, 1), (2, 0)]
    # the accepted child (2) goes first: the top row is the accepted path
    assert tree_layout([-1, 0, 0, 1], first={2}) == [(0, 0), (1, 1), (1, 0), (2, 1)]


def test_layout_gives_every_node_its_own_cell_and_crosses_no_edges():
    """Rows are shared between columns (a compact tree, issue 14), never within one, and
    the edges between two columns keep their order (no crossing)."""
    parents = [-1] + [0] * 5 + [1, 1, 2, 6, 6, 8, 3]
    pos = tree_layout(parents, first={1, 6})
    assert len(set(pos)) == len(pos)
    edges = [(pos[p], pos[c]) for c, p in enumerate(parents) if p >= 0]
    for (a0, a1) in edges:
        for (b0, b1) in edges:
            if a0[0] == b0[0] and a0[1] < b0[1]:   # parents in one column, a above b
                assert a1[1] < b1[1]
    assert max(r for _, r in pos) < sum(1 for i in range(len(parents)) if i not in parents)   # compact


def test_hover_shows_id_source_depth_and_probability():
    fig = tree_figure(hand_record(), text_of)
    both = next(t for t in fig.data if t.name == "both sources")
    hover = both.hovertext[0]
    for part in ("token id 12", "source: both", "depth 2", "target probability: 0.80"):
        assert part in hover


def test_token_text_is_escaped_in_the_figure():
    fig = tree_figure(hand_record(), text_of)
    labels = next(t for t in fig.data if t.name == "labels").text
    assert "&lt;b&gt;" in labels and "<b>" not in labels  # token 16 is "<b>"; it is rejected, so not bold


def test_prefill_and_empty_figures_build():
    fig = tree_figure(prefill_record(), text_of)
    assert sum(len(t.x) for t in node_points(fig)) == 1
    assert tree_figure(None, text_of).layout.annotations[0].text.startswith("No step yet")
    assert drawn_nodes(prefill_record()) == []


# -- mask and charts ------------------------------------------------------------------

def test_mask_figure_matches_the_tree_attention_mask():
    record = hand_record()
    heat = mask_figure(record, text_of).data[0]
    z = [list(row) for row in heat.z]
    assert len(z) == len(record.tree) and len(z[0]) == len(record.tree) + 1
    assert all(row[0] == 1 for row in z)  # everyone sees the context
    # node 5 (token 14) sees 0, 1, 3 and itself, not its sibling branches
    assert [v > 0 for v in z[5][1:]] == [True, True, False, True, False, True, False]
    assert z[3][2] == 2 and z[5][6] == 1  # accepted-to-accepted cells stand out


def test_speedup_figure_plots_mat_speedup_and_accept_lengths():
    stats = [StepStat(0, 1, 1, 1, 0.3, 1.0), StepStat(1, 3, 4, 2, 0.6, 1.4),
             StepStat(2, 1, 5, 3, 0.9, None, changed="draft budget 16 → 8")]
    fig = speedup_figure(stats)
    mat, speed, bars = fig.data[:3]   # then the legend keys of the dashed and dotted lines
    assert list(mat.y) == [2.0, round(5 / 3, 3)]
    assert list(speed.y) == [1.4, None]
    assert list(bars.y) == [3, 1]
    assert any(s.line.dash == "dot" for s in fig.layout.shapes)  # the settings change
    viewed = speedup_figure(stats, viewing=1)
    bands = [s for s in viewed.layout.shapes if s.type == "rect"]
    assert bands and all(b.x0 == 0.5 and b.x1 == 1.5 for b in bands)  # on the viewed step
    assert not [s for s in fig.layout.shapes if s.type == "rect"]


def test_compare_figure_has_one_distribution_per_drafter():
    results = [DrafterResult("plain", 10, 10, 2.0, 1.0, (1,) * 9, "x"),
               DrafterResult("racer", 10, 4, 1.0, 2.0, (3, 2, 4), "x")]
    fig = compare_figure(results)
    assert list(fig.data[0].x) == [1.0, 2.5] and fig.data[0].orientation == "h"  # names read across
    assert list(fig.data[0].y) == ["plain decoding", "RACER (ours)"]
    assert list(fig.data[1].x) == [1.0, 2.0]
    assert len([t for t in fig.data if list(t.x) != [None]]) == 2 + len(results)  # plus the key of the 1 lines
    # each drafter keeps its registry colour, whichever others are compared
    assert list(fig.data[0].marker.color) == [drafter_colour("plain"), drafter_colour("racer")]
    assert list(compare_figure(results[1:]).data[0].marker.color) == [drafter_colour("racer")]


# -- HTML -----------------------------------------------------------------------------

def test_generated_text_is_escaped_and_coloured():
    marks = [TokenMark(1, b"<script>alert(1)</script>", "bonus", 0), TokenMark(2, b' & "co', "retrieval", 1),
             TokenMark(3, b"\n", "logits", 2)]
    page = generated_html(marks, highlight_step=1)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; &quot;co" in page
    assert f"--c:{colour('retrieval')}" in page and "tok-retrieval tok-now" in page
    assert generated_html(marks, upto_step=0).count('class="tok tok-') == 1 + 4  # one token + legend


def test_outcome_names_the_rejection_and_the_models_choice():
    page = outcome_html(hand_record(), text_of, speedup=1.5)
    assert "accepted <b>2</b>" in page
    assert "offered “␣on”" in page and "“␣mat”" in page  # rejected under the last accepted node; wanted 99
    assert "1.50×" in page


def test_narration_tells_the_step():
    story = narration(hand_record(), text_of)
    assert "accepted 2 drafted tokens" in story
    assert "“␣mat”" in story and "Retrieval: the context's last 3 tokens followed by the root" in story
    assert "3 tokens" in story
    assert "first token" in narration(prefill_record(), text_of, prompt_len=12)


def test_automaton_view_lists_borders_and_escapes():
    page = automaton_html(hand_record(), lambda t: "<i>" if t == 8 else text_of(t))
    assert page.count("<li>") == 2 and "&lt;i&gt;" in page and "120 of 10,000" in page


def test_settings_change_in_words():
    assert settings_change(Settings(), Settings(budget=8, depth=4)) == "tree depth 12 → 4, draft budget 16 → 8"
    assert settings_change(Settings(), Settings()) == ""


# -- trace and baselines --------------------------------------------------------------------

def test_trace_round_trips():
    records = [prefill_record(), hand_record()]
    trace = traces.trace_dict(records, prompt="hi <there>", prompt_ids=[1, 2], output_ids=[10, 11, 12, 99],
                              final_text="The cat sat mat", model="m", token_text=text_of)
    text = traces.dumps(trace)
    back = traces.loads(text)
    assert back["final_text"] == "The cat sat mat" and back["settings"]["budget"] == 16
    assert back["steps"][1]["emitted_text"] == [" cat", " sat", " mat"]
    assert traces.records_from_trace(back) == records


def test_trace_rejects_other_json():
    with pytest.raises(ValueError):
        traces.loads(json.dumps({"format": "something else"}))


def test_timeline_and_baseline_cache():
    assert timeline_of([prefill_record(), hand_record()]) == pytest.approx([0.31, 0.521, 0.521, 0.521])
    now = [0.0]
    cache = BaselineCache(slots=2, ttl_s=60, clock=lambda: now[0])
    for i in range(3):
        cache.put(("k", i), [1.0] * (i + 1))
    assert len(cache) == 2 and cache.get(("k", 0)) == ([], 0.0) and cache.get(("k", 2))[0] == [1.0] * 3
    cache.put(("k", 2), [2.0])  # a shorter timeline never replaces a longer, fresh one
    assert cache.get(("k", 2))[0] == [1.0] * 3
    now[0] = 30.0
    assert cache.get(("k", 2)) == ([1.0] * 3, 30.0)
    now[0] = 61.0  # too old: timed under conditions that may have changed
    assert cache.get(("k", 2)) == ([], 0.0)


def test_trace_round_trips_a_tree_with_evidence():
    from racer.drafting.calibration import Evidence

    record = hand_record()
    evidence = (None, Evidence(match=3, count=2, total=2, latest=True),
                Evidence(rank=1, prob=0.25)) + (None,) * 4
    with_evidence = dataclasses.replace(record, tree=dataclasses.replace(record.tree, evidence=evidence))
    trace = traces.trace_dict([with_evidence], prompt="p", prompt_ids=[1], output_ids=[11], final_text="x")
    back = traces.records_from_trace(traces.loads(traces.dumps(trace)))
    assert back == [with_evidence]


def test_compare_shows_one_mat_with_two_decimals_and_error_bars():
    """MAT is one number (tokens per forward, prefill included): the table once showed a
    second 'mean tokens/forward' over verify forwards only (1.47 beside MAT 1.44)."""
    from components.compare import TABLE_HEADERS, table_rows, verdict_note
    plain = DrafterResult("plain", 10, 10, 2.0, 1.0, (1,) * 9, "x", speedups=(0.98, 1.0, 1.02, 1.0))
    racer = DrafterResult("racer", 10, 4, 1.0, 2.0, (3, 2, 4), "x", speedups=(1.9, 2.0, 2.1))
    assert "mean tokens/forward" not in TABLE_HEADERS and TABLE_HEADERS.count("MAT") == 1
    rows = table_rows([plain, racer])
    mat = TABLE_HEADERS.index("MAT")
    assert [r[mat] for r in rows] == ["1.00", "2.50"]          # never "1" beside "2.5"
    assert rows[1][TABLE_HEADERS.index("speedup range")] == "1.90–2.10×" and rows[1][-1] == 3
    bars = compare_figure([plain, racer]).data[1].error_x
    assert list(bars.array) == pytest.approx([0.02, 0.1]) and list(bars.arrayminus) == pytest.approx([0.02, 0.1])
    assert "**RACER (ours) stood out**" in verdict_note([plain, racer])
    noise = DrafterResult("logits", 10, 10, 1.0, 1.05, (1,) * 9, "x", speedups=(1.0, 1.1))
    note = verdict_note([plain, noise])
    assert "**No drafter stood out.**" in note and "MAT was 1.00" in note


def test_compare_speedup_labels_start_beyond_the_whiskers():
    """Issue 23: the speedup labels sat at the bar's end, where the whisker is drawn over them."""
    plain = DrafterResult("plain", 10, 10, 2.0, 1.0, (1,) * 9, "x", speedups=(0.9, 1.0, 1.1, 1.0))
    racer = DrafterResult("racer", 10, 4, 1.0, 2.0, (3, 2, 4), "x", speedups=(1.5, 2.0, 2.5))
    once = DrafterResult("logits", 10, 8, 1.0, 1.2, (2, 1), "x", speedups=(1.2,))
    fig = compare_figure([plain, racer, once])
    bars = fig.data[1]
    assert bars.text is None and bars.textposition in (None, "none")   # no label drawn on the bar
    labels = {a.y: a for a in fig.layout.annotations if a.xref == "x2"}
    for r, name, whisker in ((plain, "plain decoding", 1.1), (racer, "RACER (ours)", 2.5), (once, "logits only", 1.2)):
        a = labels[name]
        assert a.text == f"{r.speedup:.2f}×" and a.x == pytest.approx(whisker) and a.xanchor == "left" and a.xshift > 0
    assert fig.layout.xaxis2.range[1] > 2.5 * 1.2     # room for the label past the longest whisker


def test_compare_progress_says_round_drafter_and_time_left():
    from components.compare import progress_line
    from racer.measure.compare import Progress, run_plan
    plan = run_plan(["racer", "prompt_lookup"], repeats=3)          # 7 runs: plain, then 3 x (2 + plain)
    assert len(plan) == 10 and plan[4] == ("racer", 2)
    line = progress_line(Progress("racer", 32, [], run=5, runs=10, round=2, rounds=3), 64, elapsed_s=45.0)
    # 4.5 of 10 runs done in 45 s: 55 s to go
    assert line == "Round 2 of 3 · RACER (ours), run 5 of 10: 32 of 64 tokens · 45 s so far, about 55 s left"
    once = progress_line(Progress("plain", 0, [], run=1, runs=2, round=1, rounds=1), 64, elapsed_s=0.0)
    assert once.startswith("plain decoding, run 1 of 2: 0 of 64 tokens") and "left" not in once


def test_compare_verdict_checks_every_drafter():
    """Issue 23: RACER 2.34x (2.22-2.53x) was called best while prompt lookup, third by
    mean, ranged 1.68-2.26x: only the runner-up by mean was checked."""
    from components.compare import verdict_note
    plain = DrafterResult("plain", 10, 10, 2.0, 1.0, (1,) * 9, "x", speedups=(0.98, 1.0, 1.02, 1.0))
    racer = DrafterResult("racer", 10, 4, 1.0, 2.34, (3, 2, 4), "x", speedups=(2.22, 2.27, 2.53))
    runner = DrafterResult("racer_sglang", 10, 4, 1.0, 2.08, (3, 2, 4), "x", speedups=(2.0, 2.1, 2.15))
    lookup = DrafterResult("prompt_lookup", 10, 6, 1.0, 1.90, (2, 2, 1), "x", speedups=(1.68, 1.75, 2.26))
    note = verdict_note([plain, racer, runner, lookup])
    assert "**No drafter stood out.**" in note and "stood out**" not in note.replace("No drafter stood out.**", "")
    assert "prompt lookup (1.68–2.26×)" in note and "2.22×" in note
    lookup = dataclasses.replace(lookup, speedups=(1.68, 1.75, 2.2))
    assert "**RACER (ours) stood out**" in verdict_note([plain, racer, runner, lookup])


def test_a_busy_machine_is_said_on_the_timing_line_not_on_a_line_of_its_own():
    from types import SimpleNamespace
    from components.explore import BUSY_CORES, busy_note
    quiet, busy, unmeasured = (SimpleNamespace(others_cores=lambda v=v: v) for v in (0.1, 0.9, None))
    assert busy_note(quiet) == "" == busy_note(unmeasured) and 0.1 < BUSY_CORES < 0.9
    note = busy_note(busy)
    assert "0.9 cores" in note
    page = outcome_html(hand_record(), text_of, speedup=1.5, timing_note=note + " <&>")
    timing_line = re.search(r'<div class="muted small">(.*?)</div>', page).group(1)
    assert timing_line.startswith("draft ") and "0.9 cores" in timing_line and "&lt;&amp;&gt;" in timing_line
    assert outcome_html(prefill_record(), text_of, timing_note=note).count("cores") == 0  # no times, no note


def test_two_exports_in_the_same_millisecond_get_files_of_their_own(monkeypatch):
    """The load test's eight sessions once read each other's half-overwritten trace: two
    exports named by the same timestamp. Each export now writes a file of its own."""
    from components import explore
    monkeypatch.setattr(explore.time, "time", lambda: 1765000000.0)   # the same instant for both
    long, short = json.dumps({"prompt": "a" * 5000}), json.dumps({"prompt": "b"})
    first, second = explore.save_trace(long), explore.save_trace(short)
    assert first != second
    with open(first, encoding="utf-8") as f:
        assert json.load(f)["prompt"] == "a" * 5000
    with open(second, encoding="utf-8") as f:
        assert json.load(f) == {"prompt": "b"}
