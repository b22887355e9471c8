"""RACER Explorer: RACER speculative decoding on a real model, one forward pass at a time.

Layout in one ``with gr.Blocks()`` block, event wiring at the end. Figures and HTML
come from ``components/`` (pure builders); each browser session's run lives in a
``Session`` held in ``gr.State``; the model is loaded once here and shared read-only.

Environment: ``RACER_MODEL`` picks the model (default: the packaged SmolLM2-135M-Instruct).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr

from components.charts import compare_figure, mask_figure, speedup_figure
from components.session import HISTORY_CAP, Session, run_drafters
from components.tokens import DRAFTER_LABELS
from components.text_view import automaton_html, generated_html, narration, outcome_html
from components.tree_view import tree_figure
from racer import trace as traces
from racer.generate import Generation
from racer.loading import DEFAULT_MODEL, ModelLoadError, load_model, prompt_ids
from racer.model import TargetModel
from racer.settings import DRAFTERS, Settings

log = logging.getLogger("racer_explorer")
if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request otherwise

ASSETS = Path(__file__).parent / "assets"
MODEL_NAME = os.environ.get("RACER_MODEL", "").strip() or DEFAULT_MODEL
# One model-using event at a time: two generations on the same CPU would slow each
# other down, and every speedup on screen is a wall-clock measurement.
MODEL_EVENT = dict(concurrency_id="model", concurrency_limit=1)
QUICK_EVENT = dict(concurrency_limit=None)  # flags and re-renders; never wait for the model
PRIVATE = dict(api_visibility="private")    # UI-only steps (enabling buttons) stay out of the API
DEFAULTS = Settings()
DRAFTER_CHOICES = [("RACER (retrieval + logits)", "racer"), ("retrieval only", "retrieval"),
                   ("logits only", "logits"), ("prompt lookup", "prompt_lookup"),
                   ("plain decoding", "plain")]
SPEEDUP_METHOD = (
    "**How speedup is measured.** Plain decoding of the same prompt (same model, temperature, "
    "top-p and seed) runs on this same machine, and speedup = plain decoding's seconds for the "
    "first *T* tokens ÷ this run's seconds for the same *T* tokens. Both sides are timed by the "
    "engine around its own work (drafting, the forward pass, bookkeeping); page rendering and "
    "network time never count. With *measure speedup* on, the plain run is advanced alongside "
    "yours (a run takes about twice as long); a prompt's plain timeline is reused for 10 minutes "
    "(the status line says which). "
    "MAT (tokens per forward) alone is not a speedup: a bigger tree costs more per forward.")


# -- the shared model -------------------------------------------------------------------

def _load_target() -> tuple[TargetModel | None, str]:
    start = time.perf_counter()
    log.info("Loading %s ...", MODEL_NAME)
    try:
        model, tokenizer = load_model(MODEL_NAME)  # it logs its own progress
    except ModelLoadError as e:
        log.error("Model not loaded: %s", e)
        return None, str(e)
    target = TargetModel(model, tokenizer, name=MODEL_NAME)
    _warm_up(target, tokenizer)
    took = time.perf_counter() - start
    log.info("Model ready in %.1f s.", took)
    return target, f"{MODEL_NAME} on {target.device} · loaded in {took:.1f} s"


def _warm_up(target: TargetModel, tokenizer) -> None:
    """A few untimed forwards (prefill, a plain step, a tree step), so that the first
    run a visitor times does not pay for lazy initialisation and its speedup is fair;
    and the one-off verify-cost calibration the adaptive budget reads."""
    ids = prompt_ids(tokenizer, "Count: one, two, three, four, five, one, two, three, four, five.")
    for drafter in ("plain", "racer"):
        generation = Generation(target, ids, Settings(max_new_tokens=4, drafter=drafter))
        for _ in range(3):
            if not generation.finished:
                generation.step()
    target.verify_costs()


TARGET, MODEL_NOTE = _load_target()


@functools.lru_cache(maxsize=1 << 16)
def token_text(token: int) -> str:
    """The text of one token alone (labels, chips, coloured spans)."""
    return TARGET.token_texts([int(token)])[0] if TARGET is not None else f"<{token}>"


def _examples() -> list[dict]:
    with open(ASSETS / "examples.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


EXAMPLES = _examples()


# -- helpers for the handlers ---------------------------------------------------------

def _settings(width, depth, window, budget, capacity, temperature, top_p, max_new_tokens,
              drafter, adaptive, seed) -> Settings:
    """Settings from the controls; ValueError with a readable sentence if out of range."""
    def whole(value, name):
        if value is None or value == "":
            raise ValueError(f"{name} is empty; give a number")
        return int(round(float(value)))
    return Settings(
        width=whole(width, "tree width"), depth=whole(depth, "tree depth"),
        window=whole(window, "retrieval window"), budget=whole(budget, "draft budget"),
        capacity=whole(capacity, "automaton capacity"),
        temperature=float(temperature if temperature is not None else 0.0),
        top_p=float(top_p if top_p is not None else 1.0),
        max_new_tokens=whole(max_new_tokens, "max new tokens"), drafter=drafter or "racer",
        adaptive_budget=bool(adaptive), seed=whole(seed if seed is not None else 0, "seed"))


def _status(text: str, kind: str = "") -> str:
    icon = {"error": "⚠ ", "done": "✓ ", "stop": "■ ", "run": "▶ "}.get(kind, "")
    return f"{icon}{text}" if text else ""


def _render(session: Session, index: int | None = None, status: str = "") -> tuple:
    """Every view of one step (the latest unless ``index``): tree, outcome, text, speedup
    chart, mask, automaton, narration, history slider, status line."""
    record = session.last if index is None else (session.record_at(index) or session.last)
    latest = record is None or record is session.last
    stat = session.stat_at(record.index) if record is not None else None
    first = session.records[0].index if session.records else 0
    last = session.last.index if session.last is not None else 0
    scrubber = gr.Slider(minimum=first, maximum=max(last, first + 1), step=1,
                         value=record.index if record is not None else 0,
                         interactive=record is not None,
                         label=f"History: step {record.index if record else 0} of {last}"
                               + ("" if latest else " (viewing a past step)"))
    text = generated_html(session.marks, upto_step=None if latest else record.index,
                          highlight_step=record.index if record is not None else None,
                          finish=session.finish_text() if latest else "")
    return (
        tree_figure(record, token_text),
        outcome_html(record, token_text, stat.speedup if stat else None, stat.changed if stat else ""),
        text,
        speedup_figure(session.stats, viewing=record.index if record is not None else None),
        mask_figure(record, token_text),
        automaton_html(record, token_text),
        narration(record, token_text, len(session.prompt_ids)),
        scrubber,
        status,
    )


def _prepare(session: Session, prompt: str, controls) -> str:
    """Apply the controls; start a generation when there is none, the prompt changed or
    the last one finished. Returns a note for the status line. Raises ValueError."""
    if TARGET is None:
        raise ValueError(f"No model is loaded: {MODEL_NOTE}")
    *values, measure = controls
    note = session.apply(_settings(*values))
    session.measure = bool(measure)
    if session.started and not session.finished and prompt == session.prompt:
        return note
    why = ("Started a new generation." if not session.started else
           "New prompt: started over." if prompt != session.prompt else
           "The last run had finished: started again with the current settings.")
    session.start(TARGET, prompt, prompt_ids(TARGET.tokenizer, prompt))
    return why


def _summary(session: Session) -> str:
    stat = session.stats[-1] if session.stats else None
    if stat is None:
        return ""
    speed = (f"measured speedup **{stat.speedup:.2f}×** ({session.baseline.provenance(stat.total_tokens)})"
             if stat.speedup is not None else
             "speedup not measured (turn on *measure speedup*)" if session.baseline is None
             else "speedup: plain decoding stopped earlier, nothing to compare")
    return (f"Step {stat.index} · {stat.total_tokens} tokens in {stat.forwards} forwards · "
            f"MAT **{stat.mat:.2f}** · {speed} · engine time {stat.engine_s:.1f} s")


def _fail(session: Session, error: Exception) -> tuple:
    """An error as a toast and a status line, never a traceback; the session stays usable."""
    if isinstance(error, (ValueError, ModelLoadError)):
        message = str(error)
    else:
        log.error("engine error: %s", "".join(traceback.format_exception(error)))
        message = f"Something went wrong in the engine ({type(error).__name__}: {error}). Press Reset to start again."
    gr.Warning(message)
    return (session, *_render(session, status=_status(message, "error")))


# -- event handlers ---------------------------------------------------------------------

def on_step(session: Session, prompt: str, *controls):
    try:
        note = _prepare(session, prompt, controls)
        session.step(token_text)
    except Exception as e:  # noqa: BLE001 - shown to the user, logged with traceback
        return _fail(session, e)
    done = session.finish_text()
    text = " · ".join(t for t in (note, _summary(session), done) if t)
    return (session, *_render(session, status=_status(text, "done" if done else "")))


def on_run(session: Session, prompt: str, *controls):
    """Steps until the end, Stop or Reset; one yield per target forward."""
    session.stop_requested = False
    try:
        note = _prepare(session, prompt, controls)
        epoch = session.epoch
        yield (session, *_render(session, status=_status(f"{note} Running…".strip(), "run")))
        while not session.finished and not session.stop_requested and session.epoch == epoch:
            session.step(token_text)
            yield (session, *_render(session, status=_status(f"Running… {_summary(session)}", "run")))
    except Exception as e:  # noqa: BLE001
        yield _fail(session, e)
        return
    if session.finished:
        status = _status(f"{_summary(session)} · {session.finish_text()}", "done")
    elif session.epoch != epoch:
        status = _status("Reset.", "stop")
    else:
        status = _status(f"Stopped. {_summary(session)} · press Run or Step to continue.", "stop")
    yield (session, *_render(session, status=status))


def _busy():
    return gr.Button(interactive=False), gr.Button(interactive=False)


def _idle():
    return gr.Button(interactive=True), gr.Button(interactive=True)


def on_stop(session: Session) -> str:
    session.stop_requested = True
    return _status("Stopping after the current forward pass…", "stop")


def on_reset(session: Session):
    session.reset()
    return (session, *_render(session, status=_status("Reset: press Step or Run to start.", "stop")))


def on_settings(session: Session, *controls) -> str:
    *values, measure = controls
    try:
        note = session.apply(_settings(*values))
    except ValueError as e:
        gr.Warning(str(e))
        return _status(str(e), "error")
    if bool(measure) != session.measure:
        session.measure = bool(measure)
        note = (note + " " if note else "") + "Measuring speedup applies from the next new run."
    return _status(note)


def on_view(session: Session, index):
    index = int(index) if index is not None else None
    status = "" if index is None or session.last is None or index == session.last.index else \
        _status(f"Viewing step {index}; the run continues from step {session.last.index}.")
    return _render(session, index, status)


def on_export(session: Session):
    if not session.records:
        gr.Warning("Nothing to export yet: run a few steps first.")
        return gr.skip()
    output = session.output_ids()
    trace = traces.trace_dict(
        list(session.records), prompt=session.prompt, prompt_ids=session.prompt_ids,
        output_ids=output, final_text=TARGET.decode(output), model=MODEL_NAME,
        token_text=token_text,
        extra={"history_cap": HISTORY_CAP, "finished": session.finished,
               "speedup": session.stats[-1].speedup if session.stats else None,
               "speedup_method": "plain decoding of the same prompt on the same machine, engine step timings"})
    folder = Path(tempfile.gettempdir()) / "racer-explorer"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"racer-trace-{int(time.time() * 1000)}.json"
    path.write_text(traces.dumps(trace), encoding="utf-8")
    return gr.File(value=str(path), visible=True)


def on_compare(session: Session, prompt: str, tokens, chosen, *controls):
    """Runs the prompt to the end with each chosen drafter; streams progress."""
    session.stop_requested = False
    empty = compare_figure([])
    try:
        if TARGET is None:
            raise ValueError(f"No model is loaded: {MODEL_NOTE}")
        *values, _ = controls
        settings = _settings(*values).with_changes(max_new_tokens=int(tokens))
        chosen = [d for d in DRAFTERS if d in (chosen or [])]
        if not chosen:
            raise ValueError("Tick at least one drafter to compare.")
        ids = prompt_ids(TARGET.tokenizer, prompt)
        results, shown = [], 0
        yield _status("Starting…", "run"), [], empty, ""
        for name, done_tokens, results in run_drafters(TARGET, ids, settings, chosen,
                                                       should_stop=lambda: session.stop_requested):
            if not name:
                break
            position = (["plain"] + [d for d in chosen if d != "plain"]).index(name) + 1
            total = len(chosen) + (0 if "plain" in chosen else 1)
            line = _status(f"Running {DRAFTER_LABELS[name]} ({position} of {total}): "
                           f"{done_tokens} of {settings.max_new_tokens} tokens…", "run")
            if len(results) != shown:
                shown = len(results)
                yield line, _table(results), compare_figure(results), ""
            else:
                yield line, gr.skip(), gr.skip(), gr.skip()
    except Exception as e:  # noqa: BLE001
        message = str(e) if isinstance(e, ValueError) else f"The comparison failed ({type(e).__name__}: {e})."
        if not isinstance(e, ValueError):
            log.error("compare error: %s", "".join(traceback.format_exception(e)))
        gr.Warning(message)
        yield _status(message, "error"), gr.skip(), gr.skip(), gr.skip()
        return
    session.compare = results
    if session.stop_requested:
        yield _status("Stopped; finished drafters are shown.", "stop"), _table(results), compare_figure(results), ""
        return
    yield (_status(f"Done: {len(results)} drafters, {settings.max_new_tokens} new tokens at most.", "done"),
           _table(results), compare_figure(results), _lossless_note(results, settings))


def _table(results) -> list[list]:
    return [[DRAFTER_LABELS[r.drafter], r.tokens, r.forwards, round(r.mat, 2), round(r.engine_s, 2),
             round(r.tokens / r.engine_s, 1) if r.engine_s else None,
             None if r.speedup is None else round(r.speedup, 2),
             round(sum(r.accept_lengths) / len(r.accept_lengths), 2) if r.accept_lengths else None]
            for r in results]


def _lossless_note(results, settings: Settings) -> str:
    if len(results) < 2:
        return ""
    same = len({r.text for r in results}) == 1
    if settings.greedy:
        return ("✓ **Lossless:** with greedy decoding every drafter produced exactly the same text; "
                "they differ only in how many forwards it took." if same else
                "⚠ **The outputs differ** under greedy decoding. That should not happen; please "
                "export a trace and report it.")
    return ("Sampling (temperature > 0): each drafter's output is a sample from the model's own "
            "distribution with the same seed, so texts may differ; speedups compare the first "
            "tokens both runs produced.")


# -- layout ------------------------------------------------------------------------------

HEADER = f"""
<div id="header">
<h1>RACER Explorer</h1>
<p>Speculative decoding without a draft model, one forward pass at a time. Each step RACER
drafts a <b>tree</b> of guesses from two free sources — <span style="color:#0072B2"><b>retrieval</b></span>
(what followed the same words earlier in the text) and the <span style="color:#E69F00"><b>logits cache</b></span>
(what the model itself predicted after these tokens before) — and the model checks the whole tree in
<b>one</b> forward pass. Every token it agrees with is free; the output is exactly what the model alone
would write.</p>
<p class="{'model-line' if TARGET is not None else 'model-error'}">Model: {MODEL_NOTE if TARGET is not None else 'not loaded — ' + MODEL_NOTE}</p>
</div>
"""

HOW_IT_WORKS = """
### One step of RACER

