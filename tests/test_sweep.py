"""The tuning sweep: its cells are the engine's own runs (same tokens, same forwards as
a direct ``Generation`` with the cell's settings), a stopped sweep keeps its finished
cells, the CSV has one row per cell, and the speedup arithmetic on hand-made numbers."""
import csv
import io

import pytest

from racer.engine.generate import Generation
from racer.engine.settings import Settings
from racer.measure.sweep import CSV_FIELDS, MAX_CELLS, Grid, Pass, PromptRun, SweepResult, adaptive_default, plan, sweep
from tests.tiny import target, tiny_model

PROMPTS = [[5, 6, 7, 8, 9] * 4, [11, 12, 13, 14] * 4 + [15]]
# fixed trees: the adaptive budget's sizes follow measured times, so two runs of the
# same settings may draft differently on a loaded machine
BASE = Settings(max_new_tokens=12, window=4, adaptive_budget=False)
GRID = Grid(widths=(4, 2), depths=(1, 3))


@pytest.fixture(scope="module")
def tiny(one_thread):
    """A random 2-layer Llama in float64 (a 1-row and an n-row forward agree exactly)
    with no EOS; one intra-op thread, which is faster for a model this small."""
    return target(tiny_model(max_positions=256, init_std=0.02))


@pytest.fixture(scope="module")
def full(tiny):
    *_, last = sweep(tiny, PROMPTS, BASE, GRID, plain_every=2, repeats=1)
    return last.result


def direct(target, prompt, settings):
    gen = Generation(target, prompt, settings)
    for _ in gen.steps():
        pass
    return gen.output, gen.forwards


def test_cells_equal_direct_runs_with_the_same_settings(tiny, full):
    assert full.complete and len(full.cells) == 4
    assert [(c.settings.width, c.settings.depth) for c in full.cells] == [(2, 1), (2, 3), (4, 1), (4, 3)]
    for cell in full.cells:
        assert cell.settings == BASE.with_changes(width=cell.settings.width, depth=cell.settings.depth)
        tokens = forwards = 0
        for prompt, run in zip(PROMPTS, cell.runs):
            output, fwd = direct(tiny, prompt, cell.settings)
            assert list(run.output) == output and run.forwards == fwd
            tokens, forwards = tokens + len(output), forwards + fwd
        assert cell.mat == pytest.approx(tokens / forwards)
        assert full.same_as_plain(cell) is True  # greedy: every setting writes plain decoding's text
    assert full.best_mat().mat > 1.0  # drafts were accepted somewhere


def test_plain_runs_bracket_every_block_of_cells(full):
    # plan(4, 2): plain, cell, cell, plain, cell, cell, plain
    assert len(full.plains) == 3
    assert [c.plain_before for c in full.cells] == [0, 0, 1, 1]
    assert all(p.settings.drafter == "plain" for p in full.plains)
    assert all(len(full.plain_around(c)) == 2 and full.speedup(c) > 0 for c in full.cells)


def test_stop_mid_sweep_keeps_finished_cells(tiny, full):
    seen = None
    for progress in sweep(tiny, PROMPTS, BASE, GRID, plain_every=4, repeats=1):
        seen = progress
        # plain run, two cells, then the third cell's first prompt: stop there
        if progress.runs_done == 3 * len(PROMPTS) + 1:
            break
    kept = seen.result
    assert len(kept.cells) == 2 and not kept.complete
    for mine, theirs in zip(kept.cells, full.cells):
        assert mine.settings == theirs.settings
        assert [r.output for r in mine.runs] == [r.output for r in theirs.runs]
    # no closing plain run: the cells are compared with the plain run before them only
    assert len(kept.plains) == 1
    assert [row["plain_runs"] for row in kept.rows()] == [1, 1]
    assert all(row["speedup"] > 0 for row in kept.rows())


def test_csv_has_a_header_and_one_row_per_cell(full):
    rows = list(csv.reader(io.StringIO(full.csv())))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 1 + len(full.cells)
    table = list(csv.DictReader(io.StringIO(full.csv())))
    assert [(r["width"], r["depth"]) for r in table] == [("2", "1"), ("2", "3"), ("4", "1"), ("4", "3")]
    assert all(float(r["mat"]) >= 1.0 and r["same_as_plain"] == "True" for r in table)
    empty = SweepResult(GRID, BASE, 2, total_cells=4)
    assert empty.csv().strip() == ",".join(CSV_FIELDS)


def test_speedup_from_hand_made_numbers():
    """Plain took 1.0 s then 3.0 s for 10 tokens (mean 2.0 s: 5 tokens/s); the cell
    between them made 10 tokens in 1.0 s: 10 tokens/s, a 2.0x speedup."""
    plain = Settings(drafter="plain")
    ten = PromptRun(tuple(range(10)), 10, 1.0)
    plains = (Pass(plain, (ten,)), Pass(plain, (PromptRun(ten.output, 10, 3.0),)))
    fast = Pass(Settings(width=4), (PromptRun(ten.output, 4, 1.0),), plain_before=0)
    slow = Pass(Settings(width=8), (PromptRun(ten.output, 3, 4.0),), plain_before=0)
    result = SweepResult(Grid((4, 8), (12,)), Settings(), 1, cells=(fast, slow), plains=plains, total_cells=2)
    assert result.speedup(fast) == pytest.approx(2.0)
    assert result.speedup(slow) == pytest.approx(0.5)
    assert fast.mat == 2.5 and slow.mat == pytest.approx(10 / 3)
    assert result.best() is fast           # speedup decides, not MAT
    assert result.best_mat() is slow
    assert result.same_as_plain(fast) is True


