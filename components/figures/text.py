"""HTML and sentences about a run: the coloured generated text, the verification
outcome of a step, what the automaton matched, and a plain-words narration.

All text that came from the model or the user is escaped here (a token may well be
``<script>``); nothing else in the app builds HTML from model output.
"""
from __future__ import annotations

import html
from collections import Counter
from typing import Sequence

from racer.drafting.registry import find_drafter
from racer.inspect.explain import ADAPTIVE, ADAPTIVE_PLAIN, EXPLORE, Account, explain
from racer.engine.records import StepRecord
from racer.model.token_text import alone, glyphs
from racer.engine.tree import RETRIEVAL

from components.numbers import fmt
from components.state import TokenMark
from racer.engine.sources import SOURCES, TEXT_SOURCES
from components.figures.tokens import ShowToken, colour, drafter_label, glyph_runs, isolate_bytes, label, quoter

TEXT_LABELS = {name: SOURCES[name].text for name in TEXT_SOURCES}


def mark_glyphs(marks: Sequence[TokenMark]) -> list[tuple[list[TokenMark], str]]:
    """The marks in groups that split no character and no grapheme cluster, each with its
    text (``racer.model.token_text.glyphs``): an emoji with a skin tone over three tokens
    is one group, drawn as one span, so it renders as one glyph."""
    return [(list(marks[a:b]), text) for a, b, text in glyphs([m.piece for m in marks])]


def legend_html() -> str:
    items = "".join(f'<span class="tok tok-{s}" style="--c:{colour(s)}">{html.escape(TEXT_LABELS[s])}</span>'
                    for s in TEXT_SOURCES)
    return f'<div class="tok-legend">{items}</div>'


def generated_html(marks: list[TokenMark], upto_step: int | None = None,
                   highlight_step: int | None = None, finish: str = "") -> str:
    """The generated text, one span per token coloured by how it was produced.

    Tokens emitted after ``upto_step`` are left out (a past step is being viewed);
    tokens of ``highlight_step`` are underlined. Whitespace stays as it is (the CSS
    keeps newlines); only the title tooltip shows the visible form.
    """
    shown = [m for m in marks if upto_step is None or m.step <= upto_step]
    parts = []
    for group, text in mark_glyphs(shown):
        m = group[-1]   # the token that completes the glyph gives it its colour
        now = any(g.step == highlight_step for g in group)
        cls = f"tok tok-{m.source}" + (" tok-now" if now else "")
        tip = "&#10;".join(f"step {g.step} · {html.escape(TEXT_LABELS.get(g.source, g.source))} · id {g.token} · "
                           f"{label(alone(g.piece), 30, quote=True)}" for g in group)
        if len(group) > 1:
            tip = f"{len(group)} tokens make this text:&#10;{tip}"
        # stray bytes (a character cut at the end) in an isolate: after Hebrew they stay "<0xD7>"
        parts.append(f'<span class="{cls}" style="--c:{colour(m.source)}" title="{tip}">'
                     f'{html.escape(isolate_bytes(text))}</span>')
    body = "".join(parts) or '<span class="muted">Nothing generated yet.</span>'
    tail = f'<div class="finish">{html.escape(finish)}</div>' if finish else ""
    return f'{legend_html()}<div class="gen-text">{body}</div>{tail}'


def source_counts(record: StepRecord) -> Counter:
    """Drafted nodes per source (root left out)."""
    return Counter(record.tree.sources[1:]) if record.tree is not None else Counter()


def account_of(record: StepRecord, token_text: ShowToken, prompt_len: int = 0) -> Account:
    """The step's one account (``racer.inspect.explain``), its tokens shown as on the page."""
    return explain(record, quoter(token_text), prompt_len)


