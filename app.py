"""RACER Explorer: RACER speculative decoding on a real model, one forward pass at a time.

``build_app(target)`` lays the page out in one ``with gr.Blocks()`` block over a model the
caller loaded, and wires its events at the end; importing this file does no work. Handlers
live in ``components/`` (``explore``, ``compare``, ``tune``, ``race``, ``deploy``): each
answers by name, and ``components.events.by_name`` puts the answer in the event's order;
figures and HTML in the pure builders of ``components/figures/``.
Each browser session's run is a ``Session`` held in ``gr.State``, all sessions' memory in
one ``Keeper``. ``python app.py`` (what a Space runs) loads the model once
(``components/startup.py``) and serves the page.

Environment: ``RACER_MODEL`` picks the model (default: the packaged SmolLM2-135M-Instruct on a
CPU, ``racer.model.loading.GPU_MODEL`` on a GPU, ZeroGPU included),
``RACER_PRECISION`` its precision (default auto: the fastest exact one on this machine),
``RACER_BACKEND`` its matrix-product backend (default auto: the fastest exact one here).
A model that cannot load leaves a page that says why and how to fix it; the app reaches
no network beyond the model hub (Gradio's analytics and version check are off).
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path

import racer  # noqa: F401  first: it sets how idle threads wait before numpy and torch load

import gradio as gr
import plotly.graph_objects as go

from components.deploy import DEPLOY_NOTE, DEPLOY_OUTPUTS, TARGET_CHOICES, deploy_command, mapping_markdown
from components.figures.charts import calibration_figure, compare_figure, mask_figure, speedup_figure
from components.compare import TABLE_HEADERS as COMPARE_HEADERS
from components.compare import COMPARE_OUTPUTS, CompareHandlers
from components.figures.automaton import automaton_figure
from components.controls import (MEASURE, compare_controls, grid_control, preset_controls, preset_values,
                                 setting_controls, tune_tokens_control)
from components.figures.lesson import lesson_parts, load_step, verify_cost_figure
from components.events import by_name
from components.explore import busy_note, Handlers, StepView, ViewBuilder, busy_buttons, idle_buttons
from components.race import RACE_OUTPUTS, RaceHandlers
from components.state import Keeper, Session
from components.startup import MODEL_FIX, load_examples, load_target
from components.figures.text import FIXED_SIZE_NOTE, automaton_html, generated_html, narration, outcome_html, size_note
from components.figures.tokens import colour, css_variables, key_html
from components.figures.tree_layout import CARD_PX, PLOT_WIDTH_PX
from components.figures.tree import tree_figure, tree_words_html
from components.tune import ADAPTIVE, APPLY_OUTPUTS, SOURCES, TUNE_OUTPUTS, TuneHandlers, TuneState, source_visibility
from components.figures.tune import COST_NOTE, TABLE_HEADERS, heatmap_figure
from racer.bench.data import MAX_UPLOAD_PROMPTS, TASKS
from racer.model.loading import DEFAULT_MODEL, default_model
from racer.model.target import TargetModel
from racer.engine.settings import Settings
from racer.engine.metrics import DEFAULT_REPEATS, MAX_REPEATS
from racer.measure.sweep import MAX_CELLS, MAX_PROMPTS, TIMING_NOTE

ASSETS = Path(__file__).parent / "assets"
# One model-using event at a time: two generations on the same CPU would slow each
# other down, and every speedup on screen is a wall-clock measurement.
MODEL_EVENT = dict(concurrency_id="model", concurrency_limit=1)
# Raw control values reach the handlers, which clamp them with a message naming the
# control (Gradio's own check would refuse with "Value 0 is less than minimum value 1").
RAW = dict(preprocess=False)
QUICK_EVENT = dict(concurrency_limit=None)  # flags and re-renders; never wait for the model
# Every click is kept: Gradio's default trigger mode ("once") drops a click while the same
# event is pending, so ten fast Step clicks gave 3 steps; these queue behind the model instead
# (the status line shows the queue). Run, Compare and Tune grey their button out while busy.
EVERY_CLICK = dict(trigger_mode="multiple")
PRIVATE = dict(api_visibility="private")    # UI-only steps (enabling buttons) stay out of the API
SESSION_TTL_S = 2 * 3600   # an untouched session's run is dropped after this long
SESSIONS_KEPT = 200        # at most this many sessions' state in memory (oldest go first)
DEFAULTS = Settings()
SPEEDUP_METHOD = ASSETS / "speedup_method.md"
HEAD_SCRIPTS = ("queue_sentence.js", "enter_applies.js")  # assets run in the page's <head>
# On a phone the settings accordion starts folded, so that Step, the status and the tree
# share the first screen (assets/style.css moves the outcome below the tree there).
PHONE_PX = 640   # = the max-width of assets/style.css's phone rules
FOLD_ON_PHONE = f"""() => {{
  if (!window.matchMedia("(max-width: {PHONE_PX}px)").matches) return;
  const head = document.querySelector("#settings > button.label-wrap");
  const body = head && head.parentElement.querySelector(":scope > [data-testid=accordion-content]");
  if (body && body.style.display !== "none") head.click();
}}"""


# -- the Explore views: name -> what it shows of one step (``StepView``) --------------------
# The one list of them: the handlers render each by name, and the page lays out a component
# under each name.
EXPLORE_VIEWS: dict[str, ViewBuilder] = {
    "tree": lambda v: tree_figure(v.record, v.token_text),
    "tree in words": lambda v: tree_words_html(v.record, v.token_text),
    "outcome": lambda v: outcome_html(v.record, v.token_text, v.speedup, v.prompt_tokens, busy_note(v.session)),
    "text": lambda v: generated_html(v.session.marks, upto_step=None if v.latest else v.index,
                                     highlight_step=v.index, finish=v.session.finish_text() if v.latest else ""),
    "speedup": lambda v: speedup_figure(v.session.stats, viewing=v.index),
    "calibration": lambda v: calibration_figure(v.session.reliability.bins()),
    "mask": lambda v: mask_figure(v.record, v.token_text),
    "automaton": lambda v: automaton_html(v.record, v.token_text),
    "automaton graph": lambda v: automaton_figure(v.record, v.token_text),
    "narration": lambda v: narration(v.record, v.token_text, v.prompt_tokens),
    # beside the sliders: the adaptive budget chose this step's size, and a button to fix it
    "size note": lambda v: gr.Markdown(size_note(v.record), visible=bool(size_note(v.record))),
    "fixed size": lambda v: gr.Button(visible=bool(size_note(v.record))),
}


def view_component(name: str, value) -> gr.components.Component:
    """The component of a view that has no place of its own in the layout: a plot for a
    figure, HTML otherwise."""
    if isinstance(value, go.Figure):
        return gr.Plot(value, label=name, show_label=False)
    return gr.HTML(value, label=name)


def chat_tokens(target: TargetModel | None) -> list[str]:
    """The model's chat-template tokens ("<|im_start|>", "<|im_end|>"...), for the key to labels."""
    names = getattr(target.tokenizer, "all_special_tokens", []) if target is not None else []
    return [n for n in names if n.startswith("<|") and n.endswith("|>")][:6]


