"""The Tune tab's pure builders: heatmaps, the best setting in words, progress and table,
on hand-made sweep results (no model)."""
import pytest

from components.figures.tune import (TABLE_HEADERS, apply_note, best_markdown, heatmap_figure, progress_text,
                                  status_html, table_rows)
from racer.engine.settings import Settings
from racer.measure.sweep import Grid, Pass, Progress, PromptRun, SweepResult

BASE = Settings(window=10, budget=16, max_new_tokens=10)
PLAIN = Pass(BASE.with_changes(drafter="plain"), (PromptRun(tuple(range(10)), 10, 2.0),))  # 5 tokens/s


def cell(width, depth, forwards, seconds, budget=16, output=tuple(range(10))):
    return Pass(BASE.with_changes(width=width, depth=depth, budget=budget),
                (PromptRun(output, forwards, seconds),))


def result(cells, grid=Grid((4, 8), (2, 6)), total=4):
    return SweepResult(grid, BASE, 1, cells=tuple(cells), plains=(PLAIN,), total_cells=total)


# width 4 depth 2: 10 tokens in 1.0 s = 2.0x; width 8 depth 6: MAT 5 but 2.5 s = 0.8x
FAST, DEEP = cell(4, 2, 4, 1.0), cell(8, 6, 2, 2.5)


def heat(fig, panel=0):
    return fig.data[panel]


def grid_of(values):
    return [list(row) for row in values]


def test_mat_heatmap_has_rows_per_width_and_columns_per_depth():
    fig = heatmap_figure(result([FAST, DEEP]), "mat")
    h = heat(fig)
    assert list(h.x) == ["2", "6"] and list(h.y) == ["4", "8"]
    assert grid_of(h.z) == [[2.5, None], [None, 5.0]]       # cells not run yet stay blank
    assert grid_of(h.text) == [["2.50", ""], ["", "★ 5.00"]]  # the highest MAT carries the star
    assert "10 tokens in 2 forwards" in h.hovertext[1][1]
    assert fig.layout.coloraxis.cmin == 1.0


def test_speedup_heatmap_stars_only_a_winner_and_centres_white_on_one():
    fig = heatmap_figure(result([FAST, DEEP]), "speedup")
    h = heat(fig)
    assert grid_of(h.z) == [[2.0, None], [None, 0.8]]
    assert h.text[0][0] == "2.00×"      # one run each: no star, nothing stood out
    starred = heat(heatmap_figure(repeated(), "speedup"))
    assert starred.text[0][0].startswith("★ 2.00×<br>") and "1.90–2.11" in starred.text[0][0]
    axis = fig.layout.coloraxis
    assert (axis.cmin + axis.cmax) / 2 == pytest.approx(1.0)  # white = as fast as plain
    assert axis.cmax == pytest.approx(2.0)


def test_one_panel_per_window_and_budget_pair():
    grid = Grid((4, 8), (2, 6), budgets=(8, 16))
    fig = heatmap_figure(result([FAST, cell(4, 2, 5, 1.0, budget=8)], grid, total=8), "mat")
    assert len(fig.data) == 2
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["window 10 · budget 8", "window 10 · budget 16"]
    assert {d.coloraxis for d in fig.data} == {"coloraxis"}  # one colour scale for all panels


def test_empty_heatmap_asks_for_a_run():
    fig = heatmap_figure(None, "speedup")
    assert not fig.data and "Run a sweep" in fig.layout.annotations[0].text
    with pytest.raises(ValueError):
        heatmap_figure(None, "tokens")


def test_best_setting_in_words():
    text = best_markdown(result([FAST, DEEP]))
    assert text.startswith("So far (2 of 4 runs), **No setting stood out.**")
    assert "width 4 · depth 2" in text and "2.00× (one run)" in text and "each setting ran once" in text
    assert "Stopped after 2 of 4 settings" in best_markdown(result([FAST, DEEP]), stopped=True)
    assert "highest MAT, 5.00 at width 8 · depth 6, was slower (0.80× (one run))" in text
    assert "✓ Every setting produced exactly plain decoding's text" in text
    assert "adaptive budget was **on**" in text      # hand-made: BASE has it on
    off = SweepResult(Grid((4, 8), (2, 6)), BASE.with_changes(adaptive_budget=False), 1, cells=(FAST,),
                      plains=(PLAIN,), total_cells=4)
    assert "adaptive budget was **off** because the grid varies tree size" in best_markdown(off)
    slow = best_markdown(result([DEEP], total=2))
    assert "**No setting stood out.**" in slow and "Try smaller trees" in slow
    assert best_markdown(None) == "" and best_markdown(result([])) == ""


