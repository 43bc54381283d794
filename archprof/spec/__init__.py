"""Producer 1 of the IR: YAML specs (load.py; their parse kept between processes: cache.py),
their expressions (expr.py) and field values (fields.py), expanded into a graph (expand.py)."""
from archprof.spec.expand import expand
from archprof.spec.load import Spec, load_spec, registry, spec_dir

__all__ = ["Spec", "expand", "load_spec", "registry", "spec_dir"]