def header(target: TargetModel | None, model_note: str) -> str:
    """The page's one short header: on a 1440x900 screen the buttons, the tree and the
    outcome fit below it."""
    model_line = (html.escape(model_note) if target is not None else
                  f"not loaded — {html.escape(model_note.rstrip('.'))}. {html.escape(MODEL_FIX)}")
    return f"""
<div id="header">
<h1>RACER Explorer <span class="subtitle">speculative decoding without a draft model, one forward pass at
a time</span></h1>
<p>Each step drafts a <b>tree</b> of guesses from <span style="color:{colour('retrieval')}"><b>retrieval</b></span>
(what followed the same words earlier) and the <span style="color:{colour('logits')}"><b>logits cache</b></span>
(what the model predicted here before); the model checks the whole tree in <b>one</b> forward pass, and every
token it agrees with is free. The output is exactly the model's own.
<span class="{'model-line' if target is not None else 'model-error'}">Model: {model_line}</span></p>
</div>
"""


def build_app(target: TargetModel | None, model_name: str = DEFAULT_MODEL, model_note: str = "") -> gr.Blocks:
    """The page over ``target`` (loaded by the caller; None when it failed to load, and
    ``model_note`` then says why). Lays out components and wires events; loads nothing."""
    handlers = Handlers(target, model_name, model_note if target is not None else f"{model_note} {MODEL_FIX}",
                        views=EXPLORE_VIEWS)
    compare = CompareHandlers(target, model_note)
    tune = TuneHandlers(target, model_note)
    race = RaceHandlers(target)
    keeper = Keeper()  # what all sessions of this page hold together, within budgets
    blank = StepView(Session(keeper), None, handlers.token_text)  # what every view shows before the first step
    examples = load_examples(ASSETS / "examples.jsonl")

    with gr.Blocks(title="RACER Explorer", analytics_enabled=False) as demo:
        # a session holds a KV cache, an automaton and a logits cache: let idle ones go
        # (``keeper`` keeps what all of them hold within budgets meanwhile)
        session = gr.State(Session(keeper), time_to_live=SESSION_TTL_S, delete_callback=Session.close)
        gr.HTML(header(target, model_note))
        tune_state = gr.State(TuneState(), time_to_live=SESSION_TTL_S)
        with gr.Tabs() as tabs:
            with gr.Tab("Explore", id="explore") as explore_tab:
                # above the fold: the buttons, the step's outcome and its tree; the rest in tabs below them
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=320, elem_id="controls"):
                        prompt = gr.Textbox(label="Prompt", lines=4, max_lines=8, value=examples[0]["prompt"],
                                            placeholder="Ask something, or paste a text to summarise or edit…")
                        with gr.Row():
                            step_btn = gr.Button("Step", variant="primary", elem_id="step-btn")
                            run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                            reset_btn = gr.Button("Reset", variant="secondary", elem_id="reset-btn")
                        # open on a wide screen; on a phone the page folds it at load (FOLD_ON_PHONE), so
                        # that Step, the status and the tree share the first screen
                        with gr.Accordion("Settings and example prompts", open=True, elem_id="settings"):
                            # one click to a fixed tree that reads well; the note says what it costs here
                            teach_btn, teach_note = preset_controls(
                                "teaching", target.verify_costs() if target is not None else None)
                            settings = setting_controls(DEFAULTS, main=True)  # from the Settings schema
                            # when the adaptive budget chose the tree size, the sliders say so, with a way out
                            with gr.Row(elem_id="size-row"):
                                size_box = gr.Markdown("", visible=False, label="Tree size note", show_label=False,
                                                       elem_id="size-note")
                                fixed_btn = gr.Button("Fixed size", size="sm", variant="secondary", visible=False,
                                                      scale=0, min_width=110, elem_id="fixed-size")
                            with gr.Accordion("Advanced", open=False, elem_id="advanced"):
                                settings |= setting_controls(DEFAULTS, main=False)
                                measure = gr.Checkbox(value=True, label="Measure speedup",
                                                      info="runs plain decoding of the same prompt alongside")
                            gr.Examples([[e["prompt"]] for e in examples], inputs=[prompt], cache_examples=False,
                                        example_labels=[f"{e['category']}: {e['prompt'][:60]}…" for e in examples],
                                        examples_per_page=8,
                                        label="Example prompts: retrieval show-offs, then one per Spec-Bench category")
                    # the tree's labels are placed for a plot at least PLOT_WIDTH_PX wide (tree_layout)
                    with gr.Column(scale=8, min_width=PLOT_WIDTH_PX + 40, elem_id="step-view"):
                        status = gr.Markdown(
                            "" if target is not None else f"⚠ No model is loaded: {model_note} {MODEL_FIX}",
                            label="Status", show_label=False, elem_id="status")
                        outcome = gr.HTML(EXPLORE_VIEWS["outcome"](blank), label="Step outcome", elem_id="outcome")
                        tree_plot = gr.Plot(EXPLORE_VIEWS["tree"](blank), label="Draft tree", show_label=False,
                                            elem_id="tree-plot")
                        # the tree in words, for a screen reader (visually hidden)
                        tree_words = gr.HTML(EXPLORE_VIEWS["tree in words"](blank), label="Draft tree in words",
                                             elem_id="tree-words", elem_classes="sr-only")
                        with gr.Accordion("Reading the labels: ␣ ↵ <0x..> <|im_end|>", open=False,
                                          elem_id="token-key"):
                            gr.HTML(key_html(chat_tokens(target)))
                        scrubber = gr.Slider(0, 1, value=0, step=1, label="History: step 0 of 0",
                                             interactive=False, elem_id="scrubber")
                        # the rest of the step, below the fold
                        with gr.Tabs(elem_id="step-tabs"):
                            with gr.Tab("What happened", id="story"):
                                narration_box = gr.HTML(EXPLORE_VIEWS["narration"](blank), label="Narration",
                                                        elem_id="narration")
                                gr.Markdown("#### Generated text · coloured by how each token was produced",
                                            elem_classes="section")
                                text_box = gr.HTML(EXPLORE_VIEWS["text"](blank), label="Generated text", elem_id="generated")
                            with gr.Tab("Automaton", id="automaton"):
                                gr.Markdown("#### The retrieval automaton around this step's match · a column per "
                                            "string length; hover a node for its string's count",
                                            elem_classes="section")
                                automaton_plot = gr.Plot(EXPLORE_VIEWS["automaton graph"](blank), label="Automaton graph",
                                                         show_label=False, elem_id="automaton-plot")
                                automaton_box = gr.HTML(EXPLORE_VIEWS["automaton"](blank), label="Automaton match")
                            with gr.Tab("Speedup", id="speedup"):
                                gr.Markdown("#### Running speedup · and how the drafter's estimates held up",
                                            elem_classes="section")
                                with gr.Row(equal_height=False):
                                    with gr.Column(scale=3, min_width=320):
                                        speed_plot = gr.Plot(EXPLORE_VIEWS["speedup"](blank), label="Running speedup",
                                                             show_label=False, elem_id="speed-plot")
                                    with gr.Column(scale=2, min_width=240):
                                        calibration_plot = gr.Plot(EXPLORE_VIEWS["calibration"](blank), label="Calibration",
                                                                   show_label=False, elem_id="calibration-plot")
                                gr.Markdown(SPEEDUP_METHOD.read_text(encoding="utf-8"), elem_id="method")
                            with gr.Tab("Attention mask", id="mask"):
                                gr.Markdown("#### Tree attention mask · row = node, column = what it may attend to",
                                            elem_classes="section")
                                mask_plot = gr.Plot(EXPLORE_VIEWS["mask"](blank), label="Tree attention mask",
                                                    show_label=False, elem_id="mask-plot")
                            with gr.Tab("Race", id="race"):
                                gr.Markdown("The finished run against plain decoding of the same prompt, each text "
                                            "appearing at the pace it was measured on this machine.")
                                with gr.Row():
                                    race_btn = gr.Button("Race this run against plain decoding", variant="primary",
                                                         elem_id="race-btn", scale=0, min_width=400)
                                race_status = gr.Markdown(label="Race status", show_label=False, elem_id="race-status")
                                race_box = gr.HTML(label="Race", elem_id="race")
                                race_plot = gr.Plot(label="Race chart", show_label=False, elem_id="race-plot")
                with gr.Row():
                    export_btn = gr.Button("Export the run as JSON", size="sm")
                    trace_file = gr.File(label="Run trace", interactive=False, visible=False)
            with gr.Tab("Compare drafters", id="compare"):
                gr.Markdown("Runs the prompt from the Explore tab to the end with each drafter, using the "
                            "settings there, and compares MAT (tokens per forward, the first forward included) and "
                            "measured speedup. Plain decoding runs first and again after every round: it is "
                            "the baseline. Each drafter runs several rounds; a drafter is called best only "
                            "when its slowest round beats the fastest of plain decoding and of every other drafter.")
                with gr.Row():
                    compare_tokens, compare_drafters = compare_controls()
                    compare_repeats = gr.Slider(1, MAX_REPEATS, value=DEFAULT_REPEATS, step=1, scale=1,
                                                label="Rounds", elem_id="compare-repeats",
                                                info="each drafter this often, alternating with plain decoding")
                with gr.Row():
                    compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                    compare_stop = gr.Button("Stop", variant="stop")
                compare_status = gr.Markdown(label="Comparison status", show_label=False, elem_id="compare-status")
                compare_table = gr.Dataframe(headers=COMPARE_HEADERS, label="Comparison", show_label=False,
                                             interactive=False, wrap=True)
                compare_plot = gr.Plot(compare_figure([]), label="Comparison chart", show_label=False,
                                       elem_id="compare-plot")
                compare_note = gr.Markdown(label="Lossless check", show_label=False, elem_id="compare-note")
            with gr.Tab("Tune", id="tune"):
                gr.Markdown(f"Finds the tree width and depth that decode fastest **on this machine**: every "
                            "setting of the grid decodes the same prompts with the drafter chosen in the Explore tab "
                            "(RACER when that is plain decoding; other settings from there too), and plain decoding of those prompts is timed before, between every "
                            "few settings and after, so each speedup compares runs made close together. "
                            f"At most {MAX_CELLS} settings and {MAX_PROMPTS} prompts per sweep. {TIMING_NOTE}")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=400, elem_id="tune-controls"):
                        tune_source = gr.Radio(SOURCES, value="category", label="Prompts")
                        with gr.Row():
                            tune_category = gr.Dropdown(list(TASKS), value="translation", label="Category")
                            tune_count = gr.Slider(1, MAX_PROMPTS, value=2, step=1, label="How many")
                        tune_upload = gr.File(label='Your prompts: .jsonl (lines like {"prompt": "..."} or Spec-Bench\'s '
                                                    '{"turns": [...]}) or .txt (a blank line between prompts), at most '
                                                    f"{MAX_UPLOAD_PROMPTS}", file_types=[".jsonl", ".txt"],
                                              type="filepath", visible=False, elem_id="tune-upload")
                        tune_tokens = tune_tokens_control()
                        tune_widths = grid_control("width", ticked=[2, 4, 8])
                        tune_depths = grid_control("depth", ticked=[2, 4, 8])
                        # one a line: side by side in this column, the help wrapped a word a line
                        tune_repeats = gr.Slider(1, MAX_REPEATS, value=DEFAULT_REPEATS, step=1,
                                                 label="Runs per setting", elem_id="tune-repeats",
                                                 info="each setting runs this often, alternating with plain "
                                                      "decoding; the spread tells signal from noise")
                        tune_adaptive = gr.Dropdown(ADAPTIVE, value="auto", label="Adaptive budget in the sweep",
                                                    elem_id="tune-adaptive")
                        with gr.Accordion("Also vary (optional)", open=False):
                            tune_windows = grid_control("window", info="none ticked: the Explore tab's value")
                            tune_budgets = grid_control("budget", info="none ticked: the Explore tab's value")
                        with gr.Row():
                            tune_btn = gr.Button("Run the sweep", variant="primary", elem_id="tune-btn")
                            tune_stop = gr.Button("Stop", variant="stop", elem_id="tune-stop")
                        # Deploy: the sweep's winner (else the Explore tab's settings) as an engine's command
                        with gr.Accordion("Deploy", open=False, elem_id="deploy"):
                            gr.Markdown(DEPLOY_NOTE)
                            deploy_target = gr.Radio(TARGET_CHOICES, value="sglang", label="Engine",
                                                     elem_id="deploy-target")
                            deploy_btn = gr.Button("Show the command: the sweep's winner, else the Explore settings",
                                                   size="sm", elem_id="deploy-btn")
                            deploy_source = gr.Markdown(label="Deployed settings", show_label=False,
                                                        elem_id="deploy-source")
                            # wrapped, never cut off at the right; a copy button in its corner
                            deploy_box = gr.Code(language="shell", label="Launch command", interactive=False,
                                                 wrap_lines=True, show_line_numbers=False, buttons=["copy"],
                                                 lines=3, elem_id="deploy-command")
                            with gr.Accordion("Knob by knob", open=False):
                                gr.Markdown(mapping_markdown())
                    with gr.Column(scale=8):
                        tune_status = gr.HTML(label="Sweep status", elem_id="tune-status")
                        tune_best = gr.Markdown(label="Best setting", show_label=False, elem_id="tune-best")
                        tune_apply = gr.Button("Apply the setting that stood out to the Explore tab",
                                               interactive=False, visible=False, size="sm", elem_id="tune-apply")
                        gr.Markdown("#### Tokens per forward (MAT) · ★ = the highest", elem_classes="section")
                        tune_mat_plot = gr.Plot(heatmap_figure(None, "mat"), label="MAT heatmap", show_label=False,
                                                elem_id="tune-mat")
                        gr.Markdown("#### Measured speedup vs plain decoding · blue = faster, orange = slower · "
                                    "★ = the setting that stood out (none if none did)",
                                    elem_classes="section")
                        tune_speed_plot = gr.Plot(heatmap_figure(None, "speedup"), label="Speedup heatmap",
                                                  show_label=False, elem_id="tune-speed")
                        tune_table = gr.Dataframe(headers=TABLE_HEADERS, label="Sweep results", show_label=False,
                                                  interactive=False, wrap=True)
                        tune_csv = gr.File(label="Results as CSV", interactive=False, visible=False)
                        # the verify-cost curve that decides which tree sizes can pay here (cached per process)
                        gr.Markdown(f"#### What a tree costs on this machine\n{COST_NOTE}", elem_classes="section")
                        gr.Plot(verify_cost_figure(target.verify_costs() if target is not None else None),
                                label="Verify cost per tree size", show_label=False, elem_id="tune-costs")
            with gr.Tab("How it works", id="how"):
                # the lesson: prose around a stored real step, drawn by the Explore tab's own builders,
                # and this machine's verify costs (measured once at start-up, cached)
                costs = target.verify_costs() if target is not None else None
                for part in lesson_parts(load_step(), costs, device=str(target.device) if target else ""):
                    if isinstance(part, str):
                        gr.Markdown(part)
                    else:
                        gr.Plot(part, show_label=False)

        # -- wiring --------------------------------------------------------------------------
        # the settings controls reach every handler by name (``**controls``), as the API names them
        controls = {**settings, MEASURE: measure}
        NAMED = dict(inputs_kwargs=controls, **RAW)
        # what every Explore event shows, in order, and its components by name; the handlers
        # answer by name (``by_name`` orders them)
        STEP_OUTPUTS = (*EXPLORE_VIEWS, "scrubber", "status")
        shown = dict(tree=tree_plot, outcome=outcome, **{"tree in words": tree_words}, text=text_box, speedup=speed_plot,
                     calibration=calibration_plot, mask=mask_plot, automaton=automaton_box,
                     narration=narration_box, scrubber=scrubber, status=status,
                     **{"automaton graph": automaton_plot, "size note": size_box, "fixed size": fixed_btn})
        with explore_tab:  # a view with no place above (added to EXPLORE_VIEWS alone) goes last
            shown |= {name: view_component(name, build(blank)) for name, build in EXPLORE_VIEWS.items()
                      if name not in shown}
        views = [shown[name] for name in STEP_OUTPUTS]
        on_settings = by_name(handlers.on_settings, ["status"])
        compared = {"status": compare_status, "table": compare_table, "plot": compare_plot, "note": compare_note}
        tuned = {"status": tune_status, "best": tune_best, "mat": tune_mat_plot, "speedup": tune_speed_plot,
                 "table": tune_table, "csv": tune_csv, "apply": tune_apply}
        step_outputs = ("session", *STEP_OUTPUTS)
        # the status line shows a waiting visitor's place in the queue
        step_btn.click(by_name(handlers.on_step, step_outputs), [session, prompt], [session, *views], api_name="step",
                       show_progress="minimal", show_progress_on=[status], **NAMED, **MODEL_EVENT, **EVERY_CLICK)
        # Run: Step and Run are disabled while it streams (a second click would queue behind it)
        run_btn.click(busy_buttons, None, [step_btn, run_btn], queue=False, show_progress="hidden", **PRIVATE).then(
            by_name(handlers.on_run, step_outputs), [session, prompt], [session, *views], api_name="run",
            show_progress="minimal", show_progress_on=[status], **NAMED, **MODEL_EVENT).then(
            idle_buttons, None, [step_btn, run_btn], queue=False, show_progress="hidden", **PRIVATE)
        stop_btn.click(by_name(handlers.on_stop, ["status"]), [session], [status], api_name="stop", show_progress="hidden",
                       **QUICK_EVENT)
        reset_btn.click(by_name(handlers.on_reset, step_outputs), [session], [session, *views], api_name="reset", **QUICK_EVENT)
        sliders = [c for c in settings.values() if isinstance(c, gr.Slider)]
        for slider in sliders:  # one API endpoint is enough
            api = dict(api_name="settings") if slider is sliders[0] else PRIVATE
            slider.release(on_settings, [session], [status], show_progress="hidden", **api, **NAMED, **QUICK_EVENT)
        # the Teaching preset moves the sliders (and the adaptive budget box), then applies them as a release would
        preset_names = list(settings)
        teach_btn.click(lambda: preset_values("teaching", preset_names), None, list(settings.values()),
                        api_name="preset_teaching", **QUICK_EVENT).then(
            on_settings, [session], [status], show_progress="hidden", **PRIVATE, **NAMED, **QUICK_EVENT)
        # Fixed size: the adaptive budget off (the sliders then set the tree), applied as a change would be
        fixed_btn.click(lambda: (False, gr.Markdown(FIXED_SIZE_NOTE), gr.Button(visible=False)), None,
                        [settings["adaptive_budget"], size_box, fixed_btn], api_name="fixed_size", **QUICK_EVENT).then(
            on_settings, [session], [status], show_progress="hidden", **PRIVATE, **NAMED, **QUICK_EVENT)
        for other in [c for c in controls.values() if isinstance(c, (gr.Checkbox, gr.Dropdown))]:
            other.input(on_settings, [session], [status], show_progress="hidden", **PRIVATE, **NAMED, **QUICK_EVENT)
        scrubber.release(by_name(handlers.on_view, STEP_OUTPUTS), [session, scrubber], views, api_name="view_step",
                         show_progress="hidden", **RAW, **QUICK_EVENT)
        raced = {"race": race_box, "plot": race_plot, "status": race_status}
        race_btn.click(by_name(race.on_race, RACE_OUTPUTS), [session], [raced[n] for n in RACE_OUTPUTS], api_name="race",
                       show_progress="minimal", show_progress_on=[race_status], **MODEL_EVENT, **EVERY_CLICK)
        export_btn.click(handlers.on_export, [session], [trace_file], api_name="export", **QUICK_EVENT).then(
            handlers.show_file, [trace_file], [trace_file], queue=False, show_progress="hidden", **PRIVATE)
        compare_btn.click(lambda: gr.Button(interactive=False), None, [compare_btn], queue=False, **PRIVATE).then(
            by_name(compare.on_compare, COMPARE_OUTPUTS), [session, prompt, compare_tokens, compare_drafters,
                                                          compare_repeats],
            [compared[n] for n in COMPARE_OUTPUTS], api_name="compare",
            show_progress="minimal", show_progress_on=[compare_status], **NAMED, **MODEL_EVENT).then(
            lambda: gr.Button(interactive=True), None, [compare_btn], queue=False, **PRIVATE)
        compare_stop.click(by_name(handlers.on_stop, ["status"]), [session], [compare_status], show_progress="hidden", **PRIVATE, **QUICK_EVENT)
        # Tune: a sweep uses the model like Run does; Stop keeps the finished settings
        tune_source.change(source_visibility, [tune_source], [tune_category, tune_count, tune_upload], queue=False,
                           **PRIVATE)
        tune_btn.click(lambda: gr.Button(interactive=False), None, [tune_btn], queue=False, **PRIVATE).then(
            by_name(tune.on_tune, TUNE_OUTPUTS), [tune_state, prompt, tune_source, tune_category, tune_count,
                                                  tune_tokens, tune_widths, tune_depths, tune_windows, tune_budgets,
                                                  tune_repeats, tune_adaptive, tune_upload],
            [tuned[n] for n in TUNE_OUTPUTS],
            api_name="tune", show_progress="minimal", show_progress_on=[tune_status], **NAMED, **MODEL_EVENT).then(
            lambda: gr.Button(interactive=True), None, [tune_btn], queue=False, **PRIVATE)
        tune_stop.click(by_name(tune.on_stop, ["status"]), [tune_state], [tune_status], api_name="tune_stop", show_progress="hidden",
                        **QUICK_EVENT)
        # Apply moves every control the sweep ran with and applies them; both status lines say what it did
        applied = {**settings, "tabs": tabs, "tune_status": tune_status, "status": status}
        tune_apply.click(by_name(tune.on_apply, APPLY_OUTPUTS), [tune_state, session],
                         [applied[n] for n in APPLY_OUTPUTS], api_name="tune_apply", **NAMED, **QUICK_EVENT)
        deployed = {"deploy_source": deploy_source, "deploy_command": deploy_box}
        deploy_btn.click(by_name(deploy_command, DEPLOY_OUTPUTS), [deploy_target, tune_state],
                         [deployed[n] for n in DEPLOY_OUTPUTS], api_name="deploy", **NAMED, **QUICK_EVENT)

        demo.load(None, None, None, js=FOLD_ON_PHONE, queue=False, **PRIVATE)

    demo.queue(default_concurrency_limit=1)
    demo.keeper = keeper  # read by the memory soak test
    return demo