def test_a_one_setting_sweep_says_it_compares_nothing():
    one = result([FAST], grid=Grid((4,), (2,)), total=1)
    text = best_markdown(one)
    assert text.startswith("**One setting only, so this sweep compares nothing**")
    assert "2.00× (one run) plain decoding" in text and "best" not in text.lower()
    assert "★" not in str(heatmap_figure(one, "speedup").data[0].text)  # no star on a field of one


def test_wrong_text_is_flagged():
    odd = cell(4, 6, 4, 1.5, output=(9,) * 10)    # a different text under greedy
    text = best_markdown(result([FAST, odd]))
    assert "⚠ Some settings produced a different text" in text


def test_a_drifting_machine_is_called_out():
    slower = Pass(PLAIN.settings, (PromptRun(tuple(range(10)), 10, 4.0),))  # 2.5 tokens/s, was 5
    drifting = SweepResult(Grid((4,), (2,)), BASE, 1, cells=(FAST,), plains=(PLAIN, slower), total_cells=1)
    assert "⚠ Plain decoding ran between 2.5 and 5.0 tokens/s" in best_markdown(drifting)
    assert "⚠ Plain decoding" not in best_markdown(result([FAST]))


def test_progress_line_and_bar():
    p = Progress(runs_done=3, runs_total=12, running="width 8 · depth 2, prompt 1 of 1",
                 result=result([FAST]), elapsed_s=30.0)
    line = progress_text(p)
    assert line.startswith("1 of 4 settings done · next: width 8 · depth 2")
    assert "30 s so far, about 1 min 30 s left" in line
    html = status_html(line, p.fraction, "run")
    assert 'aria-valuenow="25"' in html and "width:25.0%" in html
    assert "<script>" not in status_html("<script>", None)
    again = progress_text(Progress(3, 12, "width 8 · depth 6 (run 2 of 3), prompt 1 of 1", repeated(), 30.0))
    assert again.startswith("6 of 6 runs done (2 settings × 3) · next: width 8 · depth 6 (run 2 of 3)")


def test_table_lists_the_fastest_first():
    rows = table_rows(result([DEEP, FAST]))
    assert len(rows[0]) == len(TABLE_HEADERS)
    assert rows[0][:4] == [4, 2, 10, 16] and rows[0][5] == "2.00×" and rows[0][10] == "yes"
    assert rows[1][4] == "5.00"
    assert rows[0][6] == "—" and rows[0][7] == 1      # one run: no range
    won = table_rows(repeated())
    assert won[0][4:8] == ["2.50", "2.00×", "1.90–2.11×", 3]
    # one format per quantity: every MAT and speedup has two decimals, "1.00" never "1"
    flat = table_rows(result([cell(4, 2, 10, 2.0)]))
    assert flat[0][4] == "1.00" and flat[0][5] == "1.00×"
    assert table_rows(None) == []


# -- signal and noise ---------------------------------------------------------------------

def repeated(fast=(1.0, 1.05, 0.95), slow=(2.5, 2.4, 2.6), plain=(2.0, 2.0, 2.0, 2.0)):
    """A 2-setting sweep with mocked timings, 3 runs each: plain runs before, between and
    after the rounds (plan(2, 4, 3)); FAST makes 10 tokens in ``fast`` seconds (about 2x),
    DEEP in ``slow`` seconds (about 0.8x)."""
    plains = tuple(Pass(PLAIN.settings, (PromptRun(tuple(range(10)), 10, s),)) for s in plain)
    passes = []
    for k in range(3):
        passes.append(Pass(FAST.settings, (PromptRun(tuple(range(10)), 4, fast[k]),), plain_before=k, repeat=k))
        passes.append(Pass(DEEP.settings, (PromptRun(tuple(range(10)), 2, slow[k]),), plain_before=k, repeat=k))
    return SweepResult(Grid((4, 8), (2, 6)), BASE, 1, cells=tuple(passes[:2]), plains=plains, total_cells=2,
                       passes=tuple(passes), repeats=3)


