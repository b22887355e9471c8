"""Token text in every script: pieces are joined as bytes, a character split over
tokens belongs to the token that completes it, a lone piece reads as its bytes.

Decoding each token alone (what the page did) showed Hebrew, Arabic, CJK and emoji
as "�" in the tree labels, the outcome, the narration and the coloured text.
"""
from __future__ import annotations

import pytest
from tokenizers import decoders

from components.state import TokenMark, marks_of
from components.figures.text import generated_html
from components.figures.tokens import quoter
from racer.model import token_text
from racer.model.token_text import TokenText, alone, byte_of_char, spans

SAMPLES = {
    "hebrew": "שלום עולם",
    "arabic": "مرحبا بالعالم",
    "cjk": "日本語の文章",
    "emoji with a skin tone": "👍🏽",
    "family (zero-width joiners)": "👨‍👩‍👧",
    "combining marks": "e\u0301 a\u0308 n\u0303",
    "latin": "plain text, too",
}


def byte_chunks(text: str, size: int) -> list[bytes]:
    data = text.encode("utf-8")
    return [data[i:i + size] for i in range(0, len(data), size)]


class ByteLevelTokenizer:
    """A byte-level tokenizer over fixed pieces, as SmolLM2's is: each id stands for
    bytes, written in the byte-level alphabet."""
    all_special_ids = [0]

    def __init__(self, pieces: list[bytes]):
        char_of_byte = {b: c for c, b in byte_of_char().items()}
        self.names = ["<|im_end|>"] + ["".join(char_of_byte[b] for b in p) for p in pieces]
        self.pieces = [b"<|im_end|>"] + pieces
        self.backend_tokenizer = type("Backend", (), {"decoder": decoders.ByteLevel()})()

    def convert_ids_to_tokens(self, token: int) -> str:
        return self.names[token]

    def decode(self, ids, skip_special_tokens=False) -> str:
        # what a per-token decode gives: a split character becomes U+FFFD
        return b"".join(self.pieces[i] for i in ids).decode("utf-8", errors="replace")


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_run_split_anywhere_reads_whole(name, size):
    text = SAMPLES[name]
    pieces = byte_chunks(text, size)
    texts = spans(pieces)
    assert "".join(texts) == text and "\ufffd" not in "".join(texts)
    tt = TokenText(ByteLevelTokenizer(pieces))
    ids = list(range(1, len(pieces) + 1))
    assert tt.join(ids) == text and tt.spans(ids) == texts


def test_a_split_character_belongs_to_the_token_that_completes_it():
    shin, lamed = "ש".encode(), "ל".encode()                    # two bytes each
    assert spans([shin[:1], shin[1:] + lamed[:1], lamed[1:], b"!"]) == ["", "ש", "ל", "!"]
    thumbs = "👍🏽".encode()                                       # 4 + 4 bytes
    assert spans([thumbs[:3], thumbs[3:6], thumbs[6:]]) == ["", "👍", "🏽"]


def test_a_lone_piece_reads_as_its_bytes():
    assert alone("👍".encode()[:2]) == "<0xF0><0x9F>"
    assert alone(b" \xe6") == " <0xE6>"
    assert spans([b"ok", b"\xf0\x9f"]) == ["ok", "<0xF0><0x9F>"]      # cut at the end of a run
    tt = TokenText(ByteLevelTokenizer(byte_chunks("日本", 2)))
    assert [tt(i) for i in (1, 2, 3)] == ["<0xE6><0x97>", "<0xA5><0xE6>", "<0x9C><0xAC>"]
    assert tt(0) == "<|im_end|>"                                     # special tokens as their text


def test_sentencepiece_byte_tokens_are_bytes():
    class ByteFallback:
        all_special_ids: list[int] = []
        names = ["<0xD7>", "<0xA9>", "▁hi"]

        def convert_ids_to_tokens(self, token):
            return self.names[token]

        def decode(self, ids, skip_special_tokens=False):
            return "".join(" hi" if i == 2 else "\ufffd" for i in ids)
    tt = TokenText(ByteFallback())
    assert tt.join([0, 1, 2]) == "ש hi" and tt.spans([0, 1]) == ["", "ש"]


