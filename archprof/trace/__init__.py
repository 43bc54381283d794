"""Producer 2 of the IR: any torch.nn.Module -> the Graph that specs expand into.

    graph = trace(torchvision.models.resnet50(), (3, 224, 224))
    archprof.analyze(graph)          # or archprof.analyze(module, input=...)

No weights are touched or allocated: the forward runs on meta stand-ins of the parameters
(archprof.trace.dispatch); `export=True` records the graph torch.export captures instead
(archprof.trace.export), guarded against data-dependent control flow.
"""
from archprof.trace.dispatch import DynamicControlFlow
from archprof.trace.graph import trace

__all__ = ["DynamicControlFlow", "trace"]
