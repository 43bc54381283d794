"""`export=True`: the forward is first captured by torch.export, which refuses control flow on
tensor values that the meta trace could only guess. The rows come from the dispatch trace
either way (the same ATen ops, named by module path); what export adds is the guard: when it
fails on data-dependent control flow, the analysis says so, naming the module."""
from __future__ import annotations

import logging
import warnings

import torch
from torch import nn
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode


def export_failure(module: nn.Module, x: torch.Tensor) -> tuple[bool, str] | None:
    """None when torch.export captures module(x); else (data-dependent?, first line of why)."""
    quiet = logging.root.manager.disable
    logging.disable(logging.CRITICAL)     # export logs the failing graph: the reason suffices
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.export(module, (x,))
    except GuardOnDataDependentSymNode as err:
        return True, _first_line(err)
    except Exception as err:    # noqa: BLE001 - any failure to export is reported, not raised
        data = "data-dependent" in str(err) or "data dependent" in str(err)
        return data, _first_line(err)
    finally:
        logging.disable(quiet)
    return None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