def outcome_html(record: StepRecord | None, token_text: ShowToken, speedup: float | None = None,
                 prompt_len: int = 0, timing_note: str = "") -> str:
    """The verification outcome of one step in words and numbers (the words are the
    step's account: the same sentences as the narration and the tree's caption).
    ``timing_note`` qualifies the step's times on their own line (a busy machine)."""
    if record is None:
        return '<div class="outcome muted">No step yet.</div>'
    account = account_of(record, token_text, prompt_len)
    t = record.timings
    if record.tree is None:  # the prefill: the prompt in one forward, nothing to compare yet
        head = f"<b>Step 0 — prefill.</b> {account.size.sentence}"
        numbers = ([("prompt tokens", prompt_len)] if prompt_len else []) + [
            ("forwards", record.forwards), ("prefill", f"{t.verify_s * 1e3:.0f} ms")]
        ms = ""
    else:
        head = f"{_verify_head(record)} {account.verdict}"
        # one unit per quantity, as the sentences say it: drafted tokens (the root is not drafted),
        # tokens that reached the output, and the budget in nodes (the root included)
        numbers = [("drafted tokens", len(record.tree) - 1), ("accepted", record.accepted_drafts),
                   ("tokens to the output", len(record.emitted)), ("budget (nodes)", record.budget),
                   ("tokens", record.total_tokens),
                   ("forwards", record.forwards), ("MAT", fmt("mat", record.mat)),
                   ("speedup so far", fmt("speedup", speedup))]
        ms = (f"draft {t.draft_s * 1e3:.0f} ms · verify {t.verify_s * 1e3:.0f} ms · "
              f"update {t.update_s * 1e3:.0f} ms")
    why = [] if record.tree is None else [account.size.sentence]  # each source's part: caption, narration
    if record.finished:
        why.append(f"<b>Finished.</b> {account.ending}")
    chips = "".join(f'<span class="num"><span class="k">{html.escape(k)}</span> '
                    f'<span class="v">{html.escape(str(v))}</span></span>' for k, v in numbers)
    reasons = f'<div class="why">{" ".join(why)}</div>' if why else ""
    if ms and timing_note:
        ms += f' · <span class="busy-note">{html.escape(timing_note)}</span>'
    timing = f'<div class="muted small">{ms}</div>' if ms else ""
    change = (f'<div class="changed">Settings changed before this step: {html.escape(account.changed)}</div>'
              if account.changed else "")
    return (f'<div class="outcome"><div>{head}</div>{reasons}<div class="nums">{chips}</div>'
            f'{timing}{change}</div>')


def _verify_head(record: StepRecord) -> str:
    """A verify step in numbers: the tree by source, and the tokens it gave."""
    drafted = len(record.tree) - 1
    acc = record.accepted_drafts
    counts = source_counts(record)
    kept = len(record.emitted)
    padding = f", {counts['padding']} padding" if counts.get("padding") else ""
    head = (f"<b>Step {record.index}:</b> the root and {drafted} drafted token{'s' if drafted != 1 else ''} "
            f"({counts.get('retrieval', 0)} retrieval, {counts.get('logits', 0)} logits, "
            f"{counts.get('both', 0)} both{padding}) → accepted <b>{acc}</b> drafted "
            f"token{'s' if acc != 1 else ''}")
    if kept == acc + 1:
        return head + f" + the model's own = <b>{kept}</b> token{'s' if kept != 1 else ''} from one forward."
    # an EOS among the drafts, or the token limit, ended the output early
    return head + f"; <b>{kept}</b> token{'s' if kept != 1 else ''} reached the output."


def _uses_automaton(drafter: str) -> bool:
    spec = find_drafter(drafter)
    return spec is not None and spec.uses_automaton


