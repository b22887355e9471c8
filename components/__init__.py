"""Pieces of the RACER Explorer UI that are not layout.

Figure and HTML builders here are pure: step records and plain values in, a Plotly
figure or an HTML string out. ``session`` holds one browser session's run and
``tune_handlers`` runs tuning sweeps (``racer.sweep``); they are the only modules here
that drive the engine.
"""
