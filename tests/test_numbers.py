"""Keys and numbers (issue 14): every line or band a chart draws as a shape has a key (and
the Tune heatmaps' star a caption);
MAT has one definition and one name; a quantity reads in one format wherever it is
shown, so a table never mixes "1" and "1.00"."""
from __future__ import annotations

import re

import pytest

from components.figures.charts import compare_figure, speedup_figure
from components.state import StepStat
from components.compare import TABLE_HEADERS, table_rows
from components.numbers import FORMATS, fmt
from racer.measure.compare import DrafterResult

# plain decoding: MAT exactly 1 and speedup exactly 1 (the values Gradio showed as "1")
RESULTS = [DrafterResult("plain", tokens=20, forwards=20, engine_s=2.0, speedup=1.0, accept_lengths=(1,) * 19,
                         text="x"),
           DrafterResult("racer", tokens=20, forwards=13, engine_s=1.6, speedup=1.25, accept_lengths=(2, 1, 3) * 4,
                         text="x"),
           DrafterResult("logits", tokens=20, forwards=16, engine_s=2.5, speedup=None, accept_lengths=(1, 2) * 7 + (1,),
                         text="x")]


def keys(fig) -> list[dict]:
    """Legend-only traces (no points): the keys of marks that have none of their own."""
    return [t for t in fig.data if t.showlegend and list(t.x) == [None]]


def unkeyed_shapes(fig) -> list:
    """Shapes (lines, bands) whose dash and colour no key shows."""
    shown = {(t.line.dash, t.line.color) for t in keys(fig) if t.mode == "lines"}
    return [s for s in fig.layout.shapes if s.type == "line" and (s.line.dash, s.line.color) not in shown]


@pytest.mark.parametrize("name, fig", [
    ("compare", compare_figure(RESULTS)),
    ("speedup", speedup_figure([StepStat(i, 2, 2 * i, i, 0.1 * i, 1.1, "tree width 8 → 4" if i == 3 else "")
                                for i in range(1, 6)], viewing=2)),
])
def test_every_line_a_chart_draws_has_a_key(name, fig):
    assert fig.layout.shapes, f"{name}: the test needs a chart with shapes"
    assert not unkeyed_shapes(fig), f"{name}: {unkeyed_shapes(fig)}"


def test_mat_is_one_column_under_one_name():
    """Compare showed "MAT" (prefill included) and "mean tokens/forward" (prefill left out)
    side by side, two numbers for one idea."""
    assert TABLE_HEADERS.count("MAT") == 1
    assert not [h for h in TABLE_HEADERS if "tokens/forward" in h or "per forward" in h]
    rows = table_rows(RESULTS)
    assert all(len(row) == len(TABLE_HEADERS) for row in rows)
    mat = TABLE_HEADERS.index("MAT")
    assert [row[mat] for row in rows] == ["1.00", "1.54", "1.25"]   # tokens / forwards


def test_a_tables_numbers_read_in_one_format_per_column():
    rows = table_rows(RESULTS)
    for column, quantity in (("MAT", "mat"), ("speedup (mean)", "speedup"), ("engine time (first run)", "seconds"),
                             ("tokens/s (first run)", "rate")):
        cells = [row[TABLE_HEADERS.index(column)] for row in rows]
        assert all(isinstance(c, str) for c in cells), (column, cells)   # never a float Gradio shortens
        shown = [c for c in cells if c != "—"]
        pattern = re.escape(FORMATS[quantity]).replace(r"\{:\.2f\}", r"\d+\.\d\d").replace(
            r"\{:\.1f\}", r"\d+\.\d")
        assert all(re.fullmatch(pattern, c) for c in shown), (column, cells)
    speedup = [row[TABLE_HEADERS.index("speedup (mean)")] for row in rows]
    assert speedup == ["1.00×", "1.25×", "—"]


def test_the_tune_heatmaps_and_the_compare_chart_share_the_formats():
    from components.figures.tune import METRICS
    assert METRICS["mat"][1] == FORMATS["mat"] and METRICS["speedup"][1] == FORMATS["speedup"]
    fig = compare_figure(RESULTS)
    assert list(fig.data[0].text) == ["1.00", "1.54", "1.25"]
    # the speedup labels stand past the whiskers, as annotations of the speedup panel
    assert [a.text for a in fig.layout.annotations if a.xref == "x2"] == ["1.00×", "1.25×", "—"]


def test_an_unknown_quantity_is_a_clear_error():
    with pytest.raises(ValueError, match="no number format for 'mats'"):
        fmt("mats", 1.0)
    assert fmt("mat", float("nan")) == "—"


@pytest.mark.usefixtures("one_thread")
def test_the_tune_heatmaps_star_is_explained_on_the_page():
    """Issue 14, keys: the heatmaps mark a cell with ★; the page says what it means."""
    import gradio as gr

    from tests.test_input_wiring import tiny_page
    demo, _ = tiny_page()
    captions = [c.value for c in demo.blocks.values() if isinstance(c, gr.Markdown) and "★ =" in (c.value or "")]
    assert any("MAT" in c for c in captions) and any("speedup" in c for c in captions), captions
