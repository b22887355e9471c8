"""One account of each step (``racer.inspect.explain``, ``racer.inspect.explain_sources``), and the views built from it.

Each case is a hand-made step record of one situation a class meets: a long match,
no match, a match whose continuations were outranked, an unseen root, a plain step
chosen by the adaptive budget, EOS and the length limit. For every case the tree's
caption, the narration, the outcome panel and the automaton panel must all say the
account's sentences, word for word; the page before the account said "no earlier
match" in the caption while its automaton panel listed the match.

Then the facts the account reads, from real (tiny) generations: every setting change
is recorded, and a root alone is explained by what the sources really offered.
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from components.figures.automaton import automaton_figure
from components.figures.charts import calibration_figure
from components.state import Session
from components.figures.text import automaton_html, narration, outcome_html
from components.figures.tokens import quoter
from components.figures.tree_layout import drawn_nodes
from components.figures.tree import caption, node_hover, tree_figure
from racer.inspect import explain as ex
from racer.inspect import explain_sources as src
from racer.drafting.calibration import Evidence, Reliability
from racer.engine.generate import Generation
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, AutomatonView, StepRecord, Timings
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from tests.test_automaton_view import one_token_match_record
from tests.tiny import own_target, repetitive_prompt, target, tiny_model

EOS = 2
TEXTS = {2: "<|im_end|>", 10: "-", 11: " passport", 12: "\n", 13: " phone", 14: " charger", 15: " tooth",
         16: "brush", 17: " rain", 18: " jacket", 30: " hiking", 31: " boots", 99: " water"}
MATCH = tuple(range(40, 49))                                     # 9 context tokens before the root
BORDERS = tuple(MATCH[k:] for k in range(len(MATCH)))           # the 9 borders, deepest first


def text_of(token: int) -> str:
    return TEXTS.get(token, f"t{token}")


q = quoter(text_of)


def chain(root: int, tokens: tuple[int, ...], source: str, estimate: float = 0.9) -> DraftTree:
    n = len(tokens) + 1
    return DraftTree(tokens=(root, *tokens), parents=tuple(range(-1, n - 1)), depths=tuple(range(n)),
                     sources=("root",) + (source,) * (n - 1), created=tuple(range(n)),
                     estimates=(1.0,) + (estimate,) * (n - 1), evidence=(None,) * n)


def step(tree: DraftTree, accepted: int, bonus: int, *, settings: Settings = Settings(), budget: int = 16,
         proposed: int = 16, view: AutomatonView = AutomatonView(), emitted: tuple[int, ...] | None = None,
         finish: str | None = None) -> StepRecord:
    """A verify step whose first ``accepted`` drafted nodes of the top chain were accepted."""
    path = tuple(range(accepted + 1))  # chains and the hand trees below put the accepted path first
    on = set(path)
    verdicts = tuple(ACCEPTED if i in on else REJECTED if tree.parents[i] in on else NOT_REACHED
                     for i in range(len(tree)))
    drafts = tuple(tree.tokens[i] for i in path[1:])
    out = drafts + (bonus,) if emitted is None else emitted
    picks = tuple((tree.tokens[i + 1] if i + 1 < len(tree) and i < accepted else bonus) if i in on else None
                  for i in range(len(tree)))
    return StepRecord(
        index=7, settings=settings, tree=tree, verdicts=verdicts, target_tokens=picks,
        target_probs=(1.0,) * len(tree), accepted=path, emitted=out,
        emitted_sources=tuple(tree.sources[i] for i in path[1:])[: len(out)] + ("bonus",) * max(0, len(out) - accepted),
        context_len=120, total_tokens=40, forwards=8, timings=Timings(0.001, 0.05, 0.002), automaton=view,
        budget=budget, emitted_drafts=min(accepted, len(out)), bonus_prob=0.85, finished=finish is not None,
        finish_reason=finish, proposed=proposed)


ADAPTIVE = Settings()                                    # adaptive budget on (the app's default)
FIXED = Settings(budget=4, adaptive_budget=False)

CASES = {
    # a 9-token match: retrieval drafts the next 8 tokens of the list, all accepted
    "long match": step(chain(10, (11, 12, 10, 13, 14, 12, 10, 15), "retrieval"), 8, 16, budget=9,
                       view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=((11, 0.9),), cached=((13, 0.3),))),
    # the root never followed the context's last token: the logits cache alone drafts
    "no match": step(DraftTree((10, 11, 13), (-1, 0, 0), (0, 1, 1), ("root", "logits", "logits"), (0, 1, 2),
                               (1.0, 0.6, 0.2), (None,) * 3), 1, 12, budget=3, proposed=3,
                     view=AutomatonView((), (), 300, 10000, offered=(), cached=((11, 0.6), (13, 0.2)))),
    # matched, but its one continuation (0.30) lost to three likelier logits nodes
    "outranked": step(DraftTree((10, 11, 13, 12), (-1, 0, 0, 1), (0, 1, 1, 2),
                                ("root", "logits", "logits", "logits"), (0, 1, 2, 3), (1.0, 0.9, 0.7, 0.8),
                                (None,) * 4), 2, 99, settings=FIXED, budget=4, proposed=4,
                      view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=((30, 0.3),),
                                         cached=((11, 0.9), (13, 0.7)))),
    # the root was never read and nothing matched: no source had a guess
    "unseen token": step(chain(31, (), "logits"), 0, 99, proposed=1,
                         view=AutomatonView((), (), 300, 10000, offered=(), cached=())),
    # the 9 borders of the issue, but nothing follows the match: the root alone, honestly said
    "matched, nothing followed": step(chain(10, (), "logits"), 0, 11, proposed=1,
                                      view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=(), cached=())),
    # the 9 borders of the issue, and the adaptive budget judged a plain step cheaper
    "plain step chosen by the budget": step(chain(10, (), "logits"), 0, 11, budget=1, proposed=16,
                                            view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=((11, 0.35),),
                                                               cached=((11, 0.35), (13, 0.1)))),
    # the same, with the proposal kept for drawing: its guess 11 is the model's own token
    "plain step, proposal drawn": replace(
        step(chain(10, (), "logits"), 0, 11, budget=1, proposed=3,
             view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=((11, 0.35),), cached=((11, 0.35), (13, 0.1)))),
        unverified=DraftTree((10, 11, 13), (-1, 0, 0), (0, 1, 1), ("root", "both", "logits"), (0, 1, 2),
                             (1.0, 0.35, 0.1), (None,) * 3)),
    # the end-of-sequence token is the second accepted draft: the rest never reaches the output
    "eos": step(chain(12, (11, EOS, 13), "retrieval"), 3, 14, budget=4,
                view=AutomatonView(MATCH[:3], BORDERS[-3:], 300, 10000, offered=((11, 0.8),)),
                emitted=(11, EOS), finish="eos"),
    # no border, but the root token alone occurred before: retrieval drafts what followed it
    "root alone": step(chain(10, (11,), "retrieval"), 1, 12, budget=2, proposed=2,
                       view=AutomatonView((), (), 300, 10000, offered=((11, 0.4),), cached=())),
    # the case, with the automaton's graph: a 1-token match, drafted from in retrieval's colour
    "1-token match, drawn": one_token_match_record(),
    # the max-new-tokens limit falls after two of four tokens
    "length limit": step(chain(10, (11, 12, 10), "both"), 3, 13, budget=4, emitted=(11, 12),
                         view=AutomatonView(MATCH, BORDERS, 300, 10000, offered=((11, 0.9),),
                                            cached=((11, 0.9),)),
                         finish="length"),
}


def account(name: str) -> ex.Account:
    return ex.explain(CASES[name], q)


def plain_text(html_caption: str) -> str:
    return html_caption.replace("<br>", " ")


# -- the cases ------------------------------------------------------------------------

def test_long_match_credits_retrieval_with_the_match_and_what_it_drafted():
    a = account("long match")
    r = a.source("retrieval")
    assert (r.reason, r.drafted, r.accepted) == (src.DRAFTED, 8, 8)
    assert "the context's last 9 tokens followed by the root “-” occurred earlier" in r.sentence
    assert "it drafted 8 tokens from what followed there, 8 accepted" in r.sentence
    assert a.source("logits").reason == src.OUTRANKED
    assert a.size.reason == ex.ADAPTIVE and "8 likeliest of the 15 drafted tokens" in a.size.sentence
    assert r.drafted + a.source("logits").drafted == 8   # one unit: the sources' drafted tokens add up
    assert "accepted 8 drafted tokens in a row" in a.verdict


def test_no_match_says_so_and_the_logits_cache_drafts():
    a = account("no match")
    assert a.source("retrieval").reason == src.NO_MATCH
    assert "no match to copy from" in a.source("retrieval").sentence
    assert a.source("logits").reason == src.DRAFTED and a.source("logits").drafted == 2
    assert a.size.reason == ex.ADAPTIVE and "all 2 drafted tokens proposed" in a.size.sentence


def test_a_match_outranked_by_likelier_nodes_says_what_it_offered_and_why_it_lost():
    a = account("outranked")
    r = a.source("retrieval")
    assert r.reason == src.OUTRANKED and r.drafted == 0
    assert "last 9 tokens followed by the root “-” occurred earlier" in r.sentence
    assert "1 continuation (the likeliest “␣hiking”, estimated 0.30)" in r.sentence
    assert "the tree's 3 drafted tokens went to likelier guesses (estimated 0.70 or more" in r.sentence
    assert a.size.reason == ex.BUDGET_FULL and "budget of 4 nodes (the root and 3 drafted tokens)" in a.size.sentence


def test_a_one_token_match_is_named_as_such_not_as_no_match():
    r = account("root alone").source("retrieval")
    assert r.reason == src.DRAFTED and r.drafted == 1
    assert "the root itself occurred earlier in the text (a 1-token match)" in r.sentence
    assert "no match" not in r.sentence


def test_an_unseen_root_has_nothing_cached_and_nothing_was_drafted():
    a = account("unseen token")
    assert a.source("logits").reason == src.UNSEEN and "“␣boots” has no cached successors" in a.source(
        "logits").sentence
    assert a.source("retrieval").reason == src.NO_MATCH
    assert a.size.reason == ex.NOTHING_TO_DRAFT and a.size.plain


def test_matched_borders_never_read_as_no_match():
    """The issue's contradiction: 9 matched borders, yet "no earlier match"."""
    for name in ("matched, nothing followed", "plain step chosen by the budget"):
        a = account(name)
        r = a.source("retrieval")
        assert r.reason != src.NO_MATCH and "occurred earlier in the text" in r.sentence
        shown = plain_text(caption(CASES[name], text_of))
        assert "occurred earlier in the text" in shown
        assert "no earlier match" not in shown and "no match" not in shown
    assert account("matched, nothing followed").source("retrieval").reason == src.NOTHING_FOLLOWED