1. **Root.** The model's next token is already decided from the last forward pass; it is the root of the tree.
2. **Retrieval.** An Aho-Corasick automaton indexes every *window*-token stretch of the text so far. If the
   end of the text followed by the root appeared before, what came next there is a good guess — lists,
   code, quotes and templates repeat themselves.
3. **Logits cache.** For every token the model has processed, the cache keeps its top-*width* guesses for the
   token after it. Chaining these guesses from the root grows a second, bushier part of the tree.
4. **Merge.** Both sets of guesses go into one tree (a trie); a token both proposed is marked *both*. The
   *draft budget* caps its size, the *tree depth* its length.
5. **Verify.** One forward pass runs all tree nodes at once. The tree attention mask lets each node see the
   whole context and only its own ancestors, so every branch is scored as if it were the only one.
6. **Accept.** Walking down from the root, the model's own choice at each node decides: if a child carries
   it, descend; otherwise emit the model's token and stop. Greedy output is therefore identical to plain
   decoding — only faster when guesses are right. With a temperature above 0 the model *samples* its
   choice at each visited node from its own distribution, so the output is still distributed exactly as
   the model's own sampling would be (the authors' code samples each path on its own, which is not).

### Reading the page

* **Draft tree** — the top row is what the step emitted: root, accepted drafts (bold path), and the model's
  own token (★). Faded nodes were never used; ✕ marks where the model disagreed. Hover for ids and probabilities.
