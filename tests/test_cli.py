"""python -m racer: text plus MAT / forwards / tokens per second; clear errors."""
import pytest

from racer.__main__ import main

pytestmark = pytest.mark.real_model  # loads the real SmolLM2 model


def test_cli_prints_text_and_counters(capsys):
    assert main(["Repeat exactly: red, green, blue, red, green, blue", "--max-new-tokens", "12",
                 "--backend", "torch"]) == 0   # the flag, and no 10 s of timing the backends
    out, err = capsys.readouterr()
    assert "red" in out
    assert "12 tokens in" in err and "MAT" in err and "tokens/s" in err


def test_cli_refuses_bad_settings_with_one_line(capsys):
    assert main(["hello", "--width", "0"]) == 2
    assert "error: tree width must be between 1 and 64" in capsys.readouterr().err


def test_cli_refuses_an_empty_prompt(capsys):
    assert main(["   "]) == 2
    assert "The prompt is empty" in capsys.readouterr().err


def test_cli_refuses_a_precision_this_machine_cannot_run(capsys):
    assert main(["hello", "--precision", "float16"]) == 2
    assert "error: float16 runs on CUDA only" in capsys.readouterr().err