def test_a_plain_step_chosen_by_the_adaptive_budget_says_so():
    a = account("plain step chosen by the budget")
    assert a.size.reason == ex.ADAPTIVE_PLAIN and a.size.plain
    assert "The adaptive budget chose a plain step" in a.size.sentence
    assert "the 15 drafted tokens proposed (the likeliest estimated 0.35) were not expected to pay" in a.size.sentence
    assert {s.reason for s in a.sources} == {src.PLAIN_STEP}
    assert "Nothing was drafted" not in plain_text(caption(CASES["plain step chosen by the budget"], text_of))


def test_eos_among_the_drafts_ends_the_answer():
    a = account("eos")
    assert a.ending == ("The end-of-sequence token came among the accepted drafts: the answer is complete. "
                        "Of the 4 tokens this forward yielded (accepted drafts and the model's own), 2 reached "
                        "the output.")
    ended = ex.explain(step(chain(10, (11,), "retrieval"), 1, EOS, emitted=(11, EOS), finish="eos"), q)
    assert ended.ending == "The end-of-sequence token came as the model's own token: the answer is complete."


def test_the_length_limit_cuts_the_step():
    a = account("length limit")
    assert a.ending == ("The max-new-tokens limit (128) was reached. Of the 4 tokens this forward yielded "
                        "(accepted drafts and the model's own), 2 reached the output.")
    assert a.tally.startswith("This forward added 2 tokens to the output")   # the same 2, in the same words
    assert a.source("retrieval").drafted == 3 and a.source("logits").drafted == 3  # "both" counts for each
    assert "(3 of them retrieval proposed too)" in a.source("logits").sentence


