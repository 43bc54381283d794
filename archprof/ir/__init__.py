"""The intermediate representation: op rules (ops.py) and the graph of named ops (graph.py)."""
