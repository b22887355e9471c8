"""Pieces of the RACER Explorer UI that are not layout.

Figure and HTML builders are pure: step records and plain values in, a Plotly figure
or an HTML string out (``charts``, ``tree_view`` and ``tree_layout``,
``automaton_view`` and ``automaton_layout``, ``text_view``, ``race_view``,
``tune_view``, ``lesson``). The handlers drive the engine: ``handlers`` (the Explore
tab, over a ``session``), ``compare_handlers`` (``racer.measure.compare``), ``tune_handlers``
(``racer.measure.sweep``) and ``race_handlers`` (``racer.measure.baseline``); ``keeper`` holds every
session's memory within budget and ``startup`` loads and warms the model. The settings
controls are generated from the Settings schema (``controls``), and what an error tells
the person is decided in one place (``messages``).
"""
