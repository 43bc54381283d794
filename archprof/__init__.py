"""archprof: analyse and profile convolutional network architectures from declarative specs.

    import archprof
    spec = archprof.load_spec("vgg16")
    a = archprof.analyze(spec)            # a.layers (DataFrame), a.totals (dict)
    model = archprof.build(spec, device="meta")
    df = archprof.sweep("mobilenet_v1", {"alpha": [1.0, 0.5]})   # one row per variant

1 MAC = one multiply-accumulate; see archprof.analysis for every definition.
"""
from archprof.analysis import Analysis, analyze
from archprof.errors import SpecError
from archprof.spec.expand import expand
from archprof.spec.load import load_spec, registry

__version__ = "0.1.0"     # the one place: pyproject.toml reads it from here
__all__ = ["Analysis", "SpecError", "__version__", "analyze", "build", "expand", "load_spec",
           "registry", "sweep"]


def build(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - imports torch only when called
    """archprof.model.build: the spec as a torch.nn.Module (see there)."""
    from archprof.model.network import build as _build
    return _build(*args, **kwargs)


def sweep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - imports pandas only when called
    """archprof.zoo.sweep: one row per combination of parameter values (see there)."""
    from archprof.zoo import sweep as _sweep
    return _sweep(*args, **kwargs)