def automaton_html(record: StepRecord | None, token_text: ShowToken) -> str:
    """What retrieval matched this step: the account's sentence on retrieval, then the
    context suffix of each border."""
    if record is None or record.tree is None:
        return '<div class="muted">The automaton is consulted from step 1 on.</div>'
    view = record.automaton
    drafter = record.settings.drafter
    if not _uses_automaton(drafter):
        name = html.escape(drafter_label(drafter))
        return (f'<div class="muted">The {name} drafter uses no automaton; '
                f'switch the drafter to RACER or retrieval only (it takes over from the next step).</div>')
    root = record.tree.tokens[0]
    said = account_of(record, token_text).source(RETRIEVAL).sentence

    def chips(tokens, cls="ctx"):   # a chip per glyph: tokens that make one character share a chip
        return "".join(f'<span class="chip {cls}">{label(text, 16)}</span>'
                       for _, _, text in glyph_runs(token_text, tokens))

    usage = ""
    if view.capacity:
        share = min(100.0, 100.0 * view.node_count / view.capacity)
        usage = (f'<div class="usage">automaton: {view.node_count:,} of {view.capacity:,} nodes '
                 f'<span class="bar"><span style="width:{share:.1f}%"></span></span></div>')
    if not view.borders:
        return f'<div class="automaton"><div>{said}</div>{usage}</div>'
    rows = "".join(f'<li>{chips(b)}<span class="arrow">→</span>{chips([root], "root")}'
                   f'<span class="muted small"> ({len(b)} token{"s" if len(b) != 1 else ""} matched)</span></li>'
                   for b in view.borders)
    return (f'<div class="automaton"><div>{said}</div>'
            f'<div class="small">Borders (each a suffix of the context that occurred before the root '
            f'earlier; retrieval drafts what followed them):</div><ol>{rows}</ol>{usage}</div>')


def narration(record: StepRecord | None, token_text: ShowToken, prompt_len: int = 0) -> str:
    """A short story of the step in plain words (Markdown-free HTML): the step's account
    in order."""
    if record is None:
        return "Press <b>Step</b> to run the first forward pass (the prefill)."
    account = account_of(record, token_text, prompt_len)
    if record.tree is None:
        s = record.settings
        return (f"{account.size.sentence} Meanwhile the drafters got ready: the automaton indexed every "
                f"{s.window}-token window of the prompt, and the logits cache stored the model's "
                f"top-{s.width} guesses after each prompt token.")
    root = quoter(token_text)([record.tree.root])
    parts = [f"The root {root} is already decided (the model chose it last step)."]
    parts += [s.sentence for s in account.sources] + [account.size.sentence]
    if len(record.tree) > 1:
        drafted = len(record.tree) - 1
        parts.append(f"One forward pass checked the root and its {drafted} drafted "
                     f"token{'s' if drafted != 1 else ''} at once, each seeing only its own ancestors "
                     f"(the attention mask below).")
    parts += [account.verdict, account.ending, account.tally]
    return " ".join(p for p in parts if p)


def size_note(record: StepRecord | None) -> str:
    """Beside the sliders: when the adaptive budget chose the step's tree size, how big a
    tree it chose against what the drafter proposed (empty otherwise), so that moving
    width or depth and seeing the same tree size is explained where the sliders are.

    The counts are drafted tokens, as in the narration (the root is not drafted)."""
    if record is None or record.tree is None or not record.settings.adaptive_budget:
        return ""
    size = explain(record, lambda ids: "").size.reason
    if size not in (ADAPTIVE, ADAPTIVE_PLAIN, EXPLORE):
        return ""
    drafted, proposed = len(record.tree) - 1, record.proposed - 1
    chose = ("the root alone, none" if drafted == 0 else "all" if drafted == proposed else f"{drafted}")
    extra = " (one step in a few it tries a bigger tree than it expects to pay)" if size == EXPLORE else ""
    s = record.settings
    return (f"**The adaptive budget chose step {record.index}'s tree:** {chose} of the {proposed} drafted "
            f"token{'s' if proposed != 1 else ''} the drafter proposed{extra}. Width {s.width}, depth "
            f"{s.depth} and budget {s.budget} only bound the proposal; **Fixed size** turns the adaptive "
            "budget off, so the tree is what they allow.")


FIXED_SIZE_NOTE = ("Fixed size from the next step: the adaptive budget is off, so each tree holds what width, "
                   "depth and budget allow (as many guesses as the sources have).")
