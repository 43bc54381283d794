"""The IR instantiated as a real torch.nn.Module, with the spec's hierarchical names."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archprof.errors import SpecError
from archprof.ir.graph import INPUT, Graph, Node
from archprof.model import modules
from archprof.spec.expand import expand
from archprof.spec.load import Spec


def _module(node: Node) -> nn.Module:
    name, kwargs = node.op.module(node.ins, node.out, node.inplace)
    cls = getattr(modules, name, None) or getattr(nn, name)
    return cls(**kwargs)


class Network(nn.Module):
    """Runs the graph's ops in spec order; each tensor is dropped after its last reader, so
    memory use follows the static peak estimate."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        self._steps: list[tuple[nn.Module, str, list[str], list[str]]] = []
        last_read: dict[str, int] = {}
        for t, node in enumerate(graph.nodes):
            for name in node.inputs:
                last_read[name] = t
        for t, node in enumerate(graph.nodes):
            module = _module(node)
            *parents, leaf = node.name.split(".")
            container: nn.Module = self
            for part in parents:
                if part not in container._modules:
                    _check_name(container, part, node, graph)
                    container.add_module(part, nn.Module())
                container = getattr(container, part)
            _check_name(container, leaf, node, graph)
            container.add_module(leaf, module)
            done = [n for n in dict.fromkeys(node.inputs) if last_read[n] == t]
            self._steps.append((module, node.name, node.inputs, done))
        self._outputs = graph.outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The class scores; with auxiliary heads, a tuple (scores, aux1, aux2, ...)."""
        values = {INPUT: x}
        for module, name, inputs, done in self._steps:
            out = module(*(values[i] for i in inputs))
            for i in done:
                del values[i]
            values[name] = out
        outputs = tuple(values[name] for name in self._outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def _check_name(container: nn.Module, name: str, node: Node, graph: Graph) -> None:
    """A torch module cannot hold a submodule named like one of its attributes (`half`,
    `forward`, `training`, `graph`): say which row to rename instead of torch's KeyError."""
    if hasattr(container, name) and name not in container._modules:
        raise SpecError(f"the name '{name}' is taken by torch.nn.Module (an attribute of every "
                        "module): rename the row to build the model", path=node.name,
                        line=node.line, file=getattr(graph.spec, "file", None) or None)


def build(spec: Spec | str | Graph, device: str | torch.device | None = None,
          dtype: torch.dtype | str | None = None, params: dict[str, Any] | None = None,
          input: tuple[int, ...] | None = None) -> Network:
    """The spec as a torch module in eval mode. device='meta' allocates nothing."""
    graph = spec if isinstance(spec, Graph) else expand(spec, params, input)
    with torch.device(device or "cpu"):
        model = Network(graph)
    if dtype is not None:
        model = model.to(dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    return model.eval()