def test_settings_that_leave_no_room_to_draft_are_named():
    root = chain(10, (), "logits")
    depth0 = ex.explain(step(root, 0, 11, settings=Settings(depth=0), budget=1, proposed=0), q)
    assert depth0.size.reason == ex.DEPTH_ZERO and {s.reason for s in depth0.sources} == {src.NOT_ASKED}
    one = ex.explain(step(root, 0, 11, settings=Settings(budget=1), budget=1, proposed=0), q)
    assert one.size.reason == ex.BUDGET_ONE
    full = ex.explain(step(root, 0, 11, budget=1, proposed=0), q)
    assert full.size.reason == ex.CONTEXT_FULL
    plain = ex.explain(step(root, 0, 11, settings=Settings(drafter="plain"), proposed=1), q)
    assert plain.size.reason == ex.PLAIN_DRAFTER and plain.sources == ()
    lookup = ex.explain(step(root, 0, 11, settings=Settings(drafter="prompt_lookup"), proposed=1), q)
    assert [s.reason for s in lookup.sources] == [src.FOUND_NOTHING]


def test_the_prefill_is_the_prompt_in_one_forward_with_no_speedup():
    prefill = StepRecord(index=0, settings=Settings(), tree=None, verdicts=(), target_tokens=(), target_probs=(),
                         accepted=(), emitted=(11,), emitted_sources=("bonus",), context_len=0, total_tokens=1,
                         forwards=1, timings=Timings(0.0, 0.3, 0.01), budget=1)
    a = ex.explain(prefill, q, prompt_len=81)
    assert a.size.reason == ex.PREFILL
    assert "read the 81-token prompt in one forward pass (the prefill)" in a.size.sentence
    page = outcome_html(prefill, text_of, speedup=0.77, prompt_len=81)
    assert a.size.sentence in page and "speedup" not in page and "0.77" not in page
    assert "prompt tokens" in page
    assert a.size.sentence in narration(prefill, text_of, prompt_len=81)


