"""One colour per network, the same in every chart: a hue per architecture family, shades of it
per variant (dark to light along the family's order in specs/), as Canziani et al. 2017 did
("ResNets are all variations of pink")."""
from __future__ import annotations

import colorsys
import zlib
from functools import cache

import matplotlib.colors as mcolors

from archprof.errors import SpecError
from archprof.spec.load import registry

# Base colour per family (spec `family:`), chosen apart from each other; related families
# (the ResNet descendants) sit in neighbouring hues. Families not listed get a hashed hue.
FAMILY_COLORS = {
    "AlexNet": "#8c510a", "ZFNet": "#bf812d", "NIN": "#c7a000", "ENet": "#66a61e",
    "VGG": "#1f5fb4", "GoogLeNet": "#e08214", "Inception": "#d62728", "ResNet": "#e7298a",
    "Pre-activation ResNet": "#9e3c8f", "ResNet with stochastic depth": "#c994c7",
    "Wide ResNet": "#7a0177", "ResNeXt": "#fb6a4a", "SENet": "#99000d",
    "DenseNet": "#1b9e77", "MobileNet": "#17becf", "ShuffleNet": "#5e3c99",
    "SqueezeNet": "#8da0cb", "NASNet": "#252a6e", "LeNet": "#737373", "MNIST CNN": "#525252",
}
# Networks grouped with an architecture family other than their spec file's (Canziani's extras
# share a file, not an architecture).
FAMILY_OF = {"bn_alexnet": "AlexNet", "bn_nin": "NIN", "enet": "ENet"}
SHADE_SPAN = 0.36          # lightness from darkest to lightest variant of a family


@cache
def _members() -> dict[str, list[str]]:
    """family -> its networks in spec-file order."""
    try:
        specs = registry()
    except SpecError:
        return {}
    out: dict[str, list[str]] = {}
    for name, spec in specs.items():
        out.setdefault(FAMILY_OF.get(name, spec.family), []).append(name)
    return out


def family(network: str) -> str:
    """The network's architecture family; a network outside specs/ is its own family."""
    for fam, names in _members().items():
        if network in names:
            return fam
    return network


def family_color(fam: str) -> tuple[float, float, float]:
    if fam in FAMILY_COLORS:
        return mcolors.to_rgb(FAMILY_COLORS[fam])
    hue = (zlib.crc32(fam.encode()) % 1000) / 1000
    return colorsys.hls_to_rgb(hue, 0.45, 0.65)


def network_color(network: str) -> tuple[float, float, float]:
    fam = family(network)
    names = _members().get(fam, [network])
    h, lightness, s = colorsys.rgb_to_hls(*family_color(fam))
    if len(names) > 1:
        t = names.index(network) / (len(names) - 1)
        lightness = min(0.82, max(0.18, lightness + SHADE_SPAN * (t - 0.5)))
    r, g, b = colorsys.hls_to_rgb(h, lightness, s)
    return float(r), float(g), float(b)
