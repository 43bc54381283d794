"""Producer 1 of the IR: YAML specs (load.py), their expressions (expr.py) and field values
(fields.py), expanded into a graph (expand.py) through a program replayed at other input sizes
(program.py); parses and default programs kept between processes (cache.py)."""
from archprof.spec.expand import expand
from archprof.spec.load import Spec, load_spec, registry, spec_dir

__all__ = ["Spec", "expand", "load_spec", "registry", "spec_dir"]
