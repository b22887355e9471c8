"""The benchmark's verdicts and tables: the greedy check against the reference method and
the anchors' outputs, totals and speedups per task and method, the verify cost by tree
size, their printing and a run's row in the JSON file. Pure functions of the runs
``racer.bench.cli`` measured (``Run``: method, question, task, output, forwards, seconds, per-step costs).
"""
from __future__ import annotations

import os
import platform
import statistics
from typing import Sequence

import torch
import transformers

from racer.engine import metrics as measure
from racer.bench.data import TASKS
from racer.bench.runs import Method, Run
from racer.drafting.registry import PLAIN


COST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # tree-size bucket upper bounds
ANCHOR_TOKENS = 128  # the anchors' greedy outputs stop at 128 new tokens


# --- the JSON file ---------------------------------------------------------------

def run_dict(r: Run) -> dict:
    """One run for the JSON file: its tokens and, per verify step, [tree size, draft ms,
    verify ms, update ms]."""
    return dict(method=r.method, question_id=r.question_id, task=r.task, tokens=len(r.output),
                forwards=r.forwards, seconds=r.seconds, overshoot=r.overshoot, rechecks=r.rechecks, same=r.same,
                same_anchor=r.same_anchor,
                output_ids=r.output,
                steps=[[s.tree_size, *(round(1000 * t, 3) for t in (s.draft_s, s.verify_s, s.update_s))]
                       for s in r.steps])


# --- checking ---------------------------------------------------------------------

def check_equal(runs: list[Run], reference: str, anchors: dict[int, list[int]] | None = None,
                max_new_tokens: int = ANCHOR_TOKENS) -> list[str]:
    """Marks every run ``same`` (tokens equal the reference method's on that prompt)
    and ``same_anchor``; returns one line per mismatch, e.g.
    "racer on q81: first difference at token 37"."""
    ref = {r.question_id: r.output for r in runs if r.method == reference}
    lines = []
    for r in runs:
        if r.question_id in ref:
            r.same = r.output == ref[r.question_id]
            if not r.same:
                lines.append(f"{r.method} on q{r.question_id}: differs from {reference} "
                             f"{_where(r.output, ref[r.question_id])}")
        if anchors and r.question_id in anchors:
            n = min(max_new_tokens, ANCHOR_TOKENS)
            expected = anchors[r.question_id][:n]
            r.same_anchor = r.output[:n] == expected
            if not r.same_anchor:
                lines.append(f"{r.method} on q{r.question_id}: differs from the anchors' greedy "
                             f"output {_where(r.output[:n], expected)}")
    return lines