def test_plan_alternates_plain_runs_with_blocks_of_cells():
    assert plan(5, 2) == [None, 0, 1, None, 2, 3, None, 4, None]
    assert plan(2, 4) == [None, 0, 1, None]
    assert plan(3, 1) == [None, 0, None, 1, None, 2, None]


def test_grid_is_sorted_deduplicated_and_bounded():
    grid = Grid((8, 4, 8), (2,), budgets=(32, 16))
    assert grid.widths == (4, 8) and grid.size == 4
    cells = grid.cells(Settings(window=6))
    assert [(c.budget, c.width) for c in cells] == [(16, 4), (16, 8), (32, 4), (32, 8)]
    assert all(c.window == 6 for c in cells)
    assert grid.label(cells[0]) == "width 4 · depth 2 · budget 16"
    with pytest.raises(ValueError, match=f"at most {MAX_CELLS}"):
        Grid(tuple(range(1, 8)), tuple(range(1, 7)))
    with pytest.raises(ValueError, match="at least one"):
        Grid((), (4,))


def test_bad_inputs_are_refused_before_anything_runs(tiny):
    with pytest.raises(ValueError, match="between 1 and 64"):
        next(sweep(tiny, PROMPTS, BASE, Grid((0, 4), (2,))))
    with pytest.raises(ValueError, match="At most 6 prompts"):
        next(sweep(tiny, PROMPTS * 4, BASE, GRID))
    with pytest.raises(ValueError, match="No prompts"):
        next(sweep(tiny, [], BASE, GRID))


# -- signal and noise -------------------------------------------------------------------

def test_repeated_runs_alternate_with_plain_decoding_and_give_an_interval(tiny):
    *_, last = sweep(tiny, PROMPTS[:1], BASE, Grid((2, 4), (1,)), plain_every=4, repeats=2)
    result = last.result
    # plan(2, 4, repeats=2): plain, cell 0, cell 1, plain, cell 0, cell 1, plain
    assert result.complete and len(result.cells) == 2 and len(result.passes) == 4 and len(result.plains) == 3
    assert [p.repeat for p in result.passes] == [0, 0, 1, 1]
    assert [p.plain_before for p in result.passes] == [0, 0, 1, 1]
    for cell in result.cells:
        runs = result.runs_of(cell)
        assert len(runs) == 2 and all(r.runs[0].output == cell.runs[0].output for r in runs)  # greedy, fixed tree
        speeds = result.speedups(cell)
        low, high = result.interval(cell)
        assert len(speeds) == 2 and low == min(speeds) <= result.speedup(cell) <= high == max(speeds)
    assert len(result.plain_speedups()) == 3
    rows = result.rows()
    assert all(r["runs"] == 2 and r["speedup_low"] <= r["speedup"] <= r["speedup_high"] for r in rows)


def test_a_sweep_whose_settings_all_have_mat_one_names_no_winner(tiny):
    """One new token per prompt: the prefill forward makes it, nothing is drafted, MAT is
    1.00 everywhere and any speedup is noise."""
    *_, last = sweep(tiny, PROMPTS, BASE.with_changes(max_new_tokens=1), GRID, repeats=2)
    result = last.result
    assert all(c.mat == 1.0 for c in result.cells)
    verdict = result.verdict()
    assert verdict.reason == "mat one" and verdict.winner is None and result.winner() is None
    assert verdict.leader is result.best()


def test_the_adaptive_budget_is_off_by_default_when_the_grid_varies_tree_size(tiny):
    on = BASE.with_changes(adaptive_budget=True)
    assert adaptive_default(Grid((2, 4), (1,)), on) is False
    assert adaptive_default(Grid((4,), (1, 3)), on) is False
    assert adaptive_default(Grid((4,), (2,), budgets=(8, 16)), on) is False
    assert adaptive_default(Grid((4,), (2,), windows=(4, 8)), on) is True    # tree size fixed: Explore's choice
    assert adaptive_default(Grid((4,), (2,), windows=(4, 8)), BASE) is False
    first = next(sweep(tiny, PROMPTS, on, GRID, warm_up=False))
    assert first.result.adaptive_budget is False
    assert next(sweep(tiny, PROMPTS, on, GRID, warm_up=False, adaptive=True)).result.adaptive_budget is True


def test_too_many_repeats_are_refused(tiny):
    with pytest.raises(ValueError, match="1 to 5 times"):
        next(sweep(tiny, PROMPTS, BASE, GRID, repeats=6))


def test_the_sweep_runs_under_the_drafter_chosen_in_the_menu(tiny):
    first = next(sweep(tiny, PROMPTS, BASE.with_changes(drafter="retrieval"), GRID, warm_up=False))
    assert first.result.base.drafter == "retrieval"
    assert next(sweep(tiny, PROMPTS, BASE.with_changes(drafter="plain"), GRID, warm_up=False)).result.base.drafter \
        == "racer"
    with pytest.raises(ValueError, match="At most 2 prompts"):
        next(sweep(tiny, PROMPTS * 2, BASE, GRID, max_prompts=2))
