"""One user-error type: a ``racer.UserError`` reaches the page as its own sentence; any
other exception is a bug, logged with its traceback, and the page says that something
went wrong and what to do, never passing the bug off as advice. No model needed."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from components import compare as compare_handlers

from components import explore as handlers

from components import tune as tune_handlers
from components.compare import CompareHandlers
from components.explore import Handlers
from components.messages import error_message
from components.state import Session
from components.tune import TuneHandlers, TuneState
from racer import UserError
from racer.model.loading import ModelLoadError
from racer.engine.settings import Settings
from racer.model.token_text import without_model
from tests.app_client import controls


def test_user_errors_speak_for_themselves_and_bugs_are_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="racer_explorer"):
        assert error_message(UserError("The prompt is empty."), "engine", "Reset.") == "The prompt is empty."
        assert not caplog.records
        try:
            {}["width"]
        except KeyError as bug:
            message = error_message(bug, "engine", "Press Reset to start again.")
    assert message.startswith("Something went wrong in the engine (KeyError: 'width'). Press Reset to start")
    assert "please report it" in message
    assert len(caplog.records) == 1 and "Traceback" in caplog.text and "{}[\"width\"]" in caplog.text


def test_the_engine_and_loader_raise_user_errors():
    assert issubclass(ModelLoadError, UserError) and issubclass(UserError, ValueError)
    with pytest.raises(UserError, match="tree width must be between 1 and 64"):
        Settings(width=0)


def boom(*args, **kwargs):
    raise ValueError("a message from a bug")  # a ValueError that is not a UserError


@pytest.mark.parametrize("module", [handlers, compare_handlers, tune_handlers])
def test_a_bug_in_any_tab_is_logged_and_called_a_bug(module, monkeypatch, caplog):
    monkeypatch.setattr(module, "read_controls", boom)
    # reading the controls fails before the model is used; the page still labels tokens
    target = SimpleNamespace(token_text=without_model())
    with caplog.at_level(logging.ERROR, logger="racer_explorer"):
        if module is handlers:
            line = Handlers(target, "m", "").on_step(Session(), "hi", **controls())["status"]
            where = "engine"
        elif module is compare_handlers:
            *_, last = CompareHandlers(target, "").on_compare(Session(), "hi", 8, ["racer"], **controls())
            line = last["status"]
            where = "comparison"
        else:
            *_, last = TuneHandlers(target, "").on_tune(TuneState(), "hi", "current", "qa", 1, 8,
                                                        [4], [2], [], [], **controls())
            line = last["status"]
            where = "sweep"
    assert f"Something went wrong in the {where} (ValueError: a message from a bug)" in line
    assert "Traceback" in caplog.text


@pytest.mark.parametrize("module", [handlers, compare_handlers, tune_handlers])
def test_a_user_error_in_any_tab_is_shown_as_it_is(module, caplog):
    with caplog.at_level(logging.ERROR, logger="racer_explorer"):
        if module is handlers:
            line = Handlers(None, "m", "it is missing").on_step(Session(), "hi", **controls())["status"]
        elif module is compare_handlers:
            *_, last = CompareHandlers(None, "it is missing").on_compare(Session(), "hi", 8, ["racer"],
                                                                         **controls())
            line = last["status"]
        else:
            tune = TuneHandlers(None, "it is missing")
            *_, last = tune.on_tune(TuneState(), "hi", "current", "qa", 1, 8, [4], [2], [], [], **controls())
            line = last["status"]
    assert "No model is loaded: it is missing" in line and "went wrong" not in line
    assert not caplog.records


def test_handlers_report_a_missing_model_instead_of_failing():
    from components.controls import read_controls
    from app import EXPLORE_VIEWS

    views = Handlers(None, "m", "no weights here", EXPLORE_VIEWS).on_step(Session(), "hi", **controls(measure=True))
    assert "No model is loaded: no weights here" in views["status"]  # the views still render, empty
    assert views["tree"].layout.annotations[0].text.startswith("No step yet")
    assert "Nothing generated yet" in views["text"]
    assert read_controls(controls(measure=True)) == (Settings(max_new_tokens=24, adaptive_budget=False), [])