def test_a_tokenizer_that_only_decodes_keeps_its_text():
    class DecodeOnly:
        def decode(self, ids, skip_special_tokens=False):
            return " ".join(f"<{i}>" for i in ids)
    tt = TokenText(DecodeOnly())
    assert tt(7) == "<7>" and tt.join([1, 2]) == "<1><2>"
    assert token_text.without_model()(5) == "<5>"


def test_sentences_and_the_coloured_text_read_every_script():
    text = SAMPLES["hebrew"] + " " + SAMPLES["family (zero-width joiners)"]
    pieces = byte_chunks(text, 3)
    tt = TokenText(ByteLevelTokenizer(pieces))
    ids = list(range(1, len(pieces) + 1))
    assert "\ufffd" not in quoter(tt)(ids) and "שלום" in quoter(tt)(ids)
    marks = [TokenMark(t, tt.piece(t), "bonus", i // 4) for i, t in enumerate(ids)]
    page = generated_html(marks)
    # issue 23: the family is one grapheme cluster, so one span (it was three: 👨, 👩, 👧 apart)
    assert "\ufffd" not in page and ">לו</span>" in page and ">👨\u200d👩\u200d👧</span>" in page
    # a past step cut mid-character shows that character's bytes, not a replacement sign
    assert "\ufffd" not in generated_html(marks, upto_step=0)


@pytest.mark.real_model  # the real SmolLM2 tokenizer
def test_the_real_tokenizer_reads_every_script(smol_tokenizer):
    tt = TokenText(smol_tokenizer)
    for text in SAMPLES.values():
        ids = smol_tokenizer.encode(text, add_special_tokens=False)
        assert tt.join(ids) == smol_tokenizer.decode(ids)
        assert "".join(tt.spans(ids)) == smol_tokenizer.decode(ids)
        assert all("\ufffd" not in tt(i) for i in ids)


@pytest.fixture(scope="module")
def smol_tokenizer():
    from tests.app_client import real_target
    return real_target()[0].tokenizer


def test_marks_carry_bytes_even_from_a_plain_callable():
    record = type("R", (), {"emitted": (3, 4), "emitted_sources": ("bonus", "logits"), "index": 2})()
    marks = marks_of(record, lambda t: f"<{t}>")
    assert [m.piece for m in marks] == [b"<3>", b"<4>"]


MIXED = ("Translate, keeping every symbol: שלום עולם, مرحبا بالعالم, 日本語の文章, 👍🏽 👨‍👩‍👧, "
         "café naïve. Then repeat: שלום עולם, مرحبا بالعالم, 日本語の文章, 👍🏽 👨‍👩‍👧.")


@pytest.mark.real_model  # every Explore view over the real model, on a prompt in five scripts
def test_every_explore_view_reads_every_script(smol_tokenizer):
    """Tree labels, the outcome, the narration, the coloured text, the automaton and
    the mask of each step: no replacement sign anywhere."""
    import json

    import plotly.graph_objects as go

    from app import EXPLORE_VIEWS
    from components.explore import StepView
    from components.state import Session
    from racer.model.loading import prompt_ids
    from racer.engine.settings import Settings
    from tests.app_client import real_target
    target = real_target()[0]
    session = Session()
    session.settings = Settings(max_new_tokens=40, adaptive_budget=False)
    session.measure = False
    session.start(target, MIXED, prompt_ids(target.tokenizer, MIXED))
    seen = []
    while not session.generation.finished:
        record = session.step(target.token_text)
        view = StepView(session, record, target.token_text)
        for name, build in EXPLORE_VIEWS.items():
            shown = build(view)
            text = json.dumps(shown.to_plotly_json(), ensure_ascii=False, default=str) \
                if isinstance(shown, go.Figure) else str(shown)
            assert "\ufffd" not in text, f"step {record.index}, {name}"
            seen.append(text)
    assert any(ch in "".join(seen) for ch in "שمر日👍")  # the scripts really reached the views
