"""The Tune tab's pure builders: heatmaps, the best setting in words, progress and table,
on hand-made sweep results (no model)."""
import pytest

from components.tune_view import (TABLE_HEADERS, best_markdown, heatmap_figure, progress_text, status_html,
                                  table_rows)
from racer.settings import Settings
from racer.sweep import Grid, Pass, Progress, PromptRun, SweepResult

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


def test_speedup_heatmap_stars_the_fastest_and_centres_white_on_one():
    fig = heatmap_figure(result([FAST, DEEP]), "speedup")
    h = heat(fig)
    assert grid_of(h.z) == [[2.0, None], [None, 0.8]]
    assert h.text[0][0] == "★ 2.00×"
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
    assert "So far (2 of 4 settings), the **best measured speedup: width 4 · depth 2**" in text
    assert "2.00×" in text
    assert "Stopped after 2 of 4 settings" in best_markdown(result([FAST, DEEP]), stopped=True)
    assert "highest MAT, 5.00 at width 8 · depth 6, was slower (0.80×)" in text
    assert "✓ Every setting produced exactly plain decoding's text" in text
    slow = best_markdown(result([DEEP], total=2))
    assert slow.startswith("So far (1 of 2 settings), the **fastest setting did not beat plain decoding**")
    assert best_markdown(None) == "" and best_markdown(result([])) == ""


def test_a_one_setting_sweep_says_it_compares_nothing():
    one = result([FAST], grid=Grid((4,), (2,)), total=1)
    text = best_markdown(one)
    assert text.startswith("**One setting only, so this sweep compares nothing**")
    assert "2.00× plain decoding" in text and "best" not in text.lower()
    assert "★" not in str(heatmap_figure(one, "speedup").data[0].text)  # no star on a field of one


def test_near_ties_are_called_noise_and_wrong_text_is_flagged():
    twin = cell(8, 2, 4, 1.04)                    # 1.92x: within 5% of 2.0x
    odd = cell(4, 6, 4, 1.5, output=(9,) * 10)    # a different text under greedy
    text = best_markdown(result([FAST, twin, odd]))
    assert "Within 5%" in text and "width 8 · depth 2 (1.92×)" in text
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


def test_table_lists_the_fastest_first():
    rows = table_rows(result([DEEP, FAST]))
    assert len(rows[0]) == len(TABLE_HEADERS)
    assert rows[0][:4] == [4, 2, 10, 16] and rows[0][7] == "2.00×" and rows[0][8] == "yes"
    assert rows[1][4] == "5.00"
    assert table_rows(None) == []
