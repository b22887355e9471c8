"""HTML and sentences about a run: the coloured generated text, the verification
outcome of a step, what the automaton matched, and a plain-words narration.

All text that came from the model or the user is escaped here (a token may well be
``<script>``); nothing else in the app builds HTML from model output.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

from racer.drafters import find_drafter
from racer.records import REJECTED, StepRecord

from .tokens import TokenText, colour, drafter_label, label, quoted

TEXT_SOURCES = ("bonus", "retrieval", "logits", "both")
TEXT_LABELS = {"bonus": "the model's own token (root / bonus)", "retrieval": "accepted from retrieval",
               "logits": "accepted from the logits cache", "both": "accepted, proposed by both"}


@dataclass(frozen=True)
class TokenMark:
    """One generated token and how it was produced."""
    token: int
    text: str
    source: str   # bonus / retrieval / logits / both
    step: int     # the step (forward) that emitted it


def marks_of(record: StepRecord, token_text: TokenText) -> list[TokenMark]:
    return [TokenMark(t, token_text(t), s, record.index)
            for t, s in zip(record.emitted, record.emitted_sources)]


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
    spans = []
    for i, m in enumerate(marks):
        if upto_step is not None and m.step > upto_step:
            break
        cls = f"tok tok-{m.source}" + (" tok-now" if m.step == highlight_step else "")
        tip = (f"step {m.step} · {html.escape(TEXT_LABELS.get(m.source, m.source))} · id {m.token} · "
               f"{label(m.text, 30, quote=True)}")
        spans.append(f'<span class="{cls}" style="--c:{colour(m.source)}" title="{tip}">'
                     f'{html.escape(m.text)}</span>')
    body = "".join(spans) or '<span class="muted">Nothing generated yet.</span>'
    tail = f'<div class="finish">{html.escape(finish)}</div>' if finish else ""
    return f'{legend_html()}<div class="gen-text">{body}</div>{tail}'


def source_counts(record: StepRecord) -> Counter:
    """Drafted nodes per source (root left out)."""
    return Counter(record.tree.sources[1:]) if record.tree is not None else Counter()


def rejections(record: StepRecord) -> list[int]:
    """The drafted children of the last accepted node: the tokens the tree offered where
    the model chose otherwise, in the tree's order (its best guess first)."""
    if record.tree is None or not record.accepted:
        return []
    last = record.accepted[-1]
    return [i for i, p in enumerate(record.tree.parents) if p == last and record.verdicts[i] == REJECTED]


def first_rejection(record: StepRecord) -> int | None:
    found = rejections(record)
    return found[0] if found else None


def outcome_html(record: StepRecord | None, token_text: TokenText, speedup: float | None = None,
                 changed: str = "") -> str:
    """The verification outcome of one step in words and numbers."""
    if record is None:
        return '<div class="outcome muted">No step yet.</div>'
    t = record.timings
    ms = (f"draft {t.draft_s * 1e3:.0f} ms · verify {t.verify_s * 1e3:.0f} ms · "
          f"update {t.update_s * 1e3:.0f} ms")
    if record.tree is None:
        head = f"<b>Step 0 — prefill.</b> First token {quoted(token_text(record.emitted[0]))}." \
            if record.emitted else "<b>Step 0 — prefill.</b>"
        numbers = [("tokens", record.total_tokens), ("forwards", record.forwards)]
    else:
        head = _verify_head(record, token_text)
        numbers = [("accepted", record.accepted_drafts), ("tokens this forward", len(record.emitted)),
                   ("tree nodes", len(record.tree)), ("budget", record.budget), ("tokens", record.total_tokens),
                   ("forwards", record.forwards), ("MAT", f"{record.mat:.2f}")]
    numbers.append(("speedup so far", "—" if speedup is None else f"{speedup:.2f}×"))
    if record.finished:
        head += f" <b>Finished</b> ({html.escape(record.finish_reason or 'done')})."
    chips = "".join(f'<span class="num"><span class="k">{html.escape(k)}</span> '
                    f'<span class="v">{html.escape(str(v))}</span></span>' for k, v in numbers)
    change = f'<div class="changed">Settings changed before this step: {html.escape(changed)}</div>' \
        if changed else ""
    return (f'<div class="outcome"><div>{head}</div><div class="nums">{chips}</div>'
            f'<div class="muted small">{ms}</div>{change}</div>')


