"""archprof's static training cost against PyTorch's own tools, for every network in specs/.

1. Backward MACs against FlopCounterMode (meta device, one forward + backward at batch 1):
   its backward FLOPs / 2. Networks with grouped or depthwise convolutions differ because
   FlopCounterMode's conv-backward formula ignores `groups` for the weight gradient (archprof's
   figure is the hand formula, see README.md); the column says which networks have them.
2. The peak memory of one steady-state training step (optimizer state already allocated,
   loss = cross_entropy summed over the outputs, foreach optimizers as on GPUs) against
   torch.distributed._tools.mem_tracker.MemTracker run on the built model under
   FakeTensorMode, at batch 1 and 32, with momentum SGD and with Adam; error in %.

Run: python benchmarks/train_memory.py [NAME ...] [--macs-only | --memory-only]   (about a minute per network
on a 2-core CPU: MemTracker dispatches every op of 6 fake training steps)
"""
from __future__ import annotations

import sys
import time

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.training import plan

BATCHES = (1, 32)
OPTIMIZERS = ("momentum", "adam")


def flop_counter_backward_macs(name: str) -> int:
    """Per image, from a batch of 2 (BatchNorm1d cannot train on one sample)."""
    model = archprof.build(name, device="meta").train()
    with FlopCounterMode(display=False) as counter:
        out = model(torch.empty(2, *model.graph.input, device="meta"))
        forward = counter.get_total_flops()
        outs = out if isinstance(out, tuple) else (out,)
        sum(o.sum() for o in outs).backward()
    return (counter.get_total_flops() - forward) // 4


def memtracker_peaks(name: str) -> dict[tuple[str, int], int | None]:
    """(optimizer, batch) -> MemTracker's peak bytes of a steady-state step; None where torch
    cannot train at that batch (BatchNorm1d on one sample)."""
    peaks: dict[tuple[str, int], int | None] = {}
    with FakeTensorMode():
        model = archprof.build(name).train()
        for optimizer in OPTIMIZERS:
            opt = (torch.optim.Adam(model.parameters(), foreach=True) if optimizer == "adam"
                   else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=True))
            for i, batch in enumerate((2, *BATCHES)):
                x = torch.randn(batch, *model.graph.input)
                y = torch.randint(0, 10, (batch,))
                tracker = MemTracker()
                tracker.track_external(model, opt, x, y)
                try:
                    with tracker:
                        opt.zero_grad()
                        out = model(x)
                        outs = out if isinstance(out, tuple) else (out,)
                        torch.stack([nn.functional.cross_entropy(o, y) for o in outs]).sum(
                        ).backward()
                        opt.step()
                except ValueError:      # "Expected more than 1 value per channel"
                    peaks[optimizer, batch] = None
                    continue
                if i:       # the first step allocated the optimizer state
                    peaks[optimizer, batch] = next(iter(
                        tracker.get_tracker_snapshot("peak").values()))["Total"]
            del opt
    return peaks


def main(args: list[str]) -> None:
    macs_only, memory_only = "--macs-only" in args, "--memory-only" in args
    names = [a for a in args if not a.startswith("--")] or sorted(archprof.registry())
    if not memory_only:
        backward_macs(names)
    if not macs_only:
        peak_memory(names)


def backward_macs(names: list[str]) -> None:
    print("backward MACs: archprof vs FlopCounterMode (batch 1)")
    print(f"{'network':<28} {'grouped':>7} {'archprof':>16} {'FlopCounterMode':>16} {'ratio':>7}")
    for name in names:
        graph = archprof.expand(name)
        grouped = any(n.op.kind == "conv" and getattr(n.op, "g", 1) > 1 for n in graph.nodes)
        ours = archprof.analyze(graph, train=True).totals["backward_macs"]
        theirs = flop_counter_backward_macs(name)
        print(f"{name:<28} {'yes' if grouped else 'no':>7} {ours:>16,} {theirs:>16,} "
              f"{theirs / ours:>7.3f}", flush=True)


def peak_memory(names: list[str]) -> None:
    print("\ntraining step peak: archprof vs MemTracker under FakeTensorMode")
    print(f"{'network':<28} {'optimizer':>9} {'batch':>5} {'archprof MiB':>13} "
          f"{'MemTracker MiB':>15} {'error %':>8}")
    errors = []
    for name in names:
        start = time.perf_counter()
        peaks = memtracker_peaks(name)
        graph = archprof.expand(name)
        for optimizer in OPTIMIZERS:
            steps = plan(graph, optimizer=optimizer)
            for batch in BATCHES:
                ours, theirs = steps.peak(batch)[0], peaks[optimizer, batch]
                if theirs is None:
                    print(f"{name:<28} {optimizer:>9} {batch:>5} {ours / 2**20:>13.1f} "
                          f"{'n/a (BatchNorm1d needs 2 samples to train)':>24}")
                    continue
                errors.append(100 * (ours / theirs - 1))
                print(f"{name:<28} {optimizer:>9} {batch:>5} {ours / 2**20:>13.1f} "
                      f"{theirs / 2**20:>15.1f} {errors[-1]:>+8.2f}", flush=True)
        print(f"# {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    within = sum(abs(e) <= 10 for e in errors)
    print(f"\n{within} of {len(errors)} within 10 %; largest error {max(errors, key=abs):+.2f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