def _where(a: list[int], b: list[int]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first at token {i}"
    return f"in length ({len(a)} vs {len(b)} tokens)"


# --- summarising ------------------------------------------------------------------

def summarise(runs: list[Run], methods: Sequence[Method]) -> dict[str, dict[str, dict]]:
    """{task or "overall": {method: totals and ratios}}. A speedup ``vs_<base>`` is the
    base's summed seconds over the method's, on the same prompts; ``vs_<base>_median``
    is the median of the per-prompt ratios, which one disturbed run cannot sway."""
    groups = {t: [r for r in runs if r.task == t] for t in TASKS}
    groups = {t: rs for t, rs in groups.items() if rs}
    groups["overall"] = runs
    labels = [m.label for m in methods]
    tables = {}
    for group, rs in groups.items():
        seconds = {m: sum(r.seconds for r in rs if r.method == m) for m in labels}
        per_prompt = {(r.method, r.question_id): r.seconds for r in rs}
        rows = {}
        for m in labels:
            mine = [r for r in rs if r.method == m]
            tokens, forwards = sum(len(r.output) for r in mine), sum(r.forwards for r in mine)
            row = dict(prompts=len(mine), tokens=tokens, forwards=forwards, seconds=seconds[m],
                       mat=measure.mat(tokens, forwards),
                       mat_as_authors=measure.mat_as_authors(tokens, sum(r.overshoot for r in mine),
                                                             forwards, len(mine)),
                       tokens_per_s=tokens / seconds[m] if seconds[m] else 0.0,
                       ms_per_forward=1000 * seconds[m] / forwards if forwards else 0.0,
                       rechecks=sum(r.rechecks for r in mine),
                       same=_count(mine, "same"), same_anchor=_count(mine, "same_anchor"))
            for base in (PLAIN, "hf_greedy", "hf_pld"):
                if base in seconds and seconds[m]:
                    row[f"vs_{base}"] = measure.speedup(seconds[base], seconds[m])
                    ratios = [measure.speedup(per_prompt[base, r.question_id], r.seconds) for r in mine]
                    row[f"vs_{base}_median"] = statistics.median(ratios)
                    row[f"vs_{base}_worst"] = min(ratios)
            rows[m] = row
        tables[group] = rows
    return tables


def _count(runs: list[Run], attr: str) -> list[int] | None:
    """[agreeing, checked], or None when nothing was checked."""
    checked = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return [sum(checked), len(checked)] if checked else None


def verify_costs(runs: list[Run]) -> list[dict]:
    """Per tree-size bucket: how many verify steps and their median ms for drafting,
    the verify forward and the update (acceptance, KV commit, drafter state). Explains
    speedups on a CPU, where verifying n tokens costs far more than verifying 1."""
    rows, low = [], 1
    for high in COST_BUCKETS:
        steps = [s for r in runs for s in r.steps if low <= s.tree_size <= high]
        if steps:
            ms = {part: 1000 * statistics.median(getattr(s, f"{part}_s") for s in steps)
                  for part in ("draft", "verify", "update")}
            rows.append(dict(tree_size=f"{low}-{high}" if low < high else str(high), steps=len(steps),
                             draft_ms=ms["draft"], verify_ms=ms["verify"], update_ms=ms["update"]))
        low = high + 1
    return rows


# --- printing ---------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: list[Sequence]) -> str:
    cells = [list(map(str, headers))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, list):  # [agreeing, checked]
        return f"{v[0]}/{v[1]}"
    return str(v)


def report(tables: dict, costs: list[dict], mismatches: list[str], reference: str) -> str:
    out = []
    for group, rows in tables.items():
        any_row = next(iter(rows.values()))
        headers = ["method", "tokens", "fwd", "MAT", "tok/s", "ms/fwd", "vs plain", "(median)", "(worst)",
                   "vs hf", "vs hf-pld", "re-checks", f"= {reference}"]
        keys = ["tokens", "forwards", "mat", "tokens_per_s", "ms_per_forward", "vs_plain",
                "vs_plain_median", "vs_plain_worst", "vs_hf_greedy", "vs_hf_pld", "rechecks", "same"]
        if any(r["same_anchor"] for r in rows.values()):
            headers.append("= anchors")
            keys.append("same_anchor")
        body = [[m] + [r.get(k) for k in keys] for m, r in rows.items()]
        out.append(f"\n{group} ({any_row['prompts']} prompts)\n" + format_table(headers, body))
    groups = [g for g in tables if g != "overall"] + ["overall"]
    labels = list(tables["overall"])
    out.append("\nMAT by category (MAT as the authors count it: tokens beyond the limit counted, "
               "prefill not)\n" + format_table(
                   ["method"] + groups + ["as authors"],
                   [[m] + [tables[g][m]["mat"] for g in groups] + [tables["overall"][m]["mat_as_authors"]]
                    for m in labels]))
    if costs:
        body = [[c["tree_size"], c["steps"], c["draft_ms"], c["verify_ms"], c["update_ms"]] for c in costs]
        out.append("\nverify cost by tree size (all engine steps of this run, median)\n"
                   + format_table(["tree nodes", "steps", "draft ms", "verify ms", "update ms"], body))
    if mismatches:
        out.append(f"\nGREEDY MISMATCHES ({len(mismatches)}):\n" + "\n".join("  " + m for m in mismatches))
    else:
        out.append(f"\nGreedy check: every method produced the same tokens as {reference} on every prompt.")
    return "\n".join(out)


def cost_table(rows: dict[str, dict], sizes: Sequence[int]) -> str:
    """The verify-cost table: per path, ms by tree size, ratios to one node, and how
    many positions' argmax a chain verify shares with one-token steps."""
    body = [[path] + [r["ms"][k] for k in sizes] + [r["ms"][16] / r["ms"][1], r["ms"][64] / r["ms"][1],
                                                    f"{r['agree']}/{r['total']}", f"{r['bitwise']}/{r['total']}",
                                                    f"{r['max_logit_diff']:.1e}"]
            for path, r in rows.items()]
    headers = ["path"] + [f"{k} ms" for k in sizes] + ["t16/t1", "t64/t1", "argmax =", "bitwise =", "max diff"]
    return ("verify forward by tree size (a chain on 300 cached tokens, median) and the chain check "
            "(a chain verified in one forward against one-token steps)\n" + format_table(headers, body))


def machine() -> dict:
    model_name = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model_name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict(cpu=model_name, cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                torch=torch.__version__, transformers=transformers.__version__,
                python=platform.python_version(), load_average=os.getloadavg())