def _verify_head(record: StepRecord, token_text: TokenText) -> str:
    """A verify step in words: the tree, what was accepted and what the model wanted."""
    n = len(record.tree)
    acc = record.accepted_drafts
    counts = source_counts(record)
    kept = len(record.emitted)
    head = (f"<b>Step {record.index}:</b> {n}-node tree "
            f"({counts.get('retrieval', 0)} retrieval, {counts.get('logits', 0)} logits, "
            f"{counts.get('both', 0)} both) → accepted <b>{acc}</b> drafted "
            f"token{'s' if acc != 1 else ''}")
    if kept == acc + 1:
        head += f" + the model's own = <b>{kept}</b> token{'s' if kept != 1 else ''} from one forward."
    else:  # an EOS among the drafts, or the token limit, ended the output early
        cut = {"eos": "an end-of-sequence token", "length": "the max-new-tokens limit"}.get(
            record.finish_reason or "", "the end of the run")
        head += (f"; <b>{kept}</b> token{'s' if kept != 1 else ''} reached the output "
                 f"({record.emitted_drafts} of the drafts, then {cut} ended it).")
    wanted = ""
    if record.bonus is not None:
        wanted = f"{quoted(token_text(record.bonus))} (probability {record.bonus_prob:.2f})"
    rej = first_rejection(record)
    if rej is not None and wanted:
        p = record.target_probs[rej] if rej < len(record.target_probs) else None
        ptxt = "" if p is None else f" (model probability {p:.2f})"
        others = len(rejections(record)) - 1
        more = f" and {others} other{'s' if others != 1 else ''} there" if others > 0 else ""
        head += (f" Rejected node {rej} {quoted(token_text(record.tree.tokens[rej]))}{ptxt}{more}: "
                 f"the model wanted {wanted} instead.")
    elif wanted and n > 1:
        head += f" The tree had nothing after the accepted path; the model added {wanted}."
    return head


def _uses_automaton(drafter: str) -> bool:
    spec = find_drafter(drafter)
    return spec is not None and spec.uses_automaton


def automaton_html(record: StepRecord | None, token_text: TokenText) -> str:
    """What retrieval matched this step: the context suffix and each border."""
    if record is None or record.tree is None:
        return '<div class="muted">The automaton is consulted from step 1 on.</div>'
    view = record.automaton
    drafter = record.settings.drafter
    if not _uses_automaton(drafter):
        name = html.escape(drafter_label(drafter))
        return (f'<div class="muted">The {name} drafter uses no automaton; '
                f'switch the drafter to RACER or retrieval only (it takes over from the next step).</div>')
    root = record.tree.tokens[0]

    def chips(tokens, cls="ctx"):
        return "".join(f'<span class="chip {cls}">{label(token_text(t), 16)}</span>' for t in tokens)

    usage = ""
    if view.capacity:
        share = min(100.0, 100.0 * view.node_count / view.capacity)
        usage = (f'<div class="usage">automaton: {view.node_count:,} of {view.capacity:,} nodes '
                 f'<span class="bar"><span style="width:{share:.1f}%"></span></span></div>')
    if not view.matched and not view.borders:
        return (f'<div class="automaton"><div>No earlier occurrence of the context\'s end followed '
                f'by the root {chips([root], "root")} — retrieval proposed nothing this step.</div>'
                f'{usage}</div>')
    rows = "".join(f'<li>{chips(b)}<span class="arrow">→</span>{chips([root], "root")}'
                   f'<span class="muted small"> ({len(b)} token{"s" if len(b) != 1 else ""} matched)</span></li>'
                   for b in view.borders)
    return (f'<div class="automaton"><div>Context ends with {chips(view.matched)} and then the root '
            f'{chips([root], "root")}: this suffix occurred earlier in the text.</div>'
            f'<div class="small">Borders used (each a shorter suffix that also occurred before the '
            f'root; retrieval drafts what followed them):</div><ol>{rows}</ol>{usage}</div>')