def test_a_clear_winner_is_named_and_apply_is_offered():
    won = repeated()
    assert won.winner() is won.cells[0]
    text = best_markdown(won)
    assert text.startswith("**width 4 · depth 2 stood out**")
    assert "2.00× (1.90–2.11 over 3 runs)" in text and "runner-up, width 8 · depth 6" in text
    assert apply_note(won) == ""


def test_overlap_with_plain_or_the_runner_up_names_no_winner():
    noisy_plain = repeated(plain=(2.0, 0.9, 2.0, 2.0))     # plain itself ran 2.2x once
    assert noisy_plain.verdict().reason == "plain" and noisy_plain.winner() is None
    text = best_markdown(noisy_plain)
    assert "**No setting stood out.**" in text and "no faster than plain decoding's fastest" in text
    assert "Apply is offered only" in apply_note(noisy_plain)
    assert "★" not in str(heat(heatmap_figure(noisy_plain, "speedup")).text)
    close = repeated(slow=(1.2, 0.9, 1.1))                # the runner-up reaches 2.2x once
    assert close.verdict().reason == "overlap" and "overlap those of the runner-up" in best_markdown(close)


def test_mat_one_is_never_crowned_however_fast():
    flat = repeated()
    flat = SweepResult(flat.grid, BASE, 1, cells=tuple(_mat_one(c) for c in flat.cells), plains=flat.plains,
                       total_cells=2, passes=tuple(_mat_one(p) for p in flat.passes), repeats=3)
    assert flat.verdict().reason == "mat one" and flat.winner() is None
    assert "its MAT was 1.00" in best_markdown(flat)


def _mat_one(p: Pass) -> Pass:
    run = p.runs[0]
    return Pass(p.settings, (PromptRun(run.output, len(run.output), run.seconds),), p.plain_before, p.repeat)


def test_the_standout_rule():
    from racer.engine.metrics import standout
    plain = [0.97, 1.0, 1.03]
    assert standout([("a", 1.4, [1.2, 1.3, 1.25]), ("b", 1.3, [1.0, 1.1])], plain).winner == "a"
    assert standout([("a", 1.4, [1.2, 1.3, 1.25])], plain).winner == "a"            # no runner-up
    assert standout([("a", 1.4, [1.02, 1.3, 1.25])], plain).reason == "plain"     # touches plain's spread
    assert standout([("a", 1.4, [1.2, 1.3]), ("b", 1.3, [1.0, 1.2])], plain).reason == "overlap"
    assert standout([("a", 1.4, [1.3])], plain).reason == "one run"
    assert standout([("a", 1.001, [1.5, 1.6])], plain).reason == "mat one"
    assert standout([("a", 1.4, [])], plain).reason == "no speedup"
    assert standout([("a", 1.4, [1.2, 1.3]), ("b", 1.3, [1.25, 1.4])], plain).leader == "b"  # by mean


def test_the_standout_rule_checks_every_candidate_not_only_the_runner_up():
    """Issue 23: Compare named RACER (2.22-2.53x) although prompt lookup, third by mean,
    reached 2.26x; the runner-up by mean (below 2.22x) was the only one checked."""
    from racer.engine.metrics import standout
    plain = [0.97, 1.0, 1.03]
    racer, runner, lookup = ("racer", 2.0, [2.22, 2.27, 2.53]), ("b", 1.9, [2.0, 2.1, 2.15]), \
        ("lookup", 1.3, [1.68, 1.75, 2.26])
    v = standout([lookup, racer, runner], plain)
    assert (v.leader, v.runner_up, v.rival) == ("racer", "b", "lookup")
    assert v.reason == "overlap" and v.winner is None
    clear = ("lookup", 1.3, [1.68, 1.75, 2.2])  # its fastest below RACER's slowest: RACER stands out
    assert standout([clear, racer, runner], plain).winner == "racer"
    tie = ("lookup", 1.3, [1.68, 1.75, 2.22])   # equal is not faster
    assert standout([tie, racer, runner], plain).reason == "overlap"
