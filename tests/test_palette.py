"""The palette stays readable under the common colour-vision deficiencies.

Each colour is simulated as a protanope, a deuteranope and a tritanope would see it
(Machado, Oliveira and Fernandes 2009, severity 1.0: a 3x3 matrix on linear RGB), and
every pair that must be told apart has to stay at least ``MIN_DELTA_E`` apart in
CIEDE2000 (about 2.3 is just noticeable; 10 reads as clearly different colours).
"""
from __future__ import annotations

import itertools
import math

import pytest

from racer import palette
from racer.engine import sources
from racer.drafting.registry import REGISTRY

MIN_DELTA_E = 10.0

MACHADO = {
    "normal": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.303900)),
}


def linear_rgb(hex_colour: str) -> tuple[float, float, float]:
    def decode(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return tuple(decode(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))


def simulate(hex_colour: str, kind: str) -> tuple[float, float, float]:
    rgb = linear_rgb(hex_colour)
    return tuple(min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb)))) for row in MACHADO[kind])


def lab(rgb) -> tuple[float, float, float]:
    """Linear sRGB -> CIELAB (D65)."""
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def ciede2000(lab1, lab2) -> float:
    """Sharma, Wu and Dalal's (2005) formulation."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(h_bar - 30)) + 0.24 * math.cos(math.radians(2 * h_bar))
         + 0.32 * math.cos(math.radians(3 * h_bar + 6)) - 0.20 * math.cos(math.radians(4 * h_bar - 63)))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_c = 2 * math.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25 ** 7))
    r_t = -math.sin(math.radians(60 * math.exp(-(((h_bar - 275) / 25) ** 2)))) * r_c
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def test_ciede2000_matches_a_published_pair():
    # Sharma et al.'s test data, pair 1: (50, 2.6772, -79.7751) vs (50, 0, -82.7485) -> 2.0425
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 0, 0), (50, -1, 2)) == pytest.approx(2.3669, abs=1e-4)  # pair 7


def closest_pair(colours: dict[str, str], kind: str) -> tuple[float, str, str]:
    return min((ciede2000(lab(simulate(colours[a], kind)), lab(simulate(colours[b], kind))), a, b)
               for a, b in itertools.combinations(colours, 2))


GROUPS = {
    "token sources (tree, text)": sources.COLOURS,
    "drafters (comparison, race)": {name: spec.colour for name, spec in REGISTRY.items()},
}


@pytest.mark.parametrize("kind", list(MACHADO))
@pytest.mark.parametrize("group", list(GROUPS))
def test_colours_stay_apart_under_colour_vision_deficiencies(group, kind):
    delta, a, b = closest_pair(GROUPS[group], kind)
    assert delta >= MIN_DELTA_E, f"{group}: {a} and {b} are only {delta:.1f} apart under {kind}"


def test_sources_stand_out_from_the_white_page():
    for kind in MACHADO:
        paper = lab(simulate(palette.PAPER, kind))
        for source, c in sources.COLOURS.items():
            assert ciede2000(lab(simulate(c, kind)), paper) >= 25, (source, kind)