# -- every view says the same ------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_every_view_tells_the_accounts_story(name):
    record = CASES[name]
    a = ex.explain(record, q)
    story = narration(record, text_of)
    outcome = outcome_html(record, text_of)
    panel = automaton_html(record, text_of)
    for sentence in a.story():
        assert sentence in story, (name, sentence)
    for sentence in (a.size.sentence, a.verdict, a.ending):
        assert sentence in outcome, (name, sentence)
    assert a.source("retrieval").sentence in panel
    graph = automaton_figure(record, text_of)   # the automaton graph holds the same account
    notes = " ".join(ann.text for ann in graph.layout.annotations)
    if a.source("retrieval").drafted and record.automaton.trie is not None:
        assert "nothing to draft" not in notes, name
        drawn = [t for t in graph.data if t.name in ("drafted by retrieval", "drafted by both sources")]
        assert sum(len(t.x) for t in drawn) >= 1, name
    if record.unverified is not None:   # drawn greyed, and every panel says so
        assert "drawn greyed" in a.size.sentence and "matched one of its guesses" in a.size.sentence
        assert "not verified" in plain_text(" ".join(ann.text for ann in tree_figure(record, text_of).layout.annotations))
    if len(record.tree) == 1:  # the root alone: the caption says why, in the same words
        shown = plain_text(" ".join(ann.text for ann in tree_figure(record, text_of).layout.annotations))
        for sentence in [a.size.sentence] + [s.sentence for s in a.shortfalls]:
            assert sentence in shown, (name, sentence)


# -- hover and calibration ------------------------------------------------------------------

def test_the_hover_reads_estimate_then_verdict_then_evidence():
    tree = DraftTree((10, 11, 13), (-1, 0, 0), (0, 1, 1), ("root", "both", "logits"), (0, 1, 2), (1.0, 0.72, 0.2),
                     (None, Evidence(rank=0, prob=0.81, age=1, match=9, count=3, total=3), Evidence(rank=1, prob=0.1)))
    record = step(tree, 1, 12, budget=3, proposed=3)
    nodes = drawn_nodes(record)
    hover = node_hover(nodes[1], text_of(11))
    assert "estimated 0.72 · accepted" in hover
    assert "cached #1 at p=0.81 · followed a 9-token match 3 of 3 times" in hover
    assert "estimated 0.20 · rejected" in node_hover(nodes[2], text_of(13))
    assert "estimated" not in node_hover(nodes[0], text_of(10))  # the root is not a guess


def test_reliability_bins_estimates_against_outcomes_and_the_figure_plots_them():
    r = Reliability(bins=10)
    tree = DraftTree((10, 11, 13, 12), (-1, 0, 0, 1), (0, 1, 1, 2), ("root", "logits", "logits", "logits"),
                     (0, 1, 2, 3), (1.0, 0.85, 0.15, 0.82), (None,) * 4)
    for _ in range(3):
        r.add_step(tree, (0, 1))  # 11 accepted, 13 and 12 rejected (12's parent 11 was accepted)
    bins = r.bins()
    assert [(round(b.low, 1), b.tested, b.observed) for b in bins] == [(0.1, 3, 0.0), (0.8, 6, 0.5)]
    assert bins[1].estimated == pytest.approx((0.85 + 0.82) / 2)
    fig = calibration_figure(bins)
    diagonal, points = fig.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    assert list(points.y) == [0.0, 0.5] and points.marker.size[1] > points.marker.size[0]
    assert "9 tested nodes" in fig.layout.title.text
    assert calibration_figure([]).layout.annotations[0].text.startswith("Fills in")


