"""What a command names, as a graph: a network of specs/ ('resnet50'), a spec file ('net.yaml',
'net.yaml:name'), or a torch module made by a callable: 'MODULE:CALLABLE' (an importable
module, e.g. 'mypkg.nets:build') or 'path/to/file.py:CALLABLE'. Parameters are the spec's
params, or the callable's keyword arguments. torch is imported only for a callable.

Everything a user can get wrong (no such module or callable, a callable that raises or returns
no nn.Module, a forward that needs more than one tensor, an input the model rejects) is a
SpecError naming what and where, printed by the CLI as one line.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archprof.errors import SpecError, did_you_mean
from archprof.ir.graph import Graph
from archprof.ir.ops import Shape, dims
from archprof.spec.expand import expand
from archprof.spec.load import load_spec

if TYPE_CHECKING:
    from torch import nn

DEFAULT_INPUT = (3, 224, 224)
# forward(x: dict) and the like: an argument that is not a tensor
NOT_TENSOR = re.compile(r"(typing\.)?(dict|list|tuple|str|int|float|bool|mapping|sequence)\b",
                        re.IGNORECASE)


def is_callable_ref(name: str) -> bool:
    """'MODULE:CALLABLE' or 'file.py:CALLABLE' (a spec's 'file.yaml:network' is not one)."""
    base, sep, attr = str(name).rpartition(":")
    return bool(sep and base and attr) and not base.endswith((".yaml", ".yml"))


def graph(name: str, params: dict[str, Any] | None = None, input: Shape | None = None,
          dtype: str = "float32") -> Graph:
    """The graph of a spec (expanded) or of the module a callable returns (traced)."""
    if not is_callable_ref(name):
        return expand(name, params, input)
    module = load_module(name, params)
    return trace_module(module, name, input or DEFAULT_INPUT, dtype=dtype)


@dataclass
class Network:
    """A network a command names, resolved: its graph (a spec expanded, or the callable's module
    traced) and how to build it for real, with weights, to run it (archprof.measure.bench)."""
    ref: str                   # as named: 'resnet50', 'net.yaml', 'mypkg.nets:build'
    params: dict[str, Any]     # the spec's overrides, or the callable's keyword arguments
    graph: Graph

    @property
    def name(self) -> str:
        """The spec's network name, or the callable's ref as given."""
        return self.graph.spec.name

    def build(self, device: Any = "cpu", dtype: str = "float32") -> nn.Module:
        """The module on `device` in `dtype`, eval mode: a spec's built from its graph
        (archprof.model), a callable's as the callable makes it (its own initialisation, on
        the CPU), then moved there."""
        if not is_callable_ref(self.ref):
            from archprof.model.network import build
            return build(self.graph, device=device, dtype=dtype)
        import torch
        module = load_module(self.ref, self.params, meta=False)
        return module.to(device=torch.device(device), dtype=getattr(torch, dtype)).eval()


def resolve(name: str, params: dict[str, Any] | None = None, input: Shape | None = None,
            dtype: str = "float32") -> Network:
    """`name` resolved once: `graph` at batch 1, and what `Network.build` needs."""
    return Network(name, dict(params or {}), graph(name, params, input, dtype=dtype))


def parameters(name: str) -> dict[str, Any]:
    """What --param can set: a spec's params, or the callable's keyword arguments (with their
    defaults; a required one as None)."""
    if not is_callable_ref(name):
        return load_spec(name).params
    target = _attribute(name)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return {}
    return {p.name: None if p.default is p.empty else p.default
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def load_module(ref: str, params: dict[str, Any] | None = None, meta: bool = True) -> nn.Module:
    """Call MODULE:CALLABLE with `params` as keyword arguments; its nn.Module, built on the meta
    device when it can be (no weights allocated) and `meta`, else on the CPU."""
    from torch import nn

    target = _attribute(ref)
    if isinstance(target, nn.Module):
        if params:
            raise SpecError(f"{ref} is a module, not a callable: it takes no --param")
        return target
    if not callable(target):
        raise SpecError(f"{ref} is a {type(target).__name__}, not a callable returning an "
                        "nn.Module")
    made = _call(ref, target, params or {}, meta)
    if not isinstance(made, nn.Module):
        raise SpecError(f"{ref} returned {type(made).__name__}, not a torch.nn.Module")
    return made


def trace_module(module: nn.Module, ref: str, input: Shape, dtype: str = "float32") -> Graph:
    """The module's graph (archprof.trace); a forward that cannot take one tensor of shape
    `input`, or that fails on it, is a SpecError naming the module path where it failed."""
    _check_forward(module, ref)
    from archprof.trace import trace

    with _where(module) as stack:
        try:
            return trace(module, input=input, dtype=dtype, name=ref)
        except SpecError as err:
            err.path = ref + (f", module {stack[-1]}" if stack and stack[-1] else "")
            raise err.located() from None
        except Exception as err:  # noqa: BLE001 - any failure of user code becomes one line
            at = f" in module {stack[-1]}" if stack and stack[-1] else ""
            raise SpecError(f"{ref}: the model rejects input {dims((1, *input))}{at}: "
                            f"{_one_line(err)}") from None


# --- importing and calling --------------------------------------------------------------------
def _attribute(ref: str) -> Any:
    base, _, attr = ref.rpartition(":")
    module = _import_file(base) if base.endswith(".py") or "/" in base else _import(base)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            raise SpecError(f"{base} has no attribute '{part}'", hint=did_you_mean(part, names))
        target = getattr(target, part)
    return target


def _import(name: str) -> Any:
    if os.getcwd() not in sys.path:      # as `python -m` does: the current folder's packages
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and (name == err.name or name.startswith(err.name + ".")):
            raise SpecError(f"unknown module '{name}' (no module named '{err.name}')") from None
        raise SpecError(f"importing {name} raised {_one_line(err)}") from None
    except Exception as err:  # noqa: BLE001
        raise SpecError(f"importing {name} raised {_one_line(err)}") from None


def _import_file(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"no file '{path}'")
    key = "archprof_user_" + re.sub(r"\W", "_", str(file.resolve()))
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, file)
    if spec is None or spec.loader is None:
        raise SpecError(f"cannot import '{path}' (not a Python file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module        # dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001
        del sys.modules[key]
        raise SpecError(f"importing {path} raised {_one_line(err)}") from None
    return module


def _call(ref: str, target: Callable[..., Any], params: dict[str, Any], meta: bool) -> Any:
    """On the meta device first when `meta` (nothing allocated); code that reads tensor values
    while it builds (`.item()`, `.tolist()`) cannot run there, so it runs again on the CPU."""
    import torch

    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    if meta:
        try:
            with torch.device("meta"):
                return target(**params)
        except Exception:  # noqa: BLE001 - retried on the CPU, where its own error is reported
            pass
    try:
        return target(**params)
    except Exception as err:  # noqa: BLE001
        raise SpecError(f"{ref}({args}) raised {_one_line(err)}") from None


def _check_forward(module: nn.Module, ref: str) -> None:
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return
    args = list(signature.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in args):
        return
    required = [p for p in args if p.default is p.empty
                and p.kind is not p.VAR_KEYWORD]
    where = f"{ref}: {type(module).__name__}.forward({', '.join(p.name for p in args)})"
    if len(required) > 1 or not args:
        raise SpecError(f"{where} needs {len(required)} arguments; archprof passes one input "
                        "tensor (wrap the model in a module whose forward takes one)")
    first = args[0]
    note = first.annotation if isinstance(first.annotation, str) else getattr(
        first.annotation, "__name__", "")
    if first.annotation is not first.empty and note and NOT_TENSOR.match(note):
        raise SpecError(f"{where} takes '{first.name}: {note}', not a tensor; archprof passes "
                        "one input tensor (wrap the model in a module whose forward takes one)")


@contextmanager
def _where(module: nn.Module) -> Iterator[list[str]]:
    """The paths of the modules running now (the last is the innermost), kept as they were
    when a forward raises."""
    from torch.nn.modules import module as torch_module

    names = {id(m): name for name, m in module.named_modules()}
    stack: list[str] = []

    def enter(m: nn.Module, args: Any) -> None:
        if id(m) in names:
            stack.append(names[id(m)])

    def leave(m: nn.Module, args: Any, out: Any) -> None:
        if id(m) in names and stack:
            stack.pop()

    handles = [torch_module.register_module_forward_pre_hook(enter),
               torch_module.register_module_forward_hook(leave)]
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return type(err).__name__ + (f": {text[0]}" if text else "")