def launch_options() -> dict:
    """What ``demo.launch`` takes besides the address (Gradio 6 takes theme and css there)."""
    theme = gr.themes.Soft(primary_hue="blue", secondary_hue="orange")
    # the tree's card: its steady height and the width its labels are placed for
    sizes = f":root {{--tree-card: {CARD_PX}px; --tree-width: {PLOT_WIDTH_PX}px;}}\n"
    css = css_variables() + sizes + (ASSETS / "style.css").read_text(encoding="utf-8")
    # a waiting visitor reads a sentence ("2 people ahead of you, about 20 s"), not Gradio's counters;
    # Enter in a slider's number box applies the number (settings and the history box alike)
    head = "".join(f"<script>{(ASSETS / name).read_text(encoding='utf-8')}</script>" for name in HEAD_SCRIPTS)
    return dict(theme=theme, css=css, head=head, state_session_capacity=SESSIONS_KEPT)


def main() -> None:
    """``python app.py`` (what a Space runs): load the model the environment names, serve the page."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request otherwise
    model_name = os.environ.get("RACER_MODEL", "").strip() or default_model()   # SmolLM2 on a CPU, GPU_MODEL on a GPU
    precision = os.environ.get("RACER_PRECISION", "").strip() or "auto"  # see racer/model/precision.py
    backend = os.environ.get("RACER_BACKEND", "").strip() or "auto"  # see racer/model/backend.py
    target, note = load_target(model_name, precision, backend)
    build_app(target, model_name, note).launch(**launch_options())


if __name__ == "__main__":
    main()
