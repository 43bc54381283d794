"""The IR built as a real torch.nn.Module (network.py) from torch.nn and a few modules of ours
(modules.py)."""
from archprof.model.network import Network, build

__all__ = ["Network", "build"]
