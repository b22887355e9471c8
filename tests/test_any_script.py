"""Issue 23, any script: token labels that the bidi algorithm cannot garble, characters
split over tokens shown joined where the tokens sit together, and an emoji sequence
(zero-width joiners, a skin tone) drawn as one glyph, in one span.

Before: a Hebrew label holding a stray byte, "י<0xD7>", showed as "0>יxD7>" (the
byte's digits pulled into the Hebrew run); 👩🏽‍💻 over four tokens was drawn as 👩, a
brown square and 💻, one span each.
"""
from __future__ import annotations

import html
import re
from dataclasses import replace

from components.figures.labels import left_cut, text_width, visible_cut
from components.figures.text import automaton_html, generated_html
from components.figures.tokens import LRI, PDI, isolated, key_html, label, tree_texts, visible
from components.figures.tree import node_hover, tree_figure, tree_words_html
from components.figures.tree_layout import drawn_nodes
from components.state import TokenMark
from racer.engine.records import ACCEPTED, REJECTED, AutomatonView, StepRecord
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from racer.model.token_text import TokenText, glyphs
from tests.test_token_text import ByteLevelTokenizer

YOD_AND_LEAD = "י".encode() + "ל".encode()[:1]      # a whole yod, then the lamed's first byte
LAMED_END = "ל".encode()[1:] + "ום".encode()         # the lamed's second byte, then "ום"
WOMAN_TECH = "👩🏽‍💻"                                   # woman, skin tone, zero-width joiner, laptop
WOMAN_PIECES = [WOMAN_TECH.encode()[a:b] for a, b in ((0, 3), (3, 6), (6, 11), (11, 15))]


def byte_of(text: str) -> str:
    """The <0xNN> runs of a label, as a list."""
    return re.findall(r"(?:<0x[0-9A-F]{2}>)+", text)


def test_a_hebrew_label_with_a_byte_token_is_isolated_and_its_bytes_stay_whole():
    tt = TokenText(ByteLevelTokenizer([YOD_AND_LEAD]))
    alone = tt(1)
    assert alone == "י<0xD7>"
    shown = html.unescape(label(alone))
    # the whole label left to right, and the byte in an isolate of its own, in one piece
    assert shown == LRI + "י" + LRI + "<0xD7>" + PDI + PDI
    assert shown.count(LRI) == shown.count(PDI) == 2
    # shortened for room, a label is cut before a byte, never inside one
    assert byte_of(visible_cut("יי<0xD7><0x99>", 6)) in (["<0xD7>"], [])
    assert "<0xD7" not in left_cut("<0xD7>abc", 3).replace("<0xD7>", "")
    # text that cannot reorder comes back as it was (English labels are untouched)
    assert isolated("␣the<0xE2>") == "␣the<0xE2>" and label("<b>") == "&lt;b&gt;"


def test_a_bidi_override_inside_a_token_is_shown_not_obeyed():
    assert visible("a\u202eb") == "a\\u202eb"
    assert "\u202e" not in label("\u202eשלום")


def hebrew_record() -> tuple[StepRecord, TokenText]:
    """A tree of yod+lead byte -> lamed's end, and a rejected sibling."""
    tt = TokenText(ByteLevelTokenizer([" ".encode(), YOD_AND_LEAD, LAMED_END, "!".encode()]))
    tree = DraftTree((1, 2, 3, 4), (-1, 0, 1, 0), (0, 1, 2, 1), ("root", "retrieval", "retrieval", "logits"))
    record = StepRecord(index=1, settings=Settings(budget=4), tree=tree,
                        verdicts=(ACCEPTED, ACCEPTED, ACCEPTED, REJECTED), target_tokens=(2, 3, 4, None),
                        target_probs=(1.0, 0.9, 0.8, 0.1), accepted=(0, 1, 2), emitted=(2, 3, 4),
                        emitted_sources=("retrieval", "retrieval", "bonus"), context_len=5, total_tokens=4,
                        forwards=2, budget=4)
    return record, tt


def test_the_tree_labels_in_hebrew_read_left_to_right_with_the_character_joined():
    record, tt = hebrew_record()
    nodes = drawn_nodes(record)
    texts = tree_texts(tt, [n.token for n in nodes], [n.parent for n in nodes])
    # the node that finishes the lamed shows it whole; its parent keeps its own stray byte
    assert texts[1] == "י<0xD7>" and texts[2] == "לום"
    fig = tree_figure(record, tt)
    drawn = [html.unescape(re.sub(r"</?b>", "", t)) for t in next(t for t in fig.data if t.name == "labels").text]
    byte_label = next(t for t in drawn if "0xD7" in t)
    assert byte_label.startswith(LRI) and byte_label.endswith(PDI)
    assert LRI + "<0xD7>" + PDI in byte_label         # the byte part in one isolate, not split
    assert any(t == LRI + "לום" + PDI for t in drawn)
    hover = html.unescape(node_hover(nodes[2], texts[2], tt(3)))
    assert "the token alone" in hover and "<0x9C>" in hover   # the hover still tells the token's own bytes
    words = html.unescape(tree_words_html(record, tt))
    assert "Accepted:" in words and "לום" in words and "Rejected: 1" in words


def test_a_zwj_emoji_sequence_renders_joined_in_one_span():
    assert glyphs(WOMAN_PIECES) == [(0, 4, WOMAN_TECH)]
    tt = TokenText(ByteLevelTokenizer(WOMAN_PIECES + [b" ok"]))
    marks = [TokenMark(t, tt.piece(t), source, step) for t, source, step in
             ((1, "logits", 1), (2, "logits", 1), (3, "retrieval", 2), (4, "bonus", 2), (5, "bonus", 3))]
    page = generated_html(marks, highlight_step=2)
    spans = re.findall(r'<span class="tok tok-\w+[^"]*"[^>]*>([^<]*)</span>', page)
    assert WOMAN_TECH in spans                      # the four tokens, one span
    assert not any(s and s in WOMAN_TECH and s != WOMAN_TECH for s in spans)   # and no part of it apart
    assert "4 tokens make this text" in page        # its tooltip names each token
    # a tree path of the same tokens: the node that finishes the glyph shows it whole
    assert tree_texts(tt, [1, 2, 3, 4], [-1, 0, 1, 2])[-1] == WOMAN_TECH
    assert text_width(WOMAN_TECH, 12) < 3 * text_width("W", 12)   # measured as one glyph, not seven


def test_the_automatons_chips_join_a_character_split_over_tokens():
    tt = TokenText(ByteLevelTokenizer(["ש".encode()[:1], "ש".encode()[1:], "x".encode()]))
    record, _ = hebrew_record()
    record = replace(record, automaton=AutomatonView(matched=(1, 2), borders=((1, 2),), node_count=3, capacity=10),
                     tree=DraftTree((3,), (-1,), (0,), ("root",)), verdicts=(ACCEPTED,), accepted=(0,))
    shown = automaton_html(record, tt)
    assert f'<span class="chip ctx">{LRI}ש{PDI}</span>' in shown   # one chip, not "<0xD7>" and "<0xA9>"


def test_the_key_explains_every_mark_a_label_uses():
    key = html.unescape(key_html(["<|im_start|>", "<|im_end|>"]))
    for mark in ("␣", "↵", "<0xD7>", "<|im_end|>", "<|im_start|>"):
        assert mark in key