# -- the facts, from real generations -------------------------------------------------------

def test_every_setting_changed_between_steps_is_named_in_the_record(one_thread):
    tm = target(tiny_model("llama", 0))
    gen = Generation(tm, repetitive_prompt(0), Settings(max_new_tokens=400), inspect=True)
    gen.step()
    gen.step()
    gen.settings = gen.settings.with_changes(width=3, depth=5, window=4)
    record = gen.step()
    assert record.changed == "tree width 8 → 3, tree depth 12 → 5, retrieval window 10 → 4"
    assert gen.step().changed == ""


def test_the_status_line_names_every_pending_change():
    """Sliders report one at a time; the status names all that changed since the last step."""
    session = Session()
    session.generation = SimpleNamespace(settings=Settings(), finished=False)
    assert "tree width 8 → 3" in session.apply(Settings(width=3))
    assert "tree width 8 → 3, tree depth 12 → 5" in session.apply(Settings(width=3, depth=5))
    note = session.apply(Settings(width=3, depth=5, window=4))
    assert "tree width 8 → 3, tree depth 12 → 5, retrieval window 10 → 4; applies from the next step" in note
    assert "No change pending" in session.apply(Settings())


def test_a_root_alone_is_explained_by_what_the_sources_offered(one_thread):
    """On real (tiny) generations: whatever the settings, a step that verified the root
    alone never says "no source had a guess" while a source offered one, nor "no match"
    while the automaton matched."""
    tm = target(tiny_model("llama", 0))
    seen = set()
    for settings in (Settings(max_new_tokens=40), Settings(max_new_tokens=40, budget=2),
                     Settings(max_new_tokens=40, adaptive_budget=False, budget=3, width=1)):
        gen = Generation(tm, repetitive_prompt(1), settings, inspect=True)  # as the page's session runs it
        for record in gen.steps():
            if record.tree is None:
                continue
            a = ex.explain(record, q)
            view = record.automaton
            seen.add(a.size.reason)
            if a.size.reason == ex.NOTHING_TO_DRAFT:
                assert not view.offered and not view.cached
            if view.borders:
                assert a.source("retrieval").reason != src.NO_MATCH
            if a.source("retrieval").reason == src.DRAFTED:
                assert view.borders or view.offered   # a border, or the root token alone
            assert a.source("logits").drafted + a.source("retrieval").drafted >= len(record.tree) - 1
    assert len(seen) >= 2


def test_no_speedup_is_claimed_at_the_prefill(one_thread, monkeypatch):
    import functools

    import components.state
    from racer.measure.baseline import BaselineCache, LiveBaseline
    # a cache of its own: another test's plain timeline of the same tiny prompt must not be reused
    monkeypatch.setattr(components.state, "LiveBaseline", functools.partial(LiveBaseline, cache=BaselineCache()))
    tm = target(tiny_model("llama", 0))
    session = Session()
    session.settings = Settings(adaptive_budget=False)  # trees every step, whatever the machine's speed
    prompt = repetitive_prompt(0)
    session.start(tm, "a prompt", prompt)
    for _ in range(3):
        session.step(str)
    assert session.baseline is not None and session.stats[0].speedup is None  # the prefill
    assert all(s.speedup is not None for s in session.stats[1:])
    assert sum(b.tested for b in session.reliability.bins()) > 0  # the calibration chart has data


def test_a_re_checked_step_says_so_in_the_narration_and_the_status_line():
    """The guard's one-token forward is named where it happened and counted for the run."""
    from components.explore import Handlers
    from components.state import Session
    tm = own_target(tiny_model("llama", 0))  # not the cached one: its bound changes
    tm.use_error_bound(1e9)   # every pick a near-tie
    session = Session()
    session.settings = Settings(max_new_tokens=12, adaptive_budget=False)
    session.start(tm, "tiny prompt", repetitive_prompt(1))
    while not session.finished:
        session.step(str)
    checked = [r for r in session.records if r.rechecked]
    assert checked and all(ex.RECHECKED in ex.explain(r, q).verdict for r in checked)
    summary = Handlers(tm, "tiny", "")._summary(session)
    assert f"{len(checked)} near-tie" in summary and "re-decided by a one-token forward" in summary
