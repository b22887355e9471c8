"""Tune on your own prompts: the file parser (``racer.bench.data.parse_prompts``) takes
Spec-Bench JSON lines, {"prompt": ...} lines and blank-line separated text, and answers
every bad file with one sentence naming the line; through the Tune handler a bad file
ends in that sentence and the next sweep runs (the session stays usable)."""
from __future__ import annotations

import pytest

from components.tune import TuneHandlers, TuneState, source_visibility, upload_path
from racer.bench.data import MAX_UPLOAD_BYTES, MAX_UPLOAD_PROMPTS, parse_prompts, read_prompt_file
from racer.errors import UserError
from tests.app_client import controls


def test_good_files_give_their_prompts():
    spec = b'{"question_id": 1, "category": "qa", "turns": ["What is 2+2?", "And 3+3?"]}\n\n{"prompt": "Hi"}\n'
    assert parse_prompts("mine.jsonl", spec) == ["What is 2+2?", "Hi"]
    text = "First line\nsecond line\n\n\n  \nSecond prompt\n".encode()
    assert parse_prompts("mine.TXT", text) == ["First line\nsecond line", "Second prompt"]
    assert parse_prompts("bom.txt", "\ufeffשלום עולם".encode("utf-8")) == ["שלום עולם"]
    many = "\n\n".join(f"prompt {i}" for i in range(MAX_UPLOAD_PROMPTS)).encode()
    assert len(parse_prompts("many.txt", many)) == MAX_UPLOAD_PROMPTS


@pytest.mark.parametrize("name, data, sentence", [
    ("empty.jsonl", b"", "The file is empty"),
    ("blank.txt", b"\n \n\t\n", "The file is empty"),
    ("bad.jsonl", b'{"prompt": "ok"}\n{not json\n', "Line 2 is not JSON"),
    ("noprompt.jsonl", b'{"prompt": "ok"}\n\n{"question": "where?"}\n', "Line 3 has no prompt"),
    ("emptyturns.jsonl", b'{"turns": []}\n', "Line 1 has no prompt"),
    ("list.jsonl", b'["a list"]\n', "Line 1 has no prompt"),
    ("binary.txt", b"hello\nwor\x00ld", "The file is binary (line 2 holds a zero byte)"),
    ("latin1.txt", b"ok\ncaf\xe9\n", "Line 2 of the file is not UTF-8"),
    ("big.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "MB; a prompt file may be at most"),
    ("too_many.txt", "\n\n".join(["p"] * (MAX_UPLOAD_PROMPTS + 1)).encode(), f"at most {MAX_UPLOAD_PROMPTS}"),
    ("prompts.csv", b"a,b\n", "is not a .jsonl or .txt file"),
])
def test_each_bad_file_gets_one_sentence(name, data, sentence):
    with pytest.raises(UserError) as caught:
        parse_prompts(name, data)
    message = str(caught.value)
    assert sentence in message and message.count(". ") <= 1 and "\n" not in message


def test_a_ten_megabyte_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.jsonl"
    with open(big, "wb") as f:
        f.truncate(10 * 1024 * 1024)
    monkeypatch.setattr(type(big), "read_bytes", lambda self: pytest.fail("read a 10 MB file"))
    with pytest.raises(UserError, match="The file is 10.5 MB"):
        read_prompt_file(big)
    with pytest.raises(UserError, match="could not be read"):
        read_prompt_file(tmp_path / "gone.txt")


def test_the_upload_box_shows_only_for_a_file_source():
    category, count, upload = source_visibility("upload")
    assert upload.visible is True and category.visible is False and count.visible is False
    assert source_visibility("category")[2].visible is False
    assert upload_path(None) is None and upload_path({"path": "/x/a.txt"}) == "/x/a.txt"


def test_a_bad_upload_ends_in_a_sentence_and_the_next_sweep_runs(tmp_path, one_thread, monkeypatch):
    from components import tune as tune_handlers
    from tests.tiny import target, tiny_model
    # the tiny model's prompts are token ids written as numbers
    monkeypatch.setattr(tune_handlers, "checked_prompt_ids", lambda t, text: [int(w) for w in text.split()])
    tiny = target(tiny_model(max_positions=256, init_std=0.02))
    handlers, state = TuneHandlers(tiny, ""), TuneState()
    explore = controls(max_new_tokens=4, adaptive_budget=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "ok"}\nnot json\n')

    def tune(upload):
        return list(handlers.on_tune(state, "", "upload", "qa", 1, 4, [2], [1], [], [], 1, "auto", upload,
                                     **explore))
    frames = tune(str(bad))
    assert len(frames) == 1 and "Line 2 is not JSON" in frames[0]["status"]
    assert "Upload a .jsonl or .txt file" in tune(None)[0]["status"]
    good = tmp_path / "good.txt"
    good.write_text("5 6 7 5 6 7 5 6 7\n\n9 10 9 10 9 10\n", encoding="utf-8")
    *_, last = tune(str(good))
    assert "Done: 1 settings × 2 prompts" in last["status"] and "2 prompts from good.txt" in last["status"]
    assert state.result is not None and state.result.prompt_count == 2
