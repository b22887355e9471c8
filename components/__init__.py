"""Pieces of the RACER Explorer UI that are not layout.

Figure and HTML builders here are pure: step records and plain values in, a Plotly
figure or an HTML string out. ``session`` holds one browser session's run,
``compare_handlers`` runs the comparison (``racer.compare``) and ``tune_handlers`` runs
tuning sweeps (``racer.sweep``); they are the only modules here that drive the engine.
The settings controls are generated from the Settings schema (``controls``), and what
an error tells the person is decided in one place (``messages``).
"""
