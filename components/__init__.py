"""Pieces of the RACER Explorer UI that are not layout.

Figure and HTML builders here are pure: step records and plain values in, a Plotly
figure or an HTML string out. ``session`` holds one browser session's run; it is the
only module here that drives the engine.
"""