def narration(record: StepRecord | None, token_text: TokenText, prompt_len: int = 0) -> str:
    """A short story of the step in plain words (Markdown-free HTML)."""
    if record is None:
        return "Press <b>Step</b> to run the first forward pass (the prefill)."
    if record.tree is None:
        first = quoted(token_text(record.emitted[0])) if record.emitted else "nothing"
        s = record.settings
        size = f"{prompt_len}-token " if prompt_len else ""
        return (f"The model read the {size}prompt in one forward pass and chose {first} as its first "
                f"token. Meanwhile the drafters got ready: the automaton indexed every "
                f"{s.window}-token window of the prompt, and the logits cache stored the model's "
                f"top-{s.width} guesses after each prompt token. From step 1 on they propose drafts.")
    tree, root = record.tree, record.tree.tokens[0]
    parts = [f"The root {quoted(token_text(root))} is already decided (the model chose it last step)."]
    parts += _drafting_story(record, token_text)
    if len(tree) == 1:
        parts.append("Nothing was drafted, so this step was plain decoding: one forward, one token.")
    else:
        parts.append(f"One forward pass checked all {len(tree)} nodes at once, each seeing only its "
                     f"own ancestors (the attention mask below).")
    acc = record.accepted_drafts
    if acc:
        words = "".join(token_text(tree.tokens[i]) for i in record.accepted[1:])
        parts.append(f"The model accepted {acc} drafted token{'s' if acc != 1 else ''} in a row "
                     f"({quoted(words, 40)})")
    else:
        parts.append("The model accepted 0 drafted tokens")
    rej = first_rejection(record)
    if record.bonus is not None and rej is not None:
        parts[-1] += (f", then wanted {quoted(token_text(record.bonus))} where the tree offered "
                      f"{quoted(token_text(tree.tokens[rej]))}.")
    elif record.bonus is not None:
        parts[-1] += f", then added its own next token {quoted(token_text(record.bonus))}."
    else:
        parts[-1] += "."
    n = len(record.emitted)
    parts.append(f"This forward produced {n} token{'s' if n != 1 else ''} where plain decoding makes 1; "
                 f"so far {record.total_tokens} tokens in {record.forwards} forwards "
                 f"(MAT {record.mat:.2f}).")
    return " ".join(parts)


def _drafting_story(record: StepRecord, token_text: TokenText) -> list[str]:
    """Sentences on where this step's drafts came from: retrieval, then the logits cache."""
    counts = source_counts(record)
    parts = []
    retrieved = counts.get("retrieval", 0) + counts.get("both", 0)
    if record.automaton.matched:
        tail = "".join(token_text(t) for t in record.automaton.matched[-6:])
        parts.append(f"The context ends with {quoted(tail, 40)}, which appeared before followed by "
                     f"the root, so retrieval proposed {retrieved} token{'s' if retrieved != 1 else ''} "
                     f"from what came next there.")
    elif _uses_automaton(record.settings.drafter):
        parts.append("The end of the context never appeared before the root, so retrieval had nothing.")
    elif retrieved:  # a drafter that copies from the context without the automaton
        parts.append(f"{drafter_label(record.settings.drafter).capitalize()} copied {retrieved} tokens "
                     "that followed an earlier match.")
    logits = counts.get("logits", 0) + counts.get("both", 0)
    if logits:
        parts.append(f"The logits cache proposed {logits} token{'s' if logits != 1 else ''}: the "
                     f"model's own earlier top guesses after each token"
                     + (f" ({counts['both']} of them retrieval proposed too)" if counts.get("both") else "")
                     + ".")
    return parts
