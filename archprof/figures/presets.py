"""Named selections for `archprof plot --preset` (no matplotlib here: the CLI imports this to
list the choices)."""
from __future__ import annotations

from typing import Any

# Canziani, Paszke, Culurciello 2017 (arXiv 1605.07678), Figures 1-2: their 14 networks.
CANZIANI = ("alexnet", "bn_alexnet", "bn_nin", "enet", "googlenet", "resnet18", "resnet34",
            "resnet50", "resnet101", "resnet152", "vgg16", "vgg19", "inception_v3",
            "inception_v4")
# What each preset selects and how it draws: Canziani's operations are G-FLOPs (2 per
# multiply-add) on a linear axis, as in their Figure 2.
PRESETS: dict[str, dict[str, Any]] = {
    "canziani": {"networks": CANZIANI, "ops": "flops", "log_ops": False},
}