* **Generated text** — every token coloured by how it was produced. Hover a token for its step.
* **Speedup** — MAT counts tokens per forward; the measured speedup also pays for bigger trees. On a small
  CPU a forward over 64 nodes costs much more than over 1, so smaller trees often win; on a GPU they are
  almost free. Tune the budget and watch the speedup line.
* **History** — drag the step slider to revisit any step; the text is shown as it was then.
"""

with gr.Blocks(title="RACER Explorer") as demo:
    session = gr.State(Session())
    gr.HTML(HEADER)
    with gr.Tabs():
        with gr.Tab("Explore", id="explore"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=4, min_width=320, elem_id="controls"):
                    prompt = gr.Textbox(label="Prompt", lines=6, max_lines=16, value=EXAMPLES[0]["prompt"],
                                        placeholder="Ask something, or paste a text to summarise or edit…")
                    with gr.Row():
                        step_btn = gr.Button("Step", variant="primary", elem_id="step-btn")
                        run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
                        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                        reset_btn = gr.Button("Reset", variant="secondary", elem_id="reset-btn")
                    width = gr.Slider(1, 32, value=DEFAULTS.width, step=1, label="Tree width",
                                      info="top-k guesses kept per token in the logits cache; root breadth")
                    depth = gr.Slider(0, 64, value=DEFAULTS.depth, step=1, label="Tree depth",
                                      info="longest draft path (0 = plain decoding)")
                    window = gr.Slider(2, 32, value=DEFAULTS.window, step=1, label="Retrieval window",
                                       info="n-gram length indexed by the automaton")
                    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                        budget = gr.Slider(1, 256, value=DEFAULTS.budget, step=1, label="Draft budget",
                                           info="most nodes per tree (verified in one forward)")
                        capacity = gr.Slider(64, 200_000, value=DEFAULTS.capacity, step=1,
                                             label="Automaton capacity", info="most automaton nodes (LRU beyond)")
                        temperature = gr.Slider(0, 2, value=DEFAULTS.temperature, step=0.05,
                                                label="Temperature", info="0 = greedy")
                        top_p = gr.Slider(0.05, 1, value=DEFAULTS.top_p, step=0.05, label="Top-p")
                        max_new_tokens = gr.Slider(1, 1024, value=DEFAULTS.max_new_tokens, step=1,
                                                   label="Max new tokens", elem_id="max-new-tokens")
                        drafter = gr.Dropdown(DRAFTER_CHOICES, value=DEFAULTS.drafter, label="Drafter",
                                              info="changes apply at Reset")
                        adaptive = gr.Checkbox(value=DEFAULTS.adaptive_budget, label="Adaptive budget",
                                               info="pick each step's tree size from measured cost and acceptance")
                        seed = gr.Number(value=DEFAULTS.seed, precision=0, label="Seed (sampling)")
                        measure = gr.Checkbox(value=True, label="Measure speedup",
                                              info="runs plain decoding of the same prompt alongside")
                    gr.Examples([[e["prompt"]] for e in EXAMPLES], inputs=[prompt], cache_examples=False,
                                example_labels=[f"{e['category']}: {e['prompt'][:60]}…" for e in EXAMPLES],
                                examples_per_page=8,
                                label="Example prompts: retrieval show-offs, then one per Spec-Bench category")
                with gr.Column(scale=8):
                    status = gr.Markdown(elem_id="status")
                    outcome = gr.HTML(outcome_html(None, token_text))
                    gr.Markdown("#### Draft tree · top row = what this step emitted; hover a node for details",
                                elem_classes="section")
                    tree_plot = gr.Plot(tree_figure(None, token_text), show_label=False, elem_id="tree-plot")
                    scrubber = gr.Slider(0, 1, value=0, step=1, label="History: step 0 of 0",
                                         interactive=False, elem_id="scrubber")
                    narration_box = gr.HTML(narration(None, token_text), elem_id="narration")
                    gr.Markdown("#### Generated text · coloured by how each token was produced",
                                elem_classes="section")
                    text_box = gr.HTML(generated_html([]), elem_id="generated")
                    gr.Markdown("#### Running speedup", elem_classes="section")
                    speed_plot = gr.Plot(speedup_figure([]), show_label=False, elem_id="speed-plot")
                    gr.Markdown(SPEEDUP_METHOD, elem_id="method")
                    with gr.Accordion("Inside the step: automaton match and tree attention mask", open=True):
                        gr.Markdown("#### What retrieval matched", elem_classes="section")
                        automaton_box = gr.HTML(automaton_html(None, token_text))
                        gr.Markdown("#### Tree attention mask · row = node, column = what it may attend to",
                                    elem_classes="section")
                        mask_plot = gr.Plot(mask_figure(None, token_text), show_label=False, elem_id="mask-plot")
                    with gr.Row():
                        export_btn = gr.Button("Export the run as JSON", size="sm")
                        trace_file = gr.File(label="Run trace", interactive=False, visible=False)
        with gr.Tab("Compare drafters", id="compare"):
            gr.Markdown("Runs the prompt from the Explore tab to the end with each drafter, using the "
                        "settings there, and compares tokens per forward and measured speedup. Plain "
                        "decoding runs first: it is the baseline. Drafters run one after another on a "
                        "shared CPU, so timings carry some noise: compare twice before trusting a "
                        "difference of a few percent.")
            with gr.Row():
                compare_tokens = gr.Slider(4, 512, value=64, step=1, label="New tokens per drafter", scale=2,
                                           elem_id="compare-tokens")
                compare_drafters = gr.CheckboxGroup(DRAFTER_CHOICES, value=list(DRAFTERS),
                                                    label="Drafters", scale=3)
            with gr.Row():
                compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                compare_stop = gr.Button("Stop", variant="stop")
            compare_status = gr.Markdown(elem_id="compare-status")
            compare_table = gr.Dataframe(
                headers=["drafter", "tokens", "forwards", "MAT", "engine s", "tokens/s", "speedup ×",
                         "mean tokens/forward"], interactive=False, wrap=True)
            compare_plot = gr.Plot(compare_figure([]), show_label=False, elem_id="compare-plot")
            compare_note = gr.Markdown(elem_id="compare-note")
        with gr.Tab("How it works", id="how"):
            gr.Markdown(HOW_IT_WORKS)

    # -- wiring --------------------------------------------------------------------------
    controls = [width, depth, window, budget, capacity, temperature, top_p, max_new_tokens,
                drafter, adaptive, seed, measure]
    views = [tree_plot, outcome, text_box, speed_plot, mask_plot, automaton_box, narration_box,
             scrubber, status]
    step_btn.click(on_step, [session, prompt, *controls], [session, *views], api_name="step",
                   show_progress="minimal", **MODEL_EVENT)
    # Run: Step and Run are disabled while it streams (a second click would queue behind it)
    run_btn.click(_busy, None, [step_btn, run_btn], queue=False, show_progress="hidden", **PRIVATE).then(
        on_run, [session, prompt, *controls], [session, *views], api_name="run",
        show_progress="hidden", **MODEL_EVENT).then(
        _idle, None, [step_btn, run_btn], queue=False, show_progress="hidden", **PRIVATE)
    stop_btn.click(on_stop, [session], [status], api_name="stop", show_progress="hidden", **QUICK_EVENT)
    reset_btn.click(on_reset, [session], [session, *views], api_name="reset", **QUICK_EVENT)
    for i, slider in enumerate((width, depth, window, budget, capacity, temperature, top_p, max_new_tokens)):
        api = dict(api_name="settings") if i == 0 else PRIVATE  # one API endpoint is enough
        slider.release(on_settings, [session, *controls], [status], show_progress="hidden",
                       **api, **QUICK_EVENT)
    for other in (drafter, adaptive, measure):
        other.input(on_settings, [session, *controls], [status], show_progress="hidden", **PRIVATE,
                    **QUICK_EVENT)
    scrubber.release(on_view, [session, scrubber], views, api_name="view_step",
                     show_progress="hidden", **QUICK_EVENT)
    export_btn.click(on_export, [session], [trace_file], api_name="export", **QUICK_EVENT)
    compare_btn.click(lambda: gr.Button(interactive=False), None, [compare_btn], queue=False, **PRIVATE).then(
        on_compare, [session, prompt, compare_tokens, compare_drafters, *controls],
        [compare_status, compare_table, compare_plot, compare_note], api_name="compare",
        show_progress="hidden", **MODEL_EVENT).then(
        lambda: gr.Button(interactive=True), None, [compare_btn], queue=False, **PRIVATE)
    compare_stop.click(on_stop, [session], [compare_status], show_progress="hidden", **PRIVATE, **QUICK_EVENT)

demo.queue(default_concurrency_limit=1)

THEME = gr.themes.Soft(primary_hue="blue", secondary_hue="orange")
CSS = (ASSETS / "style.css").read_text(encoding="utf-8")
LAUNCH = dict(theme=THEME, css=CSS)  # Gradio 6 takes theme and css at launch()

if __name__ == "__main__":
    demo.launch(**LAUNCH)
